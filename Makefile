# Trust LSP — `make demo` and `make test` each create or refresh .venv by themselves.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: venv test lint demo bench docs clean

# llama-cpp-python has no wheel: it compiles llama.cpp with -march=native. These machines
# advertise AMX but fault on its tile instructions (a segfault at the first decode), so the
# wheel is built once with AMX switched off, kept in a wheelhouse outside the repo, and
# preferred by pip over the source package (about 5 minutes the first time only).
LLAMA_VERSION := 0.3.36
WHEELHOUSE    := $(HOME)/.cache/trust-lsp/wheels
LLAMA_STAMP   := $(WHEELHOUSE)/llama-cpp-python-$(LLAMA_VERSION).built
ifeq ($(shell uname -m),x86_64)
LLAMA_CFLAGS  := -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
LLAMA_CMAKE   := -DCMAKE_C_FLAGS='$(LLAMA_CFLAGS)' -DCMAKE_CXX_FLAGS='$(LLAMA_CFLAGS)'
endif

$(LLAMA_STAMP):
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@mkdir -p $(WHEELHOUSE)
	CMAKE_ARGS="$(LLAMA_CMAKE)" $(PY) -m pip wheel --quiet --no-deps --no-cache-dir \
		-w $(WHEELHOUSE) 'llama-cpp-python==$(LLAMA_VERSION)'
	@touch $(LLAMA_STAMP)

# (Re)install when pyproject.toml changes.
$(STAMP): pyproject.toml $(LLAMA_STAMP)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --find-links $(WHEELHOUSE) -e '.[local,test]'
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
