# The commands the README names. `make demo` and `make test` install everything they need.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: install system-deps demo test bench lint clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# Servers the test suite starts for real: a Docker engine, MariaDB, git.
system-deps:
	bash scripts/install_system_deps.sh

demo: install
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh

test: system-deps install
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

bench: install
	$(BIN)/python benchmarks/run_all.py

lint: install
	$(BIN)/ruff check zenml_kf compiler tests benchmarks examples
	$(BIN)/ruff format --check zenml_kf compiler tests benchmarks examples
	$(BIN)/mypy

clean:
	rm -rf $(VENV) out .zen/local_stores
