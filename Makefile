# The commands the README names. `make demo` and `make test` install everything they need.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: install system-deps demo test chart-test bench bench-images lint clean

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

# The chart's tests run in chart-test, the rest here.
test: system-deps install chart-test
	$(BIN)/python -m pytest -n 2 --dist loadgroup --ignore=tests/chart $(PYTEST_ARGS)

# The Helm chart charts/zenml-kf-stack with a real helm (scripts/install_helm.sh puts one in
# .tools/bin): lint, every rendered combination validated against Kubernetes' schemas.
chart-test: install
	bash scripts/install_helm.sh
	$(BIN)/python -c "import kubernetes_validate" 2>/dev/null || $(BIN)/pip install --quiet kubernetes-validate
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup tests/chart

bench: install
	$(BIN)/python benchmarks/run_all.py

# Step image figures (sizes, rebuild, `zenml image build`, entrypoint): needs the Docker
# engine, which scripts/setup_docker.sh starts; minutes of builds on the vfs driver.
bench-images: install
	$(BIN)/python benchmarks/bench_images.py --docker

lint: install
	$(BIN)/ruff check zenml_kf compiler tests benchmarks examples
	$(BIN)/ruff format --check zenml_kf compiler tests benchmarks examples
	$(BIN)/mypy

clean:
	rm -rf $(VENV) out .zen/local_stores
