# The two set-up commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DATA ?= demo-data
DEMO_YEAR ?= 2022
CORES ?= 2

.PHONY: demo test env system-deps lint benchmarks evaluation clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

env: $(VENV)/.installed

system-deps:
	bash scripts/install-system-deps.sh

$(DEMO_DATA)/.generated: | env
	$(BIN)/pltanomaly generate $(DEMO_DATA) --year $(DEMO_YEAR) --fills 4 --hours 2 --seed $(DEMO_YEAR)
	touch $@

## demo: environment, a few generated demo fills, and the main job on them
demo: env $(DEMO_DATA)/.generated
	$(BIN)/snakemake --cores $(CORES)

## test: the whole test suite (exit 5, no test collected, is not a failure)
test: env system-deps
	$(BIN)/python -m pytest || [ $$? -eq 5 ]

lint: env $(DEMO_DATA)/.generated
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile workflow
	$(BIN)/snakemake --lint --cores 1

## benchmarks: speed, memory and the calibration's learning curve, each beside its reference
benchmarks: env
	$(BIN)/python benchmarks/convert.py --hours 1
	$(BIN)/python benchmarks/lumi_read.py --hours 1
	$(BIN)/python benchmarks/poc_compare.py --hours 2
	$(BIN)/python benchmarks/detect.py --hours 2
	$(BIN)/python benchmarks/dag.py --fills 500
	$(BIN)/python benchmarks/fill_job.py --hours 1 2 12
	$(BIN)/python benchmarks/year.py --fills 100 --cores 2
	$(BIN)/python benchmarks/active_learning.py --out build/active-learning

## evaluation: every family's detector on data it was not tuned on: PLT channels on the matrix of
## regimes (seeds never tuned on), the luminometer cross-check on every real set of
## ../shared/real-data/lumi beside the public rule, DT chambers on generated runs (evaluation seeds)
evaluation: env
	$(BIN)/python benchmarks/eval_set.py build/eval-matrix --use evaluation
	$(BIN)/python benchmarks/luminometers_eval.py
	$(BIN)/python benchmarks/lumi_2015_events.py
	$(BIN)/python benchmarks/lumi_scan_departures.py
	$(BIN)/python benchmarks/chambers_eval.py --use evaluation
	$(BIN)/python benchmarks/luminometers_generated.py --fills 20

clean:
	rm -rf $(VENV) results .snakemake $(DEMO_DATA)
