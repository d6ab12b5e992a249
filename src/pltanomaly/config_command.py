"""``pltanomaly config FILE``: the one check of a workflow config, for every family.

The schema first (:func:`pltanomaly.core.config.validate_config`), then each family's part:
the PLT years and the fills of their sources (:mod:`pltanomaly.channels.years`), the
luminometer cross-check's brilcalc files, fills and settings
(:mod:`pltanomaly.luminometers.sources`) and the DT runs to fetch
(:mod:`pltanomaly.chambers.source`), each listed as the workflow would process it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pltanomaly.channels.years import discover, load_years
from pltanomaly.core.config import mount_at, prepare_sources, read_config


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "config", help="check a workflow config file and list the fills it would process"
    )
    parser.add_argument("configfile", type=Path, help="YAML config (e.g. config/config.yaml)")
    parser.add_argument("--mount", action="store_true", help="mount sshfs sources first")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    from pltanomaly.chambers.source import dqm_source
    from pltanomaly.luminometers.sources import (
        brilcalc_fills,
        brilcalc_years,
        crosscheck_settings,
    )

    config = read_config(args.configfile)
    years = load_years(config)
    if args.mount:
        for message in prepare_sources(years):
            print(message)
    for year, year_cfg in years.items():
        if year_cfg.sshfs and mount_at(year_cfg.sshfs.mountpoint) is None:
            print(f"{year}: {year_cfg.sshfs.target} (not mounted; use --mount)")
            continue
        fills, excluded = discover(year_cfg)
        n_files = sum(len(files) for files in fills.values())
        print(
            f"{year}: {len(fills)} fills, {n_files} files in {year_cfg.source}"
            + (f" ({len(excluded)} excluded)" if excluded else "")
        )
    for year, paths in brilcalc_years(config).items():
        crosscheck_settings(config, year)
        listed = brilcalc_fills(paths, cache=None)
        print(f"{year}: {len(listed)} fills in {len(paths)} brilcalc file(s) (luminometers)")
    if config.get("dt"):
        source = dqm_source(config)
        print(f"dt: {len(source.runs)} runs from {source.base_url}")
    return 0
