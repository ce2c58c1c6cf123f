# roamlike: `make demo` and `make test` work on a fresh machine (they create .venv themselves).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install sysdeps demo test check lint typecheck bench clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev,spark]'
	# the compiled pass built ahead of time into the per-user cache (optional: without a C
	# compiler the JIT pass is used, and `roamlike rate` builds it later)
	-$(BIN)/python -m roamlike.rating.aot
	touch $(STAMP)

install: $(STAMP)

# Debian packages for the real components the tests drive (PostgreSQL, Chromium, Java)
sysdeps:
	bash scripts/system-packages.sh

demo: $(STAMP)
	$(BIN)/roamlike demo --out demo-output

test: $(STAMP) sysdeps
	$(BIN)/python -m pytest

check: lint typecheck

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy --strict src

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_rating.py

clean:
	rm -rf $(VENV) demo-output .pytest_cache .mypy_cache .ruff_cache .hypothesis
