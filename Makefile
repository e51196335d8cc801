# ntl — every target a newcomer needs. `make` alone lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PARAMS ?= params/default.yaml
# score/serve: a run folder; empty = the champion when one was promoted, else artifacts/default
ARTIFACTS ?=
OUT ?= reports/score/inspection_list.csv
HOST ?= 127.0.0.1
PORT ?= 8000
# uv never downloads an interpreter: it uses the machine's own Python 3.10+.
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
# Compile bytecode at install: where PYTHONDONTWRITEBYTECODE is set (as on CI), every notebook
# kernel would otherwise recompile pandas, scikit-learn and friends from source (2-3x slower imports).
export UV_COMPILE_BYTECODE := 1
# uv on PATH if the machine has it, otherwise a private copy installed with pip into .tools/.
UV := $(or $(shell command -v uv 2>/dev/null),.tools/bin/uv)
# A first setup lists what it installs; a re-sync of an existing .venv (after a pull) is quiet.
UV_SYNC_QUIET := $(if $(wildcard $(VENV)/bin/python),--quiet)
# Jupyter refuses to start as root unless told; containers often run as root.
LAB_ROOT := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root)
RUN_SETS := $(if $(SEED),--set seed=$(SEED)) $(foreach s,$(SET),--set $(s))

.DEFAULT_GOAL := help
.PHONY: help setup run-all test lint format bench bench-history bench-scale score serve lab clean distclean \
	retrain monitor drift-check mlflow-ui

help: ## list the targets
	@echo "ntl — electricity-theft detection notebooks. Targets:"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | awk -F'\t' '{printf "  make %-10s %s\n", $$1, $$2}'
	@echo "Variables: PARAMS=$(PARAMS) SEED=<int> SET='key=value ...' INPUT=<file> OUT=$(OUT)"
	@echo "           ARTIFACTS=<run folder> (score, serve) RUN=<run folder> (monitor): default the champion, else artifacts/default"
	@echo "           DATA=<file> (retrain)"

setup: $(VENV)/.synced ## create .venv from uv.lock (no-op when up to date)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "ntl needs Python 3.10+, found " + sys.version.split()[0] + " (set PYTHON=python3.x)")'
	$(UV) sync --locked $(UV_SYNC_QUIET) --python "$$($(PYTHON) -c 'import sys; print(sys.executable)')"
	@touch $@

.tools/bin/uv:
	PIP_ROOT_USER_ACTION=ignore $(PYTHON) -m pip install --quiet --disable-pip-version-check --target .tools uv

run-all: setup ## run notebooks 01 -> 04 on PARAMS (default: params/default.yaml)
	$(PY) -m ntl run --params $(PARAMS) $(RUN_SETS)

test: setup ## run the test suite (unit tests and the smoke chain)
	$(PY) -m pytest

lint: setup ## ruff check and format check, notebooks included
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup ## apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: setup ## time and peak memory per stage at SGCC scale -> reports/bench/bench.json
	$(PY) bench/bench.py --params params/sgcc-scale.yaml --out reports/bench/bench.json

bench-history: setup ## test PR/ROC-AUC by history length (28..1,035 days, 3 x 10k customers) -> reports/bench/history.json
	$(PY) bench/history_bench.py --customers 10000 --replicates 3 --out reports/bench/history.json

bench-scale: setup ## the Dask path at 100k, 300k and 1M customers x 365 days -> reports/bench/bench_scale.json
	$(PY) bench/bench_scale.py --out reports/bench/bench_scale.json

score: setup ## score new meter data: make score INPUT=file [ARTIFACTS=dir OUT=file]
	@test -n "$(INPUT)" || { echo "usage: make score INPUT=meter_file.csv [ARTIFACTS=run_folder] [OUT=$(OUT)]"; exit 2; }
	@mkdir -p "$(dir $(OUT))"
	$(PY) -m ntl score "$(INPUT)" $(if $(ARTIFACTS),--artifacts "$(ARTIFACTS)") --out "$(OUT)"

serve: setup ## web app and JSON API on http://127.0.0.1:8000 [ARTIFACTS=dir HOST=... PORT=...]
	$(PY) -m ntl serve $(if $(ARTIFACTS),--artifacts "$(ARTIFACTS)") --host "$(HOST)" --port "$(PORT)"

retrain: setup ## train a challenger on DATA, promote it if not worse: make retrain DATA=file [PARAMS=...]
	@test -n "$(DATA)" || { echo "usage: make retrain DATA=meter_file.csv [PARAMS=$(PARAMS)]"; exit 2; }
	$(PY) -m ntl retrain --data "$(DATA)" --params "$(PARAMS)" $(RUN_SETS)

monitor: setup ## drift and performance of INPUT against the champion (exit 3: retrain)
	@test -n "$(INPUT)" || { echo "usage: make monitor INPUT=meter_file.csv [RUN=run_folder]"; exit 2; }
	$(PY) -m ntl monitor "$(INPUT)" $(if $(RUN),--artifacts "$(RUN)")

drift-check: setup ## monitor INPUT; when it recommends retraining, retrain on INPUT
	@test -n "$(INPUT)" || { echo "usage: make drift-check INPUT=meter_file.csv [PARAMS=$(PARAMS)]"; exit 2; }
	@$(PY) -m ntl monitor "$(INPUT)" $(if $(RUN),--artifacts "$(RUN)"); code=$$?; \
	if [ $$code -eq 3 ]; then $(PY) -m ntl retrain --data "$(INPUT)" --params "$(PARAMS)" $(RUN_SETS); \
	else exit $$code; fi

mlflow-ui: setup ## open the MLflow UI on the run-tracking store (local SQLite unless MLFLOW_TRACKING_URI)
	MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true $(VENV)/bin/mlflow ui --host 127.0.0.1 --port 5000 \
		--backend-store-uri "$${MLFLOW_TRACKING_URI:-sqlite:///$${NTL_PROJECT_DIR:-$(CURDIR)}/mlflow.db}"

lab: setup ## open JupyterLab on the project's environment
	$(VENV)/bin/jupyter lab $(LAB_ROOT) notebooks/

clean: ## remove run outputs (artifacts/, reports/) and caches; keeps the champion, retraining runs, outcomes, MLflow
	find artifacts reports -mindepth 1 -maxdepth 1 ! -name runs ! -name champion.json ! -name monitor \
		-exec rm -rf {} + 2>/dev/null || true
	rm -rf .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -not -path './.venv/*' -exec rm -rf {} +

distclean: clean ## also remove .venv and .tools
	rm -rf $(VENV) .tools
