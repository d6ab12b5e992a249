"""The config's ``dt`` block: GUI URL, runs and ranges, certificate, no passwords."""

from __future__ import annotations

from pathlib import Path

import pytest

from pltanomaly.chambers.source import DqmSource, dqm_source, parse_runs
from pltanomaly.core.errors import InputError

HTTPS = {"dqmgui": "https://cmsweb.cern.ch", "cert": "/c.pem", "key": "/k.pem"}


def test_a_full_block() -> None:
    source = dqm_source({"dt": {**HTTPS, "runs": [355100, "355200-355203", 355100]}})
    assert source == DqmSource(
        "https://cmsweb.cern.ch",
        (355100, 355200, 355201, 355202, 355203),
        Path("/c.pem"),
        Path("/k.pem"),
    )


def test_plain_http_needs_no_certificate() -> None:
    source = dqm_source({"dt": {"dqmgui": "http://127.0.0.1:8060/", "runs": ["7"]}})
    assert source.base_url == "http://127.0.0.1:8060" and source.cert is None
    assert source.runs == (7,)


def test_paths_expand_the_home_folder() -> None:
    source = dqm_source({"dt": {**HTTPS, "cert": "~/.globus/usercert.pem", "runs": [1]}})
    assert source.cert == Path.home() / ".globus" / "usercert.pem"


@pytest.mark.parametrize(
    ("items", "runs"),
    [
        ([5], (5,)),
        (["5 - 7"], (5, 6, 7)),
        (["9-9", 3], (3, 9)),
    ],
)
def test_runs_and_ranges(items: list, runs: tuple) -> None:
    assert parse_runs(items) == runs


@pytest.mark.parametrize(
    "items",
    [[], ["7-5"], [0], [-3], ["a-b"], [3.5], [True], ["1-200000"], [None], ["5-"]],
)
def test_bad_runs(items: list) -> None:
    with pytest.raises(InputError, match="runs"):
        parse_runs(items)


@pytest.mark.parametrize(
    ("block", "what"),
    [
        ({"dqmgui": "https://cmsweb.cern.ch", "runs": [1]}, "cert"),
        ({**HTTPS, "key": None, "runs": [1]}, "both"),
        ({"dqmgui": "http://h", "key": "/k", "runs": [1]}, "both"),
        ({"dqmgui": "ftp://h", "runs": [1]}, "URL"),
        ({"dqmgui": "cmsweb.cern.ch", "runs": [1]}, "URL"),
        ({"dqmgui": "https://me:secret@h", "runs": [1]}, "password"),
        ({"dqmgui": "http://h", "runs": 5}, "list"),
        ({"dqmgui": "http://h"}, "required"),
        ({"dqmgui": "http://h", "runs": [1], "proxy": "x"}, "unknown"),
        ({**HTTPS, "runs": [1], "cert": 3}, "file path"),
    ],
)
def test_bad_blocks(block: dict, what: str) -> None:
    with pytest.raises(InputError, match=what):
        dqm_source({"dt": block})


@pytest.mark.parametrize("name", ["password", "key_password", "Passphrase", "passwd", "token"])
def test_password_like_keys_are_rejected(name: str) -> None:
    with pytest.raises(InputError, match="no passwords"):
        dqm_source({"dt": {**HTTPS, "runs": [1], name: "hunter2"}})


def test_a_nested_password_is_rejected() -> None:
    with pytest.raises(InputError, match=r"dt\.cert\.password"):
        dqm_source({"dt": {**HTTPS, "runs": [1], "cert": {"password": "x"}}})


def test_a_missing_block() -> None:
    with pytest.raises(InputError, match="dt"):
        dqm_source({"plt": {}})
