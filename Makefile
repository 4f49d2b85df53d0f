# The one place that knows how to set up and run riskbench.
# From a fresh clone, with nothing but python3 (3.11+) on PATH:
#   make demo    simulate the example register and write the outputs
#   make test    lint, type-check and run every test (what .ci/run does)
# `make help` lists every target.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
MAKEFLAGS += --no-builtin-rules

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check

# Debian packages the tests need, space-separated: Chromium for the browser tests
# (Playwright drives /usr/bin/chromium; never `playwright install`), Node.js, whose
# npm installs JupyterHub's configurable-http-proxy, poppler-utils (pdftotext, pdftoppm
# check the board pack), and the fonts and Pango libraries WeasyPrint draws PDFs with. Installed with
# apt-get only when one is missing; `apt-get update` runs at most once per virtual
# environment.
DEB_PACKAGES ?= chromium nodejs poppler-utils fonts-dejavu-core libpango-1.0-0 libpangoft2-1.0-0

DEMO_CARD := examples/register.yaml
DEMO_OUT := out/demo
DEMO_TRIALS := 200000
DEMO_SEED := 2026
DEMO_DATA := out/demo-data
DEMO_ORG := northwind

# Environments are named by their extras joined with '-':
# .stamp-hub-ingest-embeddings-calibration-agents-reports-dask-dev installs
# '.[hub,ingest,embeddings,calibration,agents,reports,dask,dev]'. A stamp is redone when
# pyproject.toml changes.
comma := ,
DEV_ENV := $(VENV)/.stamp-hub-ingest-embeddings-calibration-agents-reports-dask-dev
DEMO_ENV := $(VENV)/.stamp-ingest-reports
UI_ENV := $(VENV)/.stamp-ui-ingest
HUB_ENV := $(VENV)/.stamp-hub-ingest
BENCH_ENV := $(DEV_ENV)

