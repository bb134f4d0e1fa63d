# `make demo` and `make test` set everything up on a fresh machine (Python >= 3.11 needed).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo lint imports typecheck pytest bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[postgres,testing,test,dev]'
	@touch $(STAMP)

test: $(STAMP) lint imports typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

# The import contracts of pyproject.toml: layers, no cycles, a domain without I/O.
imports: $(STAMP)
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

# Every benchmark of bench/ (bench/README.md), full size; results under bench/results/.
# BENCH_POSTGRES=URL measures PostgreSQL too where the benchmark has it (P1, P4, P5, P7, P8).
BENCH_POSTGRES ?=
bench: $(STAMP)
	@for f in bench/p[0-9]*.py; do \
		$(BIN)/python -m bench.$$(basename $$f .py) \
			$(if $(BENCH_POSTGRES),--postgres '$(BENCH_POSTGRES)') || exit 1; \
	done

demo: $(STAMP)
	$(BIN)/selflearn demo

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis .import_linter_cache \
		data/demo.db* data/demo.html
