# Two commands on a fresh machine: `make run` (Cogmill with its examples) and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# Django 6 needs Python >= 3.12: take one from PATH, pyenv, or Debian/Ubuntu packages.
PYTHON ?= $(shell scripts/find-python 3.12)
# The npm `replicate` client that tests/api/test_js_client.py drives, as tests/js/package-lock.json pins it.
JS_CLIENT := tests/js/node_modules/.installed
# The browser the page tests drive (Debian's chromium; playwright downloads none here).
BROWSER := $(VENV)/.chromium
# The model sandbox (Debian's bubblewrap): every Cog server and build runs inside it.
SANDBOX := $(VENV)/.bwrap

# The Debian packages the examples' cog.yaml files ask for (build.system_packages), e.g. flite.
EXAMPLE_PACKAGES := $(VENV)/.example-packages
# `make run EXAMPLES=all` builds every example before saying it is ready; by default only the first
# two, the rest in the background.
EXAMPLES ?=

.PHONY: run test fuzz install install-dev bench clean

run: $(VENV)/.installed $(SANDBOX) $(EXAMPLE_PACKAGES)
	EXAMPLES=$(EXAMPLES) $(PY) -m cogmill.up

# The layout's import contracts (pyproject.toml: tool.importlinter) first, then every test.
test: $(VENV)/.installed-dev $(JS_CLIENT) $(BROWSER) $(SANDBOX) $(EXAMPLE_PACKAGES)
	$(VENV)/bin/lint-imports
	$(PY) -m pytest $(PYTEST_ARGS)

# A deeper look than `make test` takes: schemathesis with FUZZ_EXAMPLES examples per operation and mode
# against a live server (no 5xx, every answer as documented), stopped after FUZZ_MINUTES. Not in CI.
FUZZ_EXAMPLES ?= 300
FUZZ_MINUTES ?= 30
fuzz: $(VENV)/.installed-dev $(SANDBOX)
	COGMILL_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) timeout --signal=INT $$(( $(FUZZ_MINUTES) * 60 )) \
		$(PY) -m pytest -p no:cacheprovider tests/api/test_schemathesis.py --timeout=0 $(PYTEST_ARGS)

bench: $(VENV)/.installed-dev
	$(PY) bench/overhead.py

install: $(VENV)/.installed $(SANDBOX) $(EXAMPLE_PACKAGES)
install-dev: $(VENV)/.installed-dev $(JS_CLIENT) $(BROWSER) $(SANDBOX) $(EXAMPLE_PACKAGES)

$(VENV)/bin/python:
	@test -n "$(PYTHON)" || { echo "no Python >= 3.12 found and none could be installed" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml $(VENV)/bin/python
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/bin/python
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(VENV)/.installed $@

# Needs Node.js and npm: scripts/find-node installs Debian's when they are missing (as root), or says so.
$(JS_CLIENT): tests/js/package.json tests/js/package-lock.json
	@scripts/find-node 18 >/dev/null
	npm ci --prefix tests/js --no-audit --no-fund
	touch $@

$(BROWSER): $(VENV)/bin/python
	@scripts/find-chromium >/dev/null
	touch $@

$(SANDBOX): $(VENV)/bin/python
	@scripts/find-bwrap >/dev/null
	touch $@

$(EXAMPLE_PACKAGES): $(VENV)/.installed $(wildcard examples/*/cog.yaml)
	$(PY) scripts/example-packages
	touch $@

clean:
	rm -rf $(VENV) .cogmill tests/js/node_modules
