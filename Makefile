# colweave — every target installs what it needs into $(VENV) first, so each works on a fresh clone.
.DEFAULT_GOAL := help
SHELL := /bin/bash
# pipefail: `cargo test | tee log` fails when cargo does, not only when tee does.
.SHELLFLAGS := -o pipefail -ec
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

# The committed tiny model has the real architecture and random weights: it serves in a second, offline,
# and every API works, but its vectors mean nothing. Data goes to .demo-data (git-ignored).
.PHONY: demo
demo: install  ## serve the committed tiny TEST model (random weights, offline) on the default ports
	@echo "colweave demo: serving tests/fixtures/model/tiny-colweave, a TEST model with RANDOM weights:"
	@echo "every API works, search results are meaningless. 'make run' serves the real model."
	HF_HUB_OFFLINE=1 $(VENV)/bin/colweave serve --model tests/fixtures/model/tiny-colweave --data-dir .demo-data

.PHONY: wheel
wheel: $(PY)  ## build an installable wheel (Rust extension in release mode) into dist/
	$(PIP) install 'maturin>=1.9,<2'
	$(VENV)/bin/maturin build --release --out dist
	@ls dist/*.whl

.PHONY: test-rust
test-rust:  ## cargo test of the pure-Rust kernels (no Python); fails if no test ran
	@mkdir -p target
	cargo test --release 2>&1 | tee target/cargo-test.log
	@grep -qE '^test result: ok\. [1-9][0-9]* passed' target/cargo-test.log || { echo "cargo test ran no test"; exit 1; }

.PHONY: test-aarch64
test-aarch64:  ## cross-test the kernels' aarch64 NEON path under qemu-user (installs the cross tools as root)
	@if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64 >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user >/dev/null; fi
	@rustup target list --installed | grep -q '^aarch64-unknown-linux-gnu$$' || rustup target add aarch64-unknown-linux-gnu
	@mkdir -p target
	cargo test --release -p colweave-kernels --target aarch64-unknown-linux-gnu 2>&1 | tee target/cargo-test-aarch64.log
	@grep -qE '^test result: ok\. [1-9][0-9]* passed' target/cargo-test-aarch64.log || { echo "aarch64 cargo test ran no test"; exit 1; }

.PHONY: test-python
test-python:  ## pytest (hypothesis property tests, unit and integration tests)
	$(PY) -m pytest

.PHONY: test-weaviate-suite
# CI passes --min-pass-rate (see .ci/run); SUITE_ARGS also takes `-- integration/test_x.py` to run part of it.
SUITE_ARGS ?=
test-weaviate-suite: dev  ## weaviate-client's own integration suite (tests/weaviate_suite/scope.toml) vs colweave
	$(PY) tests/weaviate_suite/run.py $(SUITE_ARGS)

.PHONY: test
test: dev  ## install everything, then run the Rust and Python tests
	$(MAKE) --no-print-directory test-rust
	$(MAKE) --no-print-directory test-python

# The exporter needs torch, which serving never does: its tests run in their own environment with the
# runtime and export dependencies (PyPI's torch wheel pulls its CUDA libraries, about 3.4 GB, two minutes
# to install here; torch does not import without them, the tests run on the CPU). colweave itself comes
# from python/ (PYTHONPATH), with the extension `make install` built there, so Rust is compiled once.
EXPORT_VENV ?= .venv-export
EXPORT_PY := $(EXPORT_VENV)/bin/python
EXPORT_DEPS = $(PY) -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
	print("\n".join(p["dependencies"] + p["optional-dependencies"]["export"] + ["pytest", "hypothesis"]))'
$(EXPORT_PY):
	$(PYTHON) -m venv $(EXPORT_VENV)
	$(EXPORT_PY) -m pip --disable-pip-version-check -q install -U pip

.PHONY: export-env
export-env: install $(EXPORT_PY)  ## create .venv-export: the runtime and export extra's dependencies (torch: GBs)
	$(EXPORT_DEPS) > $(EXPORT_VENV)/requirements.txt
	$(EXPORT_PY) -m pip --disable-pip-version-check -q install -r $(EXPORT_VENV)/requirements.txt

.PHONY: test-export
test-export: export-env  ## the exporter's tests in .venv-export (a missing torch fails instead of skipping)
	COLWEAVE_EXPORT_TESTS=1 PYTHONPATH=python $(EXPORT_PY) -m pytest tests/model/test_export.py

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
fixtures: export-env  ## regenerate tests/fixtures/model in .venv-export (torch, transformers, onnx)
	PYTHONPATH=python $(EXPORT_PY) tests/fixtures/generate_model_fixtures.py

.PHONY: clean
clean:  ## remove build outputs and caches (keeps the virtual environment)
	cargo clean
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis python/colweave/*.so dist .demo-data
