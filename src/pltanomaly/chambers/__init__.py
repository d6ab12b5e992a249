"""The DT chambers family: per run, the occupancy of every layer of the 250 muon drift-tube
chambers, fetched from the DQM GUI and judged layer by layer."""
