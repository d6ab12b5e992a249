"""Which PLT channels explain a PLT event of the cross-check (hand-made results)."""

from __future__ import annotations

from pltanomaly.luminometers.plt_channels import explain_with_channels, overlapping_channels


def _lumi(magnitude: float, start: float = 1000.0, end: float = 2000.0) -> dict:
    event = {"type": "dip", "start": start, "end": end, "magnitude": magnitude}
    return {"luminometers": {"pltzero": {"status": "anomalous", "events": [event]}}}


def _channels(**events) -> dict:
    channels = {str(c): {"status": "normal", "events": []} for c in range(16)}
    for key, found in events.items():
        channels[key.removeprefix("c")] = {"status": "anomalous", "events": found}
    channels["6"] = {"status": "dead", "events": [{"type": "gap", "start": 0, "end": 9e9}]}
    return {"channels": channels}


def test_a_channel_dropping_inside_a_plt_dip_explains_it():
    drop = {"type": "step", "start": 1500.0, "end": 4000.0, "magnitude": -0.3, "unit": "relative"}
    result = explain_with_channels(_lumi(-0.02), _channels(c3=[drop]))
    event = result["luminometers"]["pltzero"]["events"][0]
    assert event["explained_by_channels"] is True
    assert [c["channel"] for c in event["channels"]] == [3]
    assert result["luminometers"]["pltzero"]["channels_checked"] is True


def test_channels_moving_the_other_way_or_elsewhere_or_dead_do_not():
    up = {"type": "step", "start": 1500.0, "end": 4000.0, "magnitude": 0.3, "unit": "relative"}
    later = {"type": "dropout", "start": 5000.0, "end": 5100.0, "magnitude": 60, "unit": "seconds"}
    assert (
        overlapping_channels(
            _lumi(-0.02)["luminometers"]["pltzero"]["events"][0], _channels(c3=[up], c4=[later])
        )
        == []
    )
    result = explain_with_channels(_lumi(-0.02), _channels(c3=[up], c4=[later]))
    assert result["luminometers"]["pltzero"]["events"][0]["explained_by_channels"] is False


def test_a_spike_is_explained_by_a_channel_spike_and_a_dropout_only_explains_losses():
    spike = {"type": "spike", "start": 1990.0, "end": 2010.0, "magnitude": 3.0, "unit": "factor"}
    dropout = {
        "type": "dropout",
        "start": 1200.0,
        "end": 1300.0,
        "magnitude": 30,
        "unit": "seconds",
    }
    found = overlapping_channels(
        _lumi(0.05)["luminometers"]["pltzero"]["events"][0], _channels(c1=[spike], c2=[dropout])
    )
    assert [c["channel"] for c in found] == [1]


def test_without_a_channel_result_nothing_is_said():
    result = explain_with_channels(_lumi(-0.02), None)
    assert "channels_checked" not in result["luminometers"]["pltzero"]
    assert "explained_by_channels" not in result["luminometers"]["pltzero"]["events"][0]
