# The README's two commands. Each one works on a fresh machine with nothing but Python 3.11+:
# both install exactly what uv.lock pins (uv itself, pinned below, goes into .tools), so a
# fresh machine runs what the suite was last run with.
PYTHON     ?= python3
VENV       := .venv
BIN        := $(VENV)/bin
STAMP      := $(VENV)/.installed
UV_VERSION := 0.13.9
TOOLS      := .tools
UV         := $(TOOLS)/bin/uv

# uv uses this machine's Python (never downloads one) and installs into .venv.
export UV_PYTHON_DOWNLOADS     := never
export UV_PROJECT_ENVIRONMENT  := $(VENV)

.PHONY: demo test audit node-tools contracts lock lock-upgrade lock-check lint typecheck bench \
	bench-dataset bench-resolve bench-server bench-signals bench-chain clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# (Re)install when the venv is missing or the lock or pyproject.toml changed since the last
# install. --frozen: install the lock as it is, never re-resolve.
$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --all-extras --python $(PYTHON)
	touch $(STAMP)

# The npm tools the chain tests and `demo --chain` use (package.json: anvil, OpenZeppelin's
# Merkle tree), exactly as package-lock.json pins them; reinstalled only when either changes.
NODE_STAMP := node_modules/.installed
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

node-tools: $(NODE_STAMP)

# Compile contracts/*.vy with the pinned Vyper and snekmate into the artifact cache
# (crowdalpha.chain.artifacts; a no-op when the sources are unchanged).
contracts: $(STAMP)
	$(BIN)/python -c "from crowdalpha.chain.artifacts import compile_all; compile_all()"

demo: $(STAMP) $(NODE_STAMP) contracts
	$(BIN)/crowdalpha demo

# Two pytest workers (pytest-xdist), each file on one worker so module fixtures are built once.
test: lock-check $(STAMP) $(NODE_STAMP) contracts
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/mypy
	$(BIN)/python -m pytest -n 2 --dist loadfile

# Known vulnerabilities in the locked dependencies (uv audit against OSV; fails on one with a
# fix available, reports the rest; skipped offline).
audit: $(UV)
	UV=$(UV) PYTHON=$(PYTHON) bash .ci/audit

# After editing the dependencies in pyproject.toml: re-resolve what changed, keep the rest.
lock: $(UV)
	$(UV) lock --python $(PYTHON)

# Every dependency to its newest release that pyproject.toml allows (then run `make test`).
lock-upgrade: $(UV)
	$(UV) lock --upgrade --python $(PYTHON)

# Fails when uv.lock no longer matches pyproject.toml (someone forgot `make lock`).
lock-check: $(UV)
	$(UV) lock --check --python $(PYTHON)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/scoring.py

bench-dataset: $(STAMP)
	$(BIN)/python benchmarks/dataset.py

bench-resolve: $(STAMP)
	$(BIN)/python benchmarks/resolve.py

bench-server: $(STAMP)
	$(BIN)/python benchmarks/server.py --workers 2

bench-signals: $(STAMP)
	$(BIN)/python benchmarks/signals.py

bench-chain: $(STAMP) $(NODE_STAMP) contracts
	$(BIN)/python benchmarks/chain.py

clean:
	rm -rf $(VENV) $(TOOLS) node_modules .pytest_cache .mypy_cache .ruff_cache build dist
