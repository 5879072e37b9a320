# Every target creates .venv on first use, so a fresh clone needs only Python 3.11+
# (and redis-server for the tests, which start their own private instance).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The default editable install maps daypart.* onto the three folders through an import hook,
# so new modules are picked up without reinstalling. mypy does not follow that hook; it reads
# build/typecheck/daypart/, a tree of folder links (docs/development.md).
TYPECHECK := build/typecheck

.PHONY: demo test lint bench bench-instructions bench-served accuracy simulate load memory screenshots clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.deps-demo: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[demo]'
	touch $@

$(VENV)/.deps-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[demo,test,lint,load]'
	touch $@ $(VENV)/.deps-demo

$(VENV)/.linked: pyproject.toml | $(VENV)/.deps-demo
	mkdir -p $(TYPECHECK)/daypart
	for pkg in middleware experiments rules; do ln -sfn ../../../$$pkg $(TYPECHECK)/daypart/$$pkg; done
	touch $@

demo: $(VENV)/.linked
	DAYPART_STORE=$${DAYPART_STORE:-memory://} $(BIN)/daypart demo --host 127.0.0.1 --port 8000 \
		$(if $(DEMO_AT),--at $(DEMO_AT))

test: $(VENV)/.deps-dev $(VENV)/.linked
	$(BIN)/python -m pytest -q

lint: $(VENV)/.deps-dev $(VENV)/.linked
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	cd $(TYPECHECK) && $(CURDIR)/$(BIN)/mypy --config-file $(CURDIR)/pyproject.toml -p daypart
	MYPYPATH=$(TYPECHECK) $(BIN)/mypy loadtests tests

bench: $(VENV)/.deps-dev $(VENV)/.linked
	$(BIN)/python -m loadtests.bench

bench-instructions: $(VENV)/.deps-dev $(VENV)/.linked
	$(BIN)/python -m loadtests.instructions

# Served throughput: uvicorn on one core, wrk (apt-get install wrk) on the other. Options,
# e.g. BENCH_SERVED_ARGS="--quick" or "--rounds 9 --profile build/profiles".
bench-served: $(VENV)/.deps-dev $(VENV)/.linked
	$(BIN)/python -m loadtests.bench_served $(BENCH_SERVED_ARGS)

accuracy: $(VENV)/.deps-dev $(VENV)/.linked
	$(BIN)/python -m loadtests.device_accuracy

simulate: $(VENV)/.deps-dev $(VENV)/.linked
	$(BIN)/python -m loadtests.gates

# The analysts' docs' pictures of the board and an experiment page (needs chromium).
screenshots: $(VENV)/.deps-dev $(VENV)/.linked
	$(BIN)/python -m loadtests.screenshots

load: $(VENV)/.deps-dev $(VENV)/.linked
	$(BIN)/python -m loadtests.load

# A worker's RSS under 1,000,000 hostile requests (MEMORY_ARGS="--requests 100000" for less).
memory: $(VENV)/.deps-dev $(VENV)/.linked
	$(BIN)/python -m loadtests.memory $(MEMORY_ARGS)

clean:
	rm -rf $(VENV) build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache .hypothesis
