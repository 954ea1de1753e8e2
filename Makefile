# Deep Gradients — two commands: `make book` builds the site, `make test` runs the tests.
# Both create or refresh the virtual environment in .venv from requirements.txt first (skipped when nothing changed).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.requirements-installed
VENDOR_STAMP := site/static/vendor/.installed

.PHONY: book test env vendor site-test bench clean help
.DEFAULT_GOAL := help

help:
	@echo "make book   build the site into _build/html (every notebook executed, warnings are errors)"
	@echo "make test   gradbook's unit tests and nbval over every chapter notebook"
	@echo "make site-test  browser tests of the built site (headless Chromium; run after make book)"
	@echo "make bench  gradbook's benchmarks: GradientMonitor's overhead, layer_gradient_norms compiled vs eager"
	@echo "make env    create/refresh .venv only;  make vendor  the site's JavaScript from npm;  make clean  remove _build"

$(STAMP): requirements.txt code/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

env: $(STAMP)

# MathJax, RequireJS and the widgets HTML manager, installed from npm and served by the site itself (no CDN).
$(VENDOR_STAMP): site/package.json site/package-lock.json site/vendor.py
	npm ci --prefix site --no-audit --no-fund --loglevel=error
	$(PYTHON) site/vendor.py
	touch $@

vendor: $(VENDOR_STAMP)

book: $(STAMP) $(VENDOR_STAMP)
	rm -rf _build/html   # the site is exactly what _toc.yml lists now; executed notebooks stay in the jupyter-cache
	$(BIN)/jupyter-book build . --all --warningiserror --nitpick --keep-going --builder html

test: $(STAMP)
	$(BIN)/python -m pytest

# Browser tests: Debian's Chromium driven by Playwright (installed here when missing), against _build/html.
site-test: $(STAMP)
	test -f _build/html/index.html || { echo "no site in _build/html: run make book first"; exit 1; }
	command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; } \
	  || echo "could not install chromium; the browser tests will skip, saying why"
	$(BIN)/python -m pip install --quiet -r tests/browser/requirements.txt
	$(BIN)/python -m pytest tests/browser

# Benchmarks (a few minutes; not part of make test): timings on this machine, printed as tables.
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_gradients.py

clean:
	rm -rf _build
