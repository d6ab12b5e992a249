"""Workflow wrapper: one fill's whole job (pltanomaly.channels.fill_job), run by the rule's shell
command. It ends with ``os._exit`` once every file is written and closed: the interpreter's
teardown (numba, LLVM, pandas) costs ~0.25 s and nothing of it is needed."""

import logging
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from pltanomaly.channels.fill_job import main

code = main(sys.argv[1:])
logging.shutdown()
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)
