# The README's commands. `make test` is what CI runs (.ci/run).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test lint format unit e2e control-plane demo demo-down bench bench-switch bench-canary clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,release]'
	touch $(STAMP)

# Everything: unit tests, then the e2e tier against a real control plane (built on first use when Go
# is installed; under CI=true a control plane that can't start fails the run instead of skipping).
test: lint
	$(PY) -m pytest tests

# ruff's lint rules and formatting, and mypy over the package (pyproject.toml); `make format`
# applies the formatting.
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

format: $(STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

unit: $(STAMP)
	$(PY) -m pytest tests/unit -q

e2e: $(STAMP)
	$(PY) -m pytest tests/e2e -m e2e

control-plane: $(STAMP)
	$(PY) -m tests.harness.build

demo: $(STAMP)
	$(PY) -m tests.harness.demo up

demo-down: $(STAMP)
	$(PY) -m tests.harness.demo down

bench: $(STAMP)
	$(PY) bench/status_bench.py $(BENCH_ARGS)

bench-switch: $(STAMP)
	$(PY) bench/switch_bench.py $(BENCH_ARGS)

bench-canary: $(STAMP)
	$(PY) bench/canary_bench.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build dist *.egg-info

.PHONY: dist manifest lock

# The release (README "Cutting a release"): the krew archive with every dependency vendored, the
# wheel and the sdist, into dist/. Reproducible: the same commit gives the same archive bytes.
dist: $(STAMP)
	$(PY) -m release.dist

# Rebuild the krew archive and write its sha256 (and version) into krew-manifest.yaml: run it after
# code changes are committed, then commit the manifest on its own.
manifest: $(STAMP)
	$(PY) -m release.manifest

# Re-pin vendor.lock to the newest pure-Python releases the archive can vendor (network: PyPI).
lock: $(STAMP)
	$(PY) -m release.lock
