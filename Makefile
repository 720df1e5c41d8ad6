# Trust LSP — `make demo` and `make test` each create or refresh .venv by themselves.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: venv test lint demo bench docs clean

# (Re)install when pyproject.toml changes. llama-cpp-python compiles from source the first
# time (about 5 minutes); pip caches the built wheel, so later installs are quick.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[local,test]'
	@touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q -ra

lint: $(STAMP)
	$(VENV)/bin/ruff check trust_lsp tests bench
	$(VENV)/bin/ruff format --check trust_lsp tests bench
	$(VENV)/bin/mypy --strict trust_lsp
	$(PY) -m trust_lsp.config.docs --check docs/configuration.md

docs: $(STAMP)
	$(PY) -m trust_lsp.config.docs --write docs/configuration.md

demo: $(STAMP)
	$(PY) -m trust_lsp.demo

bench: $(STAMP)
	$(PY) bench/core_overhead.py
	$(PY) bench/lsp_latency.py
	$(PY) bench/typing_trace.py
	$(PY) bench/startup.py
	$(PY) bench/grep_tool.py
	$(PY) bench/local_tokens.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
