"""The command line: help without importing the commands, each command's own parser."""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys

import pytest

from pltanomaly.cli import COMMANDS, build_parser, main
from pltanomaly.core.errors import InputError


def test_help_lists_every_command_and_imports_none_of_them():
    code = (
        "import contextlib, io, json, sys\n"
        "from pltanomaly.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
        "print(json.dumps({'help': out.getvalue(), 'modules': sorted(sys.modules)}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    for name in COMMANDS:
        assert f"    {name}" in found["help"]
    heavy = {module for module, _ in COMMANDS.values()} | {"numba", "pandas", "matplotlib"}
    assert heavy.isdisjoint(found["modules"])


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_command_module_registers_its_command_with_the_listed_help(name):
    module_name, summary = COMMANDS[name]
    parser = argparse.ArgumentParser()
    subparsers = parser.add_subparsers(dest="command")
    importlib.import_module(module_name).register(subparsers)
    assert list(subparsers.choices) == [name]
    assert [action.help for action in subparsers._choices_actions] == [summary]


def test_a_command_gets_its_full_arguments_only_when_it_runs(capsys, tmp_path):
    full = build_parser(["convert"])
    args = full.parse_args(["convert", "in", "out.parquet", "--counts", "zeros"])
    assert args.counts == "zeros" and callable(args.func)
    with pytest.raises(SystemExit):  # listed only: its arguments are unknown
        build_parser([]).parse_args(["convert", "in", "out.parquet"])
    command = ["convert", str(tmp_path / "none"), str(tmp_path / "x.parquet")]
    assert main(command) == 2
    assert "fill folder does not exist" in capsys.readouterr().err
    with pytest.raises(InputError):  # found behind the global option -v: the traceback
        main(["-v", *command])
