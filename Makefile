# Two entry points: `make run` (local AWS emulator + Dagster UI) and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run topology materialize test replays benchmark smoke browser-deps postgres-deps format clean

# The tests start many interpreters: each module is compiled once, by the first that imports it,
# and kept, even where the environment sets PYTHONDONTWRITEBYTECODE (every one would compile
# Dagster again). Compiling only what is imported costs less than compiling every installed file.
unexport PYTHONDONTWRITEBYTECODE

# uv resolves pyproject.toml as pip does and installs much faster; a clean checkout (CI) pays it.
$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev]'
	touch $(INSTALLED)

run: $(INSTALLED)
	$(BIN)/python -m covid_assets_dev.local_stack dev

# The production topology as processes (PostgreSQL, code server, webserver, daemon), on the emulator.
topology: $(INSTALLED) postgres-deps
	$(BIN)/python -m covid_assets_dev.topology

materialize: $(INSTALLED)
	$(BIN)/python -m covid_assets_dev.local_stack materialize

benchmark: $(INSTALLED)
	$(BIN)/python -m covid_assets_bench

# A deployed system checked from outside: make smoke STACK=<runtime stack> [UI_URL=https://<the
# UI's host>/] (covid_assets_dev/smoke.py; without UI_URL the load balancer's own name is asked).
smoke: $(INSTALLED)
	$(BIN)/python -m covid_assets_dev.smoke --stack $(STACK) $(if $(UI_URL),--ui-url $(UI_URL))

# The browser tests drive Debian's Chromium (CI runs as root). apt-get update only if the
# package lists are too old to install it.
browser-deps:
	@test -x /usr/bin/chromium || DEBIAN_FRONTEND=noninteractive apt-get install -y chromium || \
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }

# The production-instance tests start their own PostgreSQL server from Debian's package.
postgres-deps:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
		DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql || \
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql; }

# Every tier (`pytest -m unit` runs the fast one alone), without the long replays of real files and
# the quick benchmark run whole (`make replays`: minutes of their own). One worker more than there are cores: the
# system tier's tests spend much of their time waiting on the servers they start, and the extra
# worker runs other tests meanwhile. Tests go to workers one by one, but a module whose tests
# share a module fixture (its xdist_group) goes to one worker whole.
test: $(INSTALLED) browser-deps postgres-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -n $$(( $$(nproc) + 1 )) --dist loadgroup -m "not benchmark and not replay"

# The long replays of real files and the quick benchmark run whole, against their own emulators.
replays: $(INSTALLED)
	$(BIN)/pytest -n $$(( $$(nproc) + 1 )) --dist loadgroup -m "benchmark or replay"

format: $(INSTALLED)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
