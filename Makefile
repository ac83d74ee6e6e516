# QuantDesk developer commands. `make run` and `make test` do all set-up on a fresh machine.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip

# llama-cpp-python builds from source. A portable CPU build: -march=native would SIGILL on
# older CPUs (backend notes section 1); the mtmd/llava part is not needed. pip caches the built
# wheel (~/.cache/pip/wheels), so later installs reuse it instead of compiling again.
ARCH := $(shell uname -m)
ifeq ($(ARCH),x86_64)
CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DLLAVA_BUILD=OFF
else
CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF
endif
export CMAKE_ARGS

.PHONY: run test lint pytest install install-test bench bundle clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the dependency list changes.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PIP) install -e ".[test]"
	touch $(VENV)/.installed $@

$(VENV)/.installed-bundle: pyproject.toml | $(PY)
	$(PIP) install -e ".[bundle]"
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

run: $(VENV)/.installed
	$(VENV)/bin/quantdesk

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check desktop_app tests benchmarks
	$(VENV)/bin/mypy desktop_app/core
	$(VENV)/bin/lint-imports

pytest: $(VENV)/.installed-test
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest $(PYTEST_ARGS)

test: lint pytest

bench: $(VENV)/.installed-test
	$(PY) benchmarks/fit_accuracy.py

# dist/QuantDesk/ (PyInstaller, one folder) and dist/QuantDesk-<version>-linux-<arch>.tar.gz.
# Windows and macOS installers: installers/README.md.
bundle: $(VENV)/.installed-bundle
	PY=$(PY) installers/linux/build-bundle.sh

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache build dist *.egg-info
