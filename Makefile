# Two commands set everything up on a fresh machine with Python 3.11:
#   make demo   -- create .venv, install, render the shipped example fleet into build/
#   make test   -- create .venv if needed, run ruff, mypy and pytest
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXAMPLE := profiles/example/fleet.yaml

.PHONY: demo test lint typecheck unit bench clean catalogue

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	chmod 600 profiles/example/secrets/*.txt  # git keeps no modes; secret files are private
	$(BIN)/provisioner validate $(EXAMPLE)
	$(BIN)/provisioner render $(EXAMPLE) --out build

test: $(STAMP) lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check provisioner tests benchmarks scripts

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/render_scale.py
	$(BIN)/python benchmarks/apply_scale.py

catalogue:
	$(PYTHON) scripts/build_catalogue.py

clean:
	rm -rf build .mypy_cache .ruff_cache .pytest_cache
