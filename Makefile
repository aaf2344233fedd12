# vidbook: build the book, run the tests, work on the chapters.
#
#   make book    build the website into _build/html (notebooks executed)
#   make test    lint, unit tests, notebook tests, website build, browser test; stops at the first failure
#   make help    every target
#
# Every target works on a fresh clone: the first one that needs Python creates .venv and
# installs the exact versions from requirements.txt into it.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
MAKEFLAGS += --no-builtin-rules

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
PYTEST := $(PY) -m pytest
RUFF   := $(VENV)/bin/ruff
JB     := $(VENV)/bin/jupyter-book
STAMP  := $(VENV)/.installed
PORT   ?= 8000

BUILD  := _build
HTML   := $(BUILD)/html
# Jupyter Book's execution cache. It hashes only a notebook's code, so outputs would go stale
# when the package changes: the hash of the package's sources (and of the pinned versions and
# the stored results) is kept next to it, and the cache is dropped when that hash changes.
JCACHE    := $(BUILD)/.jupyter_cache
HASH_FILE := $(BUILD)/.vidbook-hash
HASH_CMD  := { find vidbook -type f -name '*.py' -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum; \
               sha256sum requirements.txt; \
               if [ -d data/results ]; then find data/results -type f -name '*.json' -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum; fi; \
             } | sha256sum | cut -d' ' -f1

# Programs started by the recipes (jupyter, the notebook kernels) come from the virtualenv.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help setup book site assets nb-cache test test-unit test-nb test-site lint format lab serve clean bench results-gpu claims

help:
	@echo "make book       build the website into $(HTML) (notebooks executed, warnings fail)"
	@echo "make test       lint + unit tests + notebooks + website build + browser test, timed"
	@echo "make bench      the benchmark suite of this device -> data/results/bench-<device>.json"
	@echo "make results-gpu  on a GPU: the suite and the flagships' full training -> data/results"
	@echo "make claims     rerun the chapters under 3 seeds x 1 and 2 threads: worst margin of every claim"
	@echo "make lab        JupyterLab on book/"
	@echo "make serve      serve $(HTML) on http://127.0.0.1:$(PORT)/ (PORT=... to change)"
	@echo "make setup      create $(VENV) and install the pinned requirements"
	@echo "make lint       ruff check + ruff format --check (notebooks included)"
	@echo "make format     ruff format + ruff check --fix"
	@echo "make test-unit  unit tests (network blocked)"
	@echo "make test-nb    run every notebook under book/ with nbval (outputs kept for the site)"
	@echo "make test-site  check every page of the built site in headless Chromium"
	@echo "make site       the website build alone (same as make book)"
	@echo "make clean      remove $(BUILD) (keeps $(VENV))"

# ---------------------------------------------------------------------------------------------
# Set-up: a virtualenv with the exact versions, and the package installed in editable mode.
setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@if [ ! -x $(PY) ]; then echo "creating $(VENV) with $$($(PYTHON) --version)"; $(PYTHON) -m venv $(VENV); fi
	$(PIP) install --quiet --upgrade pip
	$(PIP) install -r requirements.txt
	$(PIP) install --quiet -e . --no-deps
	@touch $@

# ---------------------------------------------------------------------------------------------
# The website.
book: site

site: setup assets nb-cache
	$(JB) build --all -W -n --keep-going .
	@echo
	@echo "The book: $(abspath $(HTML)/index.html)"
	@echo "(make serve shows it on http://127.0.0.1:$(PORT)/)"

# MathJax, Mermaid and the widget manager, from the npm packages pinned in site/assets.json,
# into $(BUILD)/assets/vendor (the site serves them itself, so it reads offline).
assets:
	@$(PYTHON) site/fetch_assets.py

# Drop the notebook cache when the package, the pinned versions or the stored results changed.
nb-cache:
	@mkdir -p $(BUILD); \
	hash=$$($(HASH_CMD)); \
	if [ -f $(HASH_FILE) ] && [ "$$(cat $(HASH_FILE))" = "$$hash" ]; then \
	  echo "vidbook unchanged since the last run: keeping the notebook cache"; \
	else \
	  if [ -d $(JCACHE) ]; then echo "vidbook or requirements changed: clearing the notebook cache $(JCACHE)"; fi; \
	  rm -rf $(JCACHE); \
	  echo "$$hash" > $(HASH_FILE); \
	fi

