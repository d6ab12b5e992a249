"""Facts of the PLT data every part shares (reader, generator, detector, report): a light
module, so the light steps need not load the HDF5 reader for them."""

from pltanomaly.core.bril import N_BX as N_BX  # the BRIL files' facts, re-exported
from pltanomaly.core.bril import NB4_SECONDS as NB4_SECONDS

ORBITS_PER_NB4 = 16384
"""Orbits in one NB4 (4 lumi nibbles, 1.4576 s)."""
N_CHANNELS = 16
"""PLT channels 0-15 (0-7 on the -z side, 8-15 on +z)."""
