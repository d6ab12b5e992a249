"""The workflow config's dt block in the one schema; a config with only dt."""

from __future__ import annotations

import copy

import pytest

from pltanomaly.chambers.source import dqm_source
from pltanomaly.channels.years import year_configs
from pltanomaly.core.config import ConfigError, validate_config

DT_ONLY = {
    "results": "results",
    "dt": {
        "dqmgui": "https://cmsweb.cern.ch",
        "runs": [355100, "355200-355202", " 355300 "],
        "cert": "/c.pem",
        "key": "/k.pem",
    },
}


def test_a_config_with_only_dt() -> None:
    config = validate_config(copy.deepcopy(DT_ONLY))
    assert config["dt"]["detector"] == {}
    assert year_configs(config) == {}
    assert dqm_source(config).runs == (355100, 355200, 355201, 355202, 355300)


def test_dt_beside_years() -> None:
    config = copy.deepcopy(DT_ONLY) | {"years": {2022: {"source": "data/22"}}}
    assert list(year_configs(validate_config(config))) == [2022]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda dt: dt.pop("runs"), "'runs' is a required property"),
        (lambda dt: dt.update(runs=[]), "should be non-empty"),
        (lambda dt: dt.update(runs=["355100-"]), "dt.runs[0]"),
        (lambda dt: dt.update(runs=[0]), "dt.runs[0]"),
        (lambda dt: dt.update(dqmgui="ftp://host"), "dt.dqmgui"),
        (lambda dt: dt.update(password="x"), "'password' was unexpected"),
        (lambda dt: dt.update(detector=[1]), "dt.detector"),
    ],
)
def test_bad_dt_blocks_say_where(change, message) -> None:
    config = copy.deepcopy(DT_ONLY)
    change(config["dt"])
    with pytest.raises(ConfigError) as info:
        validate_config(config)
    assert message in str(info.value)


def test_neither_family() -> None:
    with pytest.raises(ConfigError, match="give 'years'"):
        validate_config({"results": "results"})
