# Deep Gradients — two commands: `make book` builds the site, `make test` runs the tests.
# Both create or refresh the virtual environment in .venv from requirements.txt first (skipped when nothing changed).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.requirements-installed

.PHONY: book test env clean help
.DEFAULT_GOAL := help

help:
	@echo "make book   build the site into _build/html (every notebook executed, warnings are errors)"
	@echo "make test   gradbook's unit tests and nbval over every chapter notebook"
	@echo "make env    create/refresh .venv only;  make clean   remove _build"

$(STAMP): requirements.txt code/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

env: $(STAMP)

book: $(STAMP)
	$(BIN)/jupyter-book build . --all --warningiserror --nitpick --keep-going --builder html

test: $(STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf _build
