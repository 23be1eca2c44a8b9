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
run: install  ## install, then run the server (colweave serve) on the embedded default store
	$(VENV)/bin/colweave serve

.PHONY: test-rust
test-rust:  ## cargo test of the pure-Rust kernels (no Python); fails if no test ran
	cargo test --release 2>&1 | tee $(VENV)/.cargo-test.log
	@grep -qE '^test result: ok\. [1-9][0-9]* passed' $(VENV)/.cargo-test.log || { echo "cargo test ran no test"; exit 1; }

.PHONY: test-aarch64
test-aarch64:  ## cross-test the kernels' aarch64 NEON path under qemu-user (installs the cross tools as root)
	@if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64 >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user >/dev/null; fi
	@rustup target list --installed | grep -q '^aarch64-unknown-linux-gnu$$' || rustup target add aarch64-unknown-linux-gnu
	cargo test --release -p colweave-kernels --target aarch64-unknown-linux-gnu 2>&1 | tee $(VENV)/.cargo-test-aarch64.log
	@grep -qE '^test result: ok\. [1-9][0-9]* passed' $(VENV)/.cargo-test-aarch64.log || { echo "aarch64 cargo test ran no test"; exit 1; }

.PHONY: test-python
test-python:  ## pytest (hypothesis property tests, unit and integration tests)
	$(PY) -m pytest

.PHONY: test-weaviate-suite
test-weaviate-suite: dev  ## weaviate-client's own integration suite (tests/weaviate_suite/scope.toml) vs colweave
	$(PY) tests/weaviate_suite/run.py

.PHONY: test
test: dev  ## install everything, then run the Rust and Python tests
	$(MAKE) --no-print-directory test-rust
	$(MAKE) --no-print-directory test-python

.PHONY: lint
lint: dev  ## ruff (format + check), mypy + stubtest of the extension, cargo fmt --check, clippy -D warnings
	$(PY) -m ruff format --check python tests bench proto
	$(PY) -m ruff check python tests bench proto
	$(PY) -m mypy
	$(PY) -m mypy.stubtest colweave._native
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --release -- -D warnings

.PHONY: fmt
fmt: $(PY)  ## format Python and Rust sources in place
	$(PY) -m ruff format python tests bench proto
	$(PY) -m ruff check --fix python tests bench proto
	cargo fmt --all

.PHONY: proto
proto: dev  ## regenerate the committed Python modules of proto/colweave/v1 (a test fails when they are stale)
	$(PY) proto/generate.py

.PHONY: bench
bench: dev  ## the benchmarks, full size (ratios against the alternatives, medians)
	$(PY) bench/maxsim.py

.PHONY: bench-quick
bench-quick: dev  ## the benchmarks, quick sizes
	$(PY) bench/maxsim.py --quick

.PHONY: bench-search
bench-search: dev  ## the store's search benchmark (exact, MUVERA, BM25 vs bm25s, import), full size
	$(PY) bench/search.py

.PHONY: bench-search-quick
bench-search-quick: dev  ## the store's search benchmark, quick sizes
	$(PY) bench/search.py --quick

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