# ---------------------------------------------------------------------------------------------
# Tests. `make test` runs the stages in order, prints the time of each, and stops at the first
# failure.
TEST_STAGES := setup lint test-unit test-nb site test-site

test:
	@t_all=$$SECONDS; times=""; \
	for stage in $(TEST_STAGES); do \
	  echo; echo "=== make $$stage"; t=$$SECONDS; \
	  if ! $(MAKE) --no-print-directory $$stage; then \
	    echo; echo "=== make $$stage FAILED after $$((SECONDS - t)) s"; exit 1; \
	  fi; \
	  dt=$$((SECONDS - t)); times+=$$(printf '  %-10s %6d s' "$$stage" "$$dt")$$'\n'; \
	  echo "=== make $$stage passed in $$dt s"; \
	done; \
	echo; echo "Wall time of each stage:"; printf '%s' "$$times"; \
	echo "make test: all stages passed in $$((SECONDS - t_all)) s"

lint: setup
	$(RUFF) check .
	$(RUFF) format --check .

format: setup
	$(RUFF) format .
	$(RUFF) check --fix .

# The unit tests run in TEST_WORKERS processes (pytest-xdist); most are short and spend their
# time in Python, so two processes on two cores finish in about two thirds of the time.
TEST_WORKERS ?= 2
test-unit: setup
	$(PYTEST) tests -q -n $(TEST_WORKERS) --disable-socket --allow-unix-socket

# nbval talks to the kernel over localhost TCP, so the network is not blocked here. Each
# notebook that passes is stored with its outputs in the site's notebook cache
# (site/nbval_record.py), so the site build that follows executes nothing twice.
test-nb: setup nb-cache
	@if [ -z "$$(find book -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' -not -path '*/_build/*' -print -quit)" ]; then \
	  echo "no notebooks under book/"; \
	else \
	  PYTHONPATH=site $(PYTEST) -p nbval_record --nbval-record=$(JCACHE) \
	    --nbval-lax --nbval-current-env --nbval-cell-timeout=600 -p no:cacheprovider book; \
	fi

# Every page of the built site in headless Chromium (Debian's chromium package) through a local
# HTTP server: console errors, failed requests, untypeset TeX, Mermaid, animations, widgets,
# internal links; a screenshot per page in $(BUILD)/site-check/.
test-site: setup
	@if [ ! -f $(HTML)/index.html ]; then $(MAKE) --no-print-directory site; fi
	$(PYTEST) site/test_site.py -q

# ---------------------------------------------------------------------------------------------
# Working on the book.
# (Jupyter refuses to run as root without --allow-root, as in a container.)
# ---------------------------------------------------------------------------------------------
# Measurements for chapter 10: committed under data/results, rendered by the book.
bench: setup
	$(PY) -m vidbook bench --suite --out-dir data/results

results-gpu: setup
	PYTHON=$(PY) scripts/gpu-results.sh data/results

# Every claim a chapter makes about a training outcome (vidbook.claims.claim), measured over
# seeds 0, 1, 2 and 1 or 2 threads; prints the worst margin of each. Not part of make test: it
# runs every chapter six times.
claims: setup
	$(PY) scripts/claims.py $(CLAIMS_ARGS)

lab: setup
	$(VENV)/bin/jupyter lab --notebook-dir=book $$(if [ "$$(id -u)" = 0 ]; then echo --allow-root; fi)

serve:
	@if [ ! -f $(HTML)/index.html ]; then $(MAKE) --no-print-directory book; fi
	@echo "Serving the book at http://127.0.0.1:$(PORT)/index.html (Ctrl-C to stop)"
	@$(PYTHON) -m http.server --bind 127.0.0.1 --directory $(HTML) $(PORT)

clean:
	rm -rf $(BUILD)
