"""Facts of the PLT data every part shares (reader, generator, detector, report): a module
with no imports, so the light steps need not load the HDF5 reader for them."""

N_BX = 3564
"""Bunch-crossing slots in one LHC orbit."""
ORBITS_PER_NB4 = 16384
"""Orbits in one NB4 (4 lumi nibbles, 1.4576 s)."""
NB4_SECONDS = 1.4576
"""Length of one NB4 (bril-data.md)."""
N_CHANNELS = 16
"""PLT channels 0-15 (0-7 on the -z side, 8-15 on +z)."""
