# pctlib: `make run` (main job on params/default.yaml + the book) and `make test` (unit tests + notebooks on smoke).
# Both create the virtual environment .venv/ in the repo root when it is missing and install the project into it.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.pctlib-installed
PARAMS ?= params/default.yaml
NBMAKE_DIR := build/nbmake

.PHONY: venv run book test test-unit test-notebooks benchmarks clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[ray,uproot]'
	@touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/pctlib run $(PARAMS)
	$(BIN)/pctlib book $(PARAMS)

book: $(STAMP)
	$(BIN)/pctlib book $(PARAMS)

# Unit tests and the notebooks, executed by nbmake with the smoke parameters injected by papermill.
test: $(STAMP)
	rm -rf $(NBMAKE_DIR)
	$(BIN)/pctlib prepare params/smoke.yaml --out $(NBMAKE_DIR)
	$(BIN)/pytest --nbmake --nbmake-timeout=3600 tests $(NBMAKE_DIR)

test-unit: $(STAMP)
	$(BIN)/pytest tests

benchmarks: $(STAMP)
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf build book/_build runs/smoke
