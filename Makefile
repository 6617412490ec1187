# Two commands for a newcomer:  `make run` (the bot on the embedded defaults)  and  `make test`.
VENV ?= .venv
PYTHON ?= python3
BIN = $(VENV)/bin

.PHONY: setup run test test-fast lint bench eval clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

run: setup
	$(BIN)/agribot serve

test: setup
	$(BIN)/ruff check bot tests migrations/env.py
	$(BIN)/mypy
	$(BIN)/agribot qa check knowledge/paddy_bank_si.csv --quiet
	$(BIN)/python -m pytest

# Everything but the tests that load the real model (marked `real_model`): no model on
# disk needed, about two minutes. `make test` stays the one that counts.
test-fast: setup
	$(BIN)/ruff check bot tests migrations/env.py
	$(BIN)/python -m pytest -m "not real_model"

bench: setup
	$(BIN)/agribot bench

eval: setup
	$(BIN)/agribot eval

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache
