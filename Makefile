# Two commands on a fresh machine: `make run` and `make test`. Both build the virtual
# environment in .venv/ first (only when pyproject.toml changed since the last build).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test check bench lint clean browser-deps

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/returnhub init
	$(BIN)/returnhub serve

# Two phases, both always run; the target fails when either does. First every test not marked
# `serial`, on PYTEST_WORKERS processes (pytest-xdist): the suite mostly waits (subprocesses,
# fsyncs, local fakes), so two workers nearly halve its time on two cores (a third, tried on a
# slow day, saved nothing and made wall-clock-timed tests fail). Work stealing, not
# xdist's default chunks: a chunk of slow integration tests kept one worker busy minutes after
# the other had finished. Then the `serial` tests alone: the chaos runs restart the PostgreSQL
# server every other test shares.
PYTEST_WORKERS ?= 2
test: $(STAMP) browser-deps
	@status=0; \
	echo "== make test, phase 1 of 2: all but the serial tests, on $(PYTEST_WORKERS) workers"; \
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist worksteal -m "not serial" \
		|| status=1; \
	echo "== make test, phase 2 of 2: the serial tests, alone"; \
	$(BIN)/python -m pytest -q -m serial || status=1; \
	exit $$status

# The browser tests drive Debian's Chromium (Playwright downloads no browser here). Installed
# when missing and we are root; otherwise a no-op (the tests then skip, or fail when CI=true).
CHROMIUM ?= /usr/bin/chromium
browser-deps:
	@if [ ! -x "$(CHROMIUM)" ] && [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium for the browser tests (apt-get)"; \
		( apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
			>/dev/null ) \
		|| echo "warning: could not install chromium; the browser tests will not run"; \
	fi

check: $(STAMP)
	$(BIN)/returnhub check

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python bench/run.py --install-wrk

clean:
	rm -rf $(VENV) data/ .pytest_cache
