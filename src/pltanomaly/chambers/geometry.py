"""DT geometry: the 250 chambers, their layers and wires per layer (see dt-occupancy.md).

A chamber is wheel -2..2 x station 1..4 x sector 1..12, plus sectors 13 and 14 of station 4.
Its occupancy histogram has 12 y bins, layers "SL1: L1" .. "SL3: L4" (numbered 1..12 here,
as in the results contract); station 4 (MB4) has no SL2, so its layers 5..8 do not exist.
Wire counts follow the CMSSW geometry as documented; staggered neighbouring layers differ by
about one wire. The exact count of a real chamber comes from its histogram (cells of -1 do
not exist), so these counts serve the generator and the GUI's shape, never the detector.
"""

from __future__ import annotations

from typing import NamedTuple

WHEELS = (-2, -1, 0, 1, 2)
STATIONS = (1, 2, 3, 4)
N_LAYERS = 12
LAYERS_PER_SUPERLAYER = 4
LAYER_LABELS = tuple(f"SL{sl}: L{layer}" for sl in (1, 2, 3) for layer in (1, 2, 3, 4))
"""The histogram's y-bin labels, layer 1 .. 12."""

THETA_SUPERLAYER = 2
MB4_SMALL_SECTORS = (4, 10, 13, 14)
"""MB4 sectors split in two chambers (top and bottom), with shorter phi layers."""
MB4_FEET_SECTORS = (9, 11)
"""MB4 sectors beside the detector's feet, with about half the phi wires."""
CHIMNEY_CHAMBERS = ((-1, 3, 4), (1, 3, 4))
"""(wheel, station, sector) of the MB3 chambers shortened by the cable chimneys."""


class Chamber(NamedTuple):
    wheel: int
    station: int
    sector: int

    @property
    def key(self) -> str:
        """``W{wheel}_St{station}_Sec{sector}``, the results contract's chamber key."""
        return f"W{self.wheel}_St{self.station}_Sec{self.sector}"

    @property
    def layers(self) -> tuple[int, ...]:
        """The layers (1..12) that exist: MB4 has no theta superlayer."""
        return existing_layers(self.station)


def sectors(station: int) -> tuple[int, ...]:
    return tuple(range(1, 15 if station == 4 else 13))


CHAMBERS: tuple[Chamber, ...] = tuple(
    Chamber(wheel, station, sector)
    for wheel in WHEELS
    for station in STATIONS
    for sector in sectors(station)
)
"""All 250 chambers, by wheel, station, sector."""


def chamber_from_key(key: str) -> Chamber:
    """The chamber of a ``W{w}_St{st}_Sec{s}`` key; ``ValueError`` if it names none."""
    try:
        wheel_part, station_part, sector_part = key.split("_")
        chamber = Chamber(
            int(wheel_part.removeprefix("W")),
            int(station_part.removeprefix("St")),
            int(sector_part.removeprefix("Sec")),
        )
    except ValueError:
        raise ValueError(f"not a DT chamber key: {key!r}") from None
    if chamber not in _CHAMBER_SET:
        raise ValueError(f"no DT chamber {key!r}")
    return chamber


_CHAMBER_SET = frozenset(CHAMBERS)


def superlayer(layer: int) -> int:
    """The superlayer (1..3) of a layer (1..12)."""
    return (layer - 1) // LAYERS_PER_SUPERLAYER + 1


def existing_layers(station: int) -> tuple[int, ...]:
    return tuple(
        layer
        for layer in range(1, N_LAYERS + 1)
        if not (station == 4 and superlayer(layer) == THETA_SUPERLAYER)
    )


def phi_wires(chamber: Chamber) -> int:
    """The longer phi layers' wire count (the staggered ones have one wire fewer)."""
    wheel, station, sector = chamber
    if station == 1:
        return 50
    if station == 2:
        return 60
    if station == 3:
        return 48 if (wheel, station, sector) in CHIMNEY_CHAMBERS else 72
    if sector in MB4_FEET_SECTORS:
        return 48
    return 92 if sector in MB4_SMALL_SECTORS else 96


THETA_WIRES = 58


def wires(chamber: Chamber, layer: int) -> int:
    """Wires of a layer: alternate layers of a superlayer are one wire shorter (staggering);
    0 for a layer that does not exist."""
    if layer not in chamber.layers:
        return 0
    longest = THETA_WIRES if superlayer(layer) == THETA_SUPERLAYER else phi_wires(chamber)
    return longest - (1 if layer % 2 == 0 else 0)


def max_wires(chamber: Chamber) -> int:
    """The histogram's x bins: the chamber's longest layer."""
    return max(wires(chamber, layer) for layer in chamber.layers)


def dqm_path(run: int, chamber: Chamber) -> str:
    """The DQM GUI's JSON path of a chamber's occupancy in a run (without the base URL)."""
    wheel, station, sector = chamber
    return (
        f"/dqm/online/jsonfairy/archive/{run}/Global/Online/ALL/DT/01-Digi/"
        f"Wheel{wheel}/Sector{sector}/Station{station}/"
        f"OccupancyAllHits_perCh_W{wheel}_St{station}_Sec{sector}"
    )
