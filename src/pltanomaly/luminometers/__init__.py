"""The luminometers family: cross-checks of CMS luminometers against each other, fill by fill.

PLT channels compared with each other cannot see a fault that moves the whole detector; the
other luminometers (HFOC, HFET, BCM1F, PCC, DT, RAMSES) can. This family reads brilcalc per-LS
CSV files (:mod:`.brilcalc`), compares each luminometer per lumisection (LS) with the consensus
of the others and names the one that is off (:mod:`.crosscheck`), writes
``results/{year}/lumi/{fill}.json``, reads the experts' fill-validation log
(:mod:`.validation_log`) and scores results, and the public ratio-window rule, against it
(:mod:`.evaluate`). Luminometer names are defined once, in :mod:`.names`.
"""
