# Two entry points: `make run` (local AWS emulator + Dagster UI) and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run materialize test benchmark browser-deps postgres-deps format clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(INSTALLED)

run: $(INSTALLED)
	$(BIN)/python -m covid_assets_dev.local_stack dev

materialize: $(INSTALLED)
	$(BIN)/python -m covid_assets_dev.local_stack materialize

benchmark: $(INSTALLED)
	$(BIN)/python -m covid_assets_bench

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

test: $(INSTALLED) browser-deps postgres-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -n auto --dist loadscope

format: $(INSTALLED)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
