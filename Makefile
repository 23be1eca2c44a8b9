# colweave — every target installs what it needs into $(VENV) first, so each works on a fresh clone.
.DEFAULT_GOAL := help
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q

.PHONY: help
help:  ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -U pip

.PHONY: install
install: $(PY)  ## install colweave (runtime dependencies, Rust extension built in release mode)
	$(PIP) install -e .

.PHONY: dev
dev: $(PY)  ## install colweave with the dev and bench extras
	$(PIP) install -e '.[dev,bench]'

.PHONY: run
run: install  ## install, then run the main job (for now: the MaxSim benchmark, --quick)
	$(PY) bench/maxsim.py --quick

.PHONY: test-rust
test-rust:  ## cargo test of the pure-Rust kernels (no Python); fails if no test ran
	cargo test --release 2>&1 | tee $(VENV)/.cargo-test.log
	@grep -qE '^test result: ok\. [1-9][0-9]* passed' $(VENV)/.cargo-test.log || { echo "cargo test ran no test"; exit 1; }

.PHONY: test-python
test-python:  ## pytest (hypothesis property tests, unit and integration tests)
	$(PY) -m pytest

.PHONY: test
test: dev  ## install everything, then run the Rust and Python tests
	$(MAKE) --no-print-directory test-rust
	$(MAKE) --no-print-directory test-python

.PHONY: lint
lint: dev  ## ruff (format + check), mypy + stubtest of the extension, cargo fmt --check, clippy -D warnings
	$(PY) -m ruff format --check python tests bench
	$(PY) -m ruff check python tests bench
	$(PY) -m mypy
	$(PY) -m mypy.stubtest colweave._native
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --release -- -D warnings

.PHONY: fmt
fmt: $(PY)  ## format Python and Rust sources in place
	$(PY) -m ruff format python tests bench
	$(PY) -m ruff check --fix python tests bench
	cargo fmt --all

.PHONY: bench
bench: dev  ## the benchmarks, full size (ratios against the alternatives, medians)
	$(PY) bench/maxsim.py

.PHONY: bench-quick
bench-quick: dev  ## the benchmarks, quick sizes
	$(PY) bench/maxsim.py --quick

.PHONY: bench-encode
bench-encode: dev  ## the encoder at full size (random weights; the first run needs the export extra): minutes
	$(PY) bench/encode.py

.PHONY: fixtures
fixtures: dev  ## regenerate tests/fixtures/model (needs the export extra: torch, transformers, onnx)
	$(PY) tests/fixtures/generate_model_fixtures.py

.PHONY: clean
clean:  ## remove build outputs and caches (keeps the virtual environment)
	cargo clean
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis python/colweave/*.so
