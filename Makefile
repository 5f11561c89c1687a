# Two entry points on a fresh clone: `make test` and `make demo`. Every target installs what it needs, once:
# stamp files make re-runs fast when nothing changed.
SHELL := /bin/bash
VENV := .venv
PY := $(CURDIR)/$(VENV)/bin/python
SOLC_VERSION := 0.8.28
ANVIL_DIR := $(CURDIR)/node_modules/@foundry-rs/anvil-linux-amd64/bin
export SOLCX_BINARY_PATH := $(CURDIR)/.solcx
export PATH := $(CURDIR)/$(VENV)/bin:$(ANVIL_DIR):$(PATH)

PY_STAMP := $(VENV)/.installed
NPM_STAMP := node_modules/.installed
SOLC := .solcx/solc-v$(SOLC_VERSION)
ARTIFACTS := oracle/artifacts/.built
DEBIAN_STAMP := $(VENV)/.debian-packages
SOURCES := $(shell find contracts -name '*.sol' -not -path '*/.cache/*')

.PHONY: install test fuzz soak load demo bench-gas bench-risk bench-reaction bench-backtest bench-bundle bench-evaluate bench-portfolio bench-cycle bench-onchain-feeds bench-archive bench-store soak-cycle evaluate calibrate lint slither clean

install: $(PY_STAMP) $(NPM_STAMP) $(SOLC) $(ARTIFACTS) $(DEBIAN_STAMP)

$(PY_STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $@

# Debian packages: chromium and chromedriver (the dashboard tests drive a real headless browser),
# prometheus for promtool (the alert rules are checked by Prometheus itself).
$(DEBIAN_STAMP):
	command -v chromium >/dev/null && command -v chromedriver >/dev/null && command -v promtool >/dev/null || \
		(apt-get update -q && apt-get install -y -q --no-install-recommends chromium chromium-driver prometheus)
	mkdir -p $(dir $@) && touch $@

$(NPM_STAMP): package.json package-lock.json
	command -v npm >/dev/null || (apt-get update -q && apt-get install -y -q nodejs npm)
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# py-solc-x runs `$SOLCX_BINARY_PATH/solc-v<version>`: point it at the solc-js wrapper (see scripts/solc.js).
$(SOLC): scripts/solc.js $(NPM_STAMP)
	mkdir -p .solcx
	printf '#!/bin/sh\nexec node "%s/scripts/solc.js" "$$@"\n' "$(CURDIR)" > $@
	chmod +x $@

$(ARTIFACTS): $(PY_STAMP) $(SOLC) $(SOURCES) ape-config.yaml
	ape pm install
	# --force: ape's incremental build recompiles changed files but not the contracts importing them
	ape compile --force
	$(PY) scripts/export_artifacts.py
	touch $@

test: install
	ape test tests -q --durations=15

fuzz: install
	ape test tests -q -m fuzz -p no:cacheprovider

soak: install
	ape test tests -q -s -m soak -p no:cacheprovider

load: install
	ape test tests/keeper/test_load.py -q -s -m "load or not load" -p no:cacheprovider

demo: install
	$(PY) scripts/demo.py

bench-gas: install
	$(PY) scripts/bench_gas.py

# walk-forward portfolio-margin backtest on the shipped history; writes reports/portfolio-margin.md
bench-portfolio: install
	$(PY) scripts/bench_portfolio.py

# seconds per keeper cycle at 50, 200 and 500 markets, batched reads against the sequential path
bench-cycle: install
	$(PY) scripts/bench_cycle.py

# seconds and RPC requests to read 50, 200 and 500 Chainlink feeds on one node: one Multicall3
# request against each feed's own calls
bench-onchain-feeds: install
	$(PY) scripts/bench_onchain_feeds.py

# memory of the batched keeper over 500 markets and 1,000 cycles (about 40 minutes); issue 20's
# whole run is `make soak-cycle SOAK_CYCLES=10000` (7 to 10 hours on 2 cores, a 22 GB store in the temp dir)
SOAK_MARKETS ?= 500
SOAK_CYCLES ?= 1000
soak-cycle: install
	$(PY) scripts/bench_cycle.py --sizes $(SOAK_MARKETS) --cycles 0 --soak $(SOAK_CYCLES) --rss-every 100

bench-risk: install
	$(PY) scripts/bench_risk.py

bench-reaction: install
	$(PY) scripts/bench_reaction.py

bench-archive: install
	$(PY) scripts/bench_archive.py

bench-store: install
	$(PY) scripts/bench_store.py

bench-backtest: install
	$(PY) scripts/bench_backtest.py

bench-bundle: install
	$(PY) scripts/bench_bundle.py

bench-evaluate: install
	$(PY) scripts/bench_evaluate.py

# The walk-forward scorecard and the calibration over every shipped asset (long runs, not in test).
evaluate: install
	$(VENV)/bin/oracle evaluate $(if $(SETTINGS),--settings $(SETTINGS))

calibrate: install
	$(VENV)/bin/oracle calibrate

# Slither pins its own dependencies (crytic-compile, web3 4-era packages): a separate venv keeps ape's intact.
SLITHER_VENV := .venv-slither

lint: install $(SLITHER_VENV)/.installed
	ruff check oracle scripts tests
	ruff format --check oracle scripts tests
	mypy
	lint-imports
	$(SLITHER_VENV)/bin/python scripts/slither_check.py

$(SLITHER_VENV)/.installed:
	test -x $(SLITHER_VENV)/bin/python || python3 -m venv $(SLITHER_VENV)
	$(SLITHER_VENV)/bin/pip install -q --disable-pip-version-check 'slither-analyzer==0.11.6'
	touch $@

slither: install $(SLITHER_VENV)/.installed
	$(SLITHER_VENV)/bin/python scripts/slither_check.py

clean:
	rm -rf .build contracts/.cache oracle/artifacts .solcx