NOTEBOOKS := $(wildcard notebooks/*.ipynb)
KERNEL_PYTHON := $(CURDIR)/$(PY)
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: help venv demo test lint typecheck format strip-notebooks check-notebooks \
        bench bench-variance bench-large cluster clean deb-packages kernel lab dashboard app \
        voila-static hub

help: ## list the targets
	@echo "riskbench: make TARGET"
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-17s %s\n", $$1, $$2}' \
	  $(MAKEFILE_LIST)

# --- environments -------------------------------------------------------------------

# A virtual environment whose python runs; a broken one (moved, or its base Python
# gone) is rebuilt from scratch.
$(VENV)/.created:
	$(PY) -c '' 2>/dev/null || $(PYTHON) -m venv --clear $(VENV)
	$(PIP) install --quiet --upgrade pip
	touch $@

$(VENV)/.stamp-%: pyproject.toml | $(VENV)/.created
	@echo "Installing riskbench[$(subst -,$(comma),$*)] (editable) into $(VENV)"
	$(PIP) install --quiet -e '.[$(subst -,$(comma),$*)]'
	touch $@

venv: $(DEV_ENV) ## create .venv with everything needed to develop and test

deb-packages: ## install the Debian packages in DEB_PACKAGES that are missing
ifneq ($(strip $(DEB_PACKAGES)),)
	missing=""; \
	for pkg in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' "$$pkg" 2>/dev/null | grep -q 'install ok installed' \
	    || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ ! -f $(VENV)/.stamp-apt-update ]; then \
	    $(SUDO) apt-get update && mkdir -p $(VENV) && touch $(VENV)/.stamp-apt-update; \
	  fi; \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends $$missing; \
	fi
endif

# The notebooks' kernelspec says "python3"; make that name run this environment's python.
kernel: $(DEMO_ENV)
	grep -qF '"$(KERNEL_PYTHON)' $(VENV)/share/jupyter/kernels/python3/kernel.json 2>/dev/null \
	  || $(PY) -m ipykernel install --sys-prefix --name python3

# --- run ----------------------------------------------------------------------------

# The demo uses the embedded stores under RISKBENCH_HOME (default ~/.riskbench):
# synthetic logs for the example company go into the log store (chdb), the run into
# the workspace (PostgreSQL). Running it twice stores nothing twice.
demo: $(DEMO_ENV) kernel ## sample data -> stores, simulate, narratives, suggestions, analyses, scenario run -> board pack PDF and exports
	$(VENV)/bin/riskbench sample-data $(DEMO_DATA) --seed $(DEMO_SEED)
	$(VENV)/bin/riskbench ingest incidents $(DEMO_DATA)/incidents.csv --org $(DEMO_ORG)
	$(VENV)/bin/riskbench ingest ledger $(DEMO_DATA)/ledger_erp.csv \
	  --mapping $(DEMO_DATA)/ledger_mapping.yaml --org $(DEMO_ORG)
	$(VENV)/bin/riskbench ingest revenue $(DEMO_DATA)/revenue_daily.csv --org $(DEMO_ORG)
	$(VENV)/bin/riskbench ingest deliveries $(DEMO_DATA)/deliveries.xlsx --org $(DEMO_ORG)
	$(VENV)/bin/riskbench ingest cyber $(DEMO_DATA)/cyber_events.csv --org $(DEMO_ORG)
	$(VENV)/bin/riskbench run $(DEMO_CARD) --trials $(DEMO_TRIALS) --seed $(DEMO_SEED) \
	  --out $(DEMO_OUT) --workspace $(DEMO_ORG) --save-years
	$(VENV)/bin/riskbench audit verify --org $(DEMO_ORG)
	$(VENV)/bin/riskbench narrate $(DEMO_CARD) --trials 50000 --seed $(DEMO_SEED) \
	  --graph examples/dependencies.yaml --mitigations examples/mitigations.yaml \
	  --incidents $(DEMO_DATA)/incidents.csv --out $(DEMO_OUT)/narratives.md
	$(VENV)/bin/riskbench suggest --workspace $(DEMO_ORG) --context examples/company.yaml \
	  --save-profile --n 10 --out $(DEMO_OUT)/suggested.yaml
	$(VENV)/bin/riskbench validate $(DEMO_OUT)/suggested.yaml
	$(VENV)/bin/papermill notebooks/analysis.ipynb $(DEMO_OUT)/analysis.ipynb --cwd notebooks \
	  -k python3 --no-progress-bar -p org $(DEMO_ORG) -p seed $(DEMO_SEED) \
	  -p data_dir $(CURDIR)/$(DEMO_DATA) -p out_dir $(CURDIR)/$(DEMO_OUT)/analysis
	$(VENV)/bin/riskbench run-notebook notebooks/scenario_run.ipynb --org $(DEMO_ORG) \
	  -p seed $(DEMO_SEED) -p incidents store
	$(VENV)/bin/riskbench report latest --org $(DEMO_ORG) --out $(DEMO_OUT)/board-pack.pdf
	$(VENV)/bin/riskbench export latest --org $(DEMO_ORG) --out $(DEMO_OUT)/exports
	@echo "Demo outputs in $(DEMO_OUT) (narratives.md, suggested.yaml; analyses: \
	$(DEMO_OUT)/analysis and $(DEMO_OUT)/analysis.ipynb); sample data in $(DEMO_DATA); \
	stores under $${RISKBENCH_HOME:-$$HOME/.riskbench}"
	@echo "Board pack: $(CURDIR)/$(DEMO_OUT)/board-pack.pdf"
	@echo "Exports (CSV, JSON, XLSX): $(CURDIR)/$(DEMO_OUT)/exports"

# --- serve (all on 127.0.0.1; RISKBENCH_ORG picks the organisation, default the demo's) ---
LAB_PORT ?= 8888
DASHBOARD_PORT ?= 8866
APP_PORT ?= 5006
DASHBOARD := notebooks/dashboard.ipynb
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: $(UI_ENV) kernel ## JupyterLab on 127.0.0.1:$(LAB_PORT) (the token is printed)
	$(VENV)/bin/jupyter lab --ip 127.0.0.1 --port $(LAB_PORT) --no-browser $(ROOT_FLAG)

# Voila's settings are in templates/jupyter/voila.json: riskbench's template (the "lab"
# template without its CDN stylesheets, in templates/jupyter/voila/templates/riskbench),
# no Panel JupyterLab extension in the page, and idle kernels culled: a visit starts a
# kernel, and once the page is closed it goes idle and is shut down after 300 s.
VOILA := JUPYTER_PATH=$(CURDIR)/templates/jupyter JUPYTER_CONFIG_PATH=$(CURDIR)/templates/jupyter \
  $(VENV)/bin/voila

# Panel's stylesheets, served by Voila from its template's static folder so that a
# page loads none from cdn.holoviz.org (copied for the environment's Panel; not in git).
VOILA_PANEL_DIST := templates/jupyter/voila/templates/riskbench/static/panel
# It also writes templates/jupyter/labextensions/: ipywidgets' manager extension with its
# get_model wait fixed (widgets/voila_assets.py says why), which Voila and the hub's
# servers load instead of the environment's (JUPYTER_PATH looks there first).
voila-static: ## copy Panel's stylesheets and the fixed ipywidgets manager for Voila (needs the environment)
	dist="$$($(PY) -c 'import panel, pathlib; print(pathlib.Path(panel.__file__).parent / "dist")')"; \
	rm -rf $(VOILA_PANEL_DIST) && mkdir -p $(VOILA_PANEL_DIST)/bundled && \
	cp -r "$$dist/css" "$$dist/assets" $(VOILA_PANEL_DIST)/ && cp -r "$$dist/bundled/theme" $(VOILA_PANEL_DIST)/bundled/
	$(PY) -m riskbench.widgets.voila_assets templates/jupyter/labextensions

dashboard: $(UI_ENV) kernel voila-static ## the executive dashboard in Voila on 127.0.0.1:$(DASHBOARD_PORT)
	$(VOILA) $(DASHBOARD) --no-browser --Voila.ip=127.0.0.1 --port=$(DASHBOARD_PORT)

app: $(UI_ENV) kernel ## the same dashboard as a Panel app (panel serve) on 127.0.0.1:$(APP_PORT)
	$(VENV)/bin/panel serve $(DASHBOARD) --address 127.0.0.1 --port $(APP_PORT) \
	  --allow-websocket-origin 127.0.0.1:$(APP_PORT) --allow-websocket-origin localhost:$(APP_PORT)

# From npm (not in git): JupyterHub's proxy into .hub-proxy/, and MathJax 2 into
# .hub-mathjax/, which each user's server serves as static/mathjax/ so that Voila there
# loads it from the server instead of cdnjs.
HUB_PROXY := .hub-proxy/node_modules/.bin/configurable-http-proxy
HUB_MATHJAX := .hub-mathjax/node_modules/mathjax/MathJax.js
NPM_INSTALL := npm install --no-audit --no-fund --silent
$(HUB_PROXY):
	command -v npm >/dev/null || { echo "npm is missing: install Node.js (make deb-packages)"; exit 1; }
	$(NPM_INSTALL) --prefix .hub-proxy configurable-http-proxy@5
$(HUB_MATHJAX):
	command -v npm >/dev/null || { echo "npm is missing: install Node.js (make deb-packages)"; exit 1; }
	$(NPM_INSTALL) --prefix .hub-mathjax mathjax@2

hub: $(HUB_ENV) kernel voila-static $(HUB_PROXY) $(HUB_MATHJAX) ## JupyterHub on 127.0.0.1:8000 (users: examples/hub_users.yaml)
	$(VENV)/bin/jupyterhub -f jupyterhub_config.py

bench: $(BENCH_ENV) ## engine benchmarks: floor, numpy, peers, Dask, dashboard latency (~10 min)
	$(PY) benchmarks/engine.py
	$(PY) benchmarks/dask_scaling.py
	cd benchmarks && ../$(PY) dashboard_latency.py

bench-variance: $(BENCH_ENV) ## standard error by sampling method: random, lhs, sobol (~8 min)
	$(PY) benchmarks/variance.py

bench-large: $(BENCH_ENV) ## 10^8 simulated years over 50 scenarios with keep="summary" (~5 min)
	$(PY) benchmarks/large_run.py

# A Dask scheduler and workers on 127.0.0.1 for engine="dask" /
# `riskbench run --scheduler tcp://127.0.0.1:8786` (docs/scale-out.md).
DASK_PORT ?= 8786
DASK_WORKERS ?= 2
cluster: $(DEV_ENV) ## a Dask scheduler on tcp://127.0.0.1:$(DASK_PORT) and $(DASK_WORKERS) one-thread workers (Ctrl-C stops them)
	trap 'kill $$(jobs -p) 2>/dev/null || true' EXIT; \
	$(VENV)/bin/dask scheduler --host 127.0.0.1 --port $(DASK_PORT) --dashboard-address 127.0.0.1:0 & \
	$(PY) -m riskbench.dask_worker tcp://127.0.0.1:$(DASK_PORT) --nworkers $(DASK_WORKERS) --nthreads 1 \
	  --dashboard-address 127.0.0.1:0 & \
	wait

# --- check --------------------------------------------------------------------------

test: $(DEV_ENV) deb-packages kernel voila-static $(HUB_PROXY) $(HUB_MATHJAX) check-notebooks lint typecheck ## lint, type-check and run all tests
	$(PY) -m pytest

lint: $(DEV_ENV) ## ruff lint and format check
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(DEV_ENV) ## mypy (configured in pyproject.toml)
	$(PY) -m mypy

format: $(DEV_ENV) ## reformat and apply ruff's safe fixes
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

# --- notebooks ----------------------------------------------------------------------

define STRIP_NOTEBOOKS_PY
import sys
import nbformat

for path in sys.argv[1:]:
    nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    before = nbformat.writes(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.pop("widgets", None)  # saved widget state is output too
    if nbformat.writes(nb) != before:
        nbformat.write(nb, path)
        print(f"stripped {path}")
endef
export STRIP_NOTEBOOKS_PY

# Plain json, so that the check needs no virtual environment.
define CHECK_NOTEBOOKS_PY
import json
import sys

dirty = []
for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as f:
        nb = json.load(f)
    code = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    if any(c.get("outputs") or c.get("execution_count") is not None for c in code):
        dirty.append(path)
for path in dirty:
    print(f"{path} has outputs or execution counts: run `make strip-notebooks`")
sys.exit(1 if dirty else 0)
endef
export CHECK_NOTEBOOKS_PY

strip-notebooks: $(DEV_ENV) ## clear outputs and execution counts of notebooks/*.ipynb
	$(if $(NOTEBOOKS),$(PY) -c "$$STRIP_NOTEBOOKS_PY" $(NOTEBOOKS),@echo "no notebooks")

check-notebooks: ## fail if a notebook in git has outputs or execution counts
	git ls-files -z '*.ipynb' | xargs -0 -r $(PYTHON) -c "$$CHECK_NOTEBOOKS_PY"

# --- tidy ---------------------------------------------------------------------------

clean: ## remove out/, build outputs and caches (keeps .venv)
	rm -rf out build dist .mypy_cache .ruff_cache .pytest_cache .hypothesis ./*.egg-info
	find . -path ./$(VENV) -prune -o -type d \( -name __pycache__ -o -name .ipynb_checkpoints \) \
	  -prune -exec rm -rf {} +
