# The two set-up commands in the README: `make demo` and `make test`.
# Both create .venv, install lbguard with its dev extras, and install the
# Debian packages it drives (haproxy, nginx-light) when they are missing.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(CURDIR)/$(BIN):$(PATH):/usr/sbin:/sbin

.PHONY: demo test lint typecheck unit system-deps docs-rules bench clean docs docs-settings

# System packages come first: the install builds the C speedups when a compiler is there.
$(STAMP): pyproject.toml setup.py src/lbguard/_speedups.c | system-deps
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

system-deps:
	@PYTHON=$(PYTHON) tools/system-deps.sh

demo: $(STAMP) system-deps
	@bash examples/demo.sh

lint: $(STAMP)
	$(BIN)/ruff format --check src tests benchmarks tools setup.py
	$(BIN)/ruff check src tests benchmarks tools setup.py

typecheck: $(STAMP)
	$(BIN)/mypy

# The whole suite runs with the C speedups; the parser's own tests run once more on
# the pure-Python twins, which are what runs where no compiler built the extension.
PURE_TESTS := tests/test_haproxy_parser.py tests/test_haproxy_lexer.py tests/test_rule_cases.py \
	tests/test_fast_paths.py tests/test_model_construction.py

unit: $(STAMP) system-deps
	$(BIN)/python -m pytest -q
	LBGUARD_PURE_PYTHON=1 $(BIN)/python -m pytest -q $(PURE_TESTS)

test: lint typecheck unit

docs-rules: $(STAMP)
	$(BIN)/python tools/gen_rule_docs.py

docs-settings: $(STAMP)
	$(BIN)/python tools/gen_settings_docs.py

# The site, into site/ (gitignored); the test suite builds it with --strict too.
docs: docs-rules docs-settings
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

bench: $(STAMP) system-deps
	$(BIN)/python benchmarks/check_haproxy.py

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache src/lbguard/*.so
