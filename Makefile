# Deep Gradients — two commands: `make book` builds the site, `make test` runs the tests.
# Both create or refresh the virtual environment in .venv from the pinned requirements.txt first (skipped when
# nothing changed). `make lock` re-pins it from requirements.in.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The pinned lock by default; the scheduled "latest" workflow passes REQUIREMENTS=requirements.in (newest releases).
REQUIREMENTS ?= requirements.txt
STAMP := $(VENV)/.installed-$(notdir $(REQUIREMENTS))
VENDOR_STAMP := site/static/vendor/.installed
PIP_VERSION := 26.3
UV_VERSION := 0.13.9
# The platform Binder and CI run on; the lock pins every package for it.
LOCK_PLATFORM := --python-version 3.11 --python-platform x86_64-manylinux_2_28

# Every build and test checks the book's claims strictly: a claim that fails fails the command, whatever the shell
# says (GRADBOOK_CHECKS=warn only softens them for a reader's own kernel; see gradbook.repro.checks).
export GRADBOOK_CHECKS := strict

.PHONY: book test env lock vendor site-test robustness bench clean help
.DEFAULT_GOAL := help

help:
	@echo "make book        build the site into _build/html (every notebook executed, warnings are errors)"
	@echo "make test        gradbook's unit tests and doctests, and nbval over every chapter notebook"
	@echo "make site-test   browser tests of the built site (headless Chromium; run after make book)"
	@echo "make robustness  nbval over every chapter with other seeds and with oneDNN on (minutes; not in make test)"
	@echo "make lock        re-pin requirements.txt (and the browser tests' lock) from requirements.in"
	@echo "make bench       gradbook's benchmarks: GradientMonitor's overhead, layer_gradient_norms compiled vs eager"
	@echo "make env         create/refresh .venv only;  make vendor  the site's JavaScript from npm;  make clean"

$(STAMP): $(REQUIREMENTS) code/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet pip==$(PIP_VERSION)
	$(BIN)/python -m pip install --quiet $(if $(filter %.in,$(REQUIREMENTS)),--upgrade) -r $(REQUIREMENTS)
	rm -f $(VENV)/.installed-*
	touch $@

env: $(STAMP)

lock: $(STAMP)
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	$(BIN)/uv pip compile --quiet --upgrade $(LOCK_PLATFORM) requirements.in -o requirements.txt
	grep -v '^-e' requirements.txt > $(VENV)/constraints.txt   # uv takes no editable line as a constraint
	$(BIN)/uv pip compile --quiet --upgrade $(LOCK_PLATFORM) tests/browser/requirements.in \
	  -c $(VENV)/constraints.txt -o tests/browser/requirements.txt
	@echo "requirements.txt re-pinned; run make test and make book before committing it"

# MathJax and Vega, installed from npm (pinned by site/package-lock.json) and served by the site itself (no CDN).
$(VENDOR_STAMP): site/package.json site/package-lock.json site/vendor.py site/explorers.js
	npm ci --prefix site --no-audit --no-fund --loglevel=error
	$(PYTHON) site/vendor.py
	touch $@

vendor: $(VENDOR_STAMP)

# Notebooks run JOBS at a time (pytest-xdist in make test and make robustness; site/execution_cache.py before the
# book build): each spends much of its time in Python between TensorFlow's small kernels, so two share 2 cores well.
JOBS ?= 2

# Notebooks that `make test` executed are reused from the execution cache (site/execution_cache.py), which is
# emptied whenever gradbook, the lock or a setting that changes results differs from the cache's; the chapters it
# lacks are executed JOBS at a time first (myst-nb would run them one after another).
book: $(STAMP) $(VENDOR_STAMP)
	rm -rf _build/html   # the site is exactly what _toc.yml lists now
	$(BIN)/python site/execution_cache.py execute --jobs $(JOBS)
	$(BIN)/jupyter-book build . --all --warningiserror --nitpick --keep-going --builder html

# --dist loadfile keeps each notebook's cells together, in order, in one worker (one kernel).
test: $(STAMP)
	$(BIN)/python -m pytest -n $(JOBS) --dist loadfile

# The same checks with other seeds (GRADBOOK_SEED_SHIFT) and with TensorFlow's oneDNN kernels on: a claim that holds
# only for seed 0 on one numeric back-end is not a claim. Runs all three, then fails if any failed.
robustness: $(STAMP)
	failed=""; \
	for setting in GRADBOOK_SEED_SHIFT=1 GRADBOOK_SEED_SHIFT=2 TF_ENABLE_ONEDNN_OPTS=1; do \
	  echo "== nbval with $$setting"; \
	  env $$setting $(BIN)/python -m pytest chapters -p no:execution_cache -q -n $(JOBS) --dist loadfile \
	    || failed="$$failed $$setting"; \
	done; \
	test -z "$$failed" || { echo "make robustness failed with:$$failed"; exit 1; }

# Browser tests: Debian's Chromium driven by Playwright (installed here when missing), against _build/html.
site-test: $(STAMP)
	test -f _build/html/index.html || { echo "no site in _build/html: run make book first"; exit 1; }
	command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; } \
	  || echo "could not install chromium; the browser tests will skip, saying why"
	$(BIN)/python -m pip install --quiet -r tests/browser/requirements.txt
	$(BIN)/python -m pytest -p no:execution_cache tests/browser

# Benchmarks (a few minutes; not part of make test): timings on this machine, printed as tables.
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_gradients.py

clean:
	rm -rf _build
