"""Fill plots: written atomically as PNG, for anomalous, clean and degenerate fills."""

from __future__ import annotations

import argparse
import json

import matplotlib.image as mpimg
import numpy as np
from test_detect_data import DEAD, YEAR, anomaly_fill, clean_fill

from pltanomaly.channels import plot
from pltanomaly.channels.detect import detect_fill
from pltanomaly.channels.events import format_magnitude

PNG = b"\x89PNG\r\n\x1a\n"


def _assert_png(path, min_height=300):
    assert path.read_bytes()[:8] == PNG
    image = mpimg.imread(path)
    assert image.shape[0] >= min_height and image.shape[1] >= 800
    assert np.std(image[..., :3]) > 0.05  # something is drawn
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left


def test_plot_anomalous_fill(tmp_path):
    fill = anomaly_fill()
    result = detect_fill(fill.series, fill=fill.fill, year=YEAR, dead_channels=DEAD)
    out = plot.plot_fill(fill.series, result, tmp_path / "plots" / f"{fill.fill}.png", year=YEAR)
    n_anomalous = sum(v["status"] == "anomalous" for v in result["channels"].values())
    assert n_anomalous == len(fill.events)
    # one panel per anomalous channel (up to MAX_CHANNEL_PANELS) below the two overviews
    _assert_png(out, min_height=100 * (4 + min(n_anomalous, plot.MAX_CHANNEL_PANELS)))


def test_plot_clean_and_all_dead_fills(tmp_path):
    fill = clean_fill(1.0)
    result = detect_fill(fill.series, fill=fill.fill, year=YEAR, dead_channels=DEAD)
    _assert_png(plot.plot_fill(fill.series, result, tmp_path / "a" / "clean.png", year=YEAR))
    dead = fill.series.assign(rate=0.0, stuck=True)
    result = detect_fill(dead, fill=fill.fill, year=YEAR)
    out = plot.plot_fill(dead, result, tmp_path / "b" / "dead.png", year=YEAR)
    assert out.read_bytes()[:8] == PNG


def test_plot_cli(tmp_path, capsys):
    fill = anomaly_fill()
    result = detect_fill(fill.series, fill=fill.fill, year=YEAR, dead_channels=DEAD)
    result_path = tmp_path / "r.json"
    result_path.write_text(json.dumps(result))
    parser = argparse.ArgumentParser()
    plot.register(parser.add_subparsers())
    out = tmp_path / "p" / "fill.png"
    args = parser.parse_args(["plot", str(fill.path), str(result_path), str(out)])
    assert args.func(args) == 0
    _assert_png(out)
    args = parser.parse_args(
        ["plot", str(tmp_path / "missing.parquet"), str(result_path), str(out)]
    )
    assert args.func(args) == 2
    assert "pltanomaly plot" in capsys.readouterr().out


def test_magnitude_labels():
    assert format_magnitude({"magnitude": -0.05, "unit": "relative"}) == "-5.0%"
    assert format_magnitude({"magnitude": 0.031, "unit": "relative per hour"}) == "+3.1%/h"
    assert format_magnitude({"magnitude": 3.0, "unit": "factor"}) == "x3.0"
    assert format_magnitude({"magnitude": 15.2, "unit": "seconds"}) == "15s"
