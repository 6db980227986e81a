# lpz: make quickstart (train the quickstart config), make test (the whole suite, services included).
VENV   ?= .venv
PYTHON ?= python3
BIN     = $(VENV)/bin
PIP     = $(BIN)/pip install -q -c constraints.txt

.PHONY: install install-test quickstart test test-all test-fast test-compose services-start services-stop bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) -e '.[test]' tensorboard
	@# The report's browser test needs Debian's chromium, the Fashion-MNIST tests Debian's
	@# dataset-fashion-mnist (the official IDX files); installed here, never in a test.
	@command -v chromium >/dev/null || infra/apt-install.sh chromium || \
	  echo "chromium could not be installed: make test will fail its browser tests (other runs skip them)"
	@test -d /usr/share/datasets/fashion-mnist || infra/apt-install.sh dataset-fashion-mnist || \
	  echo "dataset-fashion-mnist could not be installed: make test will fail its Fashion-MNIST tests (other runs skip them)"
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

quickstart: install
	$(BIN)/lpz run configs/quickstart.yml

# Starts our own Redis and SeaweedFS S3 server on free loopback ports, runs the
# suite but the long tests (outages of a minute, heavy references; CI runs this),
# and stops them (a Redis or S3 server someone else runs is never touched).
# PYTEST_PROCS test processes (pytest-xdist; a file's tests stay in one process;
# 0: all in this one); the slowest tests are listed at the end.
PYTEST_ARGS  ?= -m "not long"
PYTEST_PROCS ?= 2
test: install-test
	@set -e; infra/services.sh start; \
	trap 'infra/services.sh stop' EXIT; \
	. .services/env; LPZ_TEST_STRICT=1 $(BIN)/python -m pytest -ra -n $(PYTEST_PROCS) --dist loadfile \
	  --durations=20 $(PYTEST_ARGS)

# Everything, the long tests included.
test-all:
	$(MAKE) test PYTEST_ARGS=""

# Only the quick unit tests: no services, no browser, nothing over about eight seconds.
test-fast: install-test
	$(BIN)/python -m pytest -ra -n $(PYTEST_PROCS) -m "unit and not slow"

# docker-compose.yml built and run on podman through its own services, with stand-ins for the public
# images (infra/compose-test.sh says what it checks). Sets up podman and the images the first time
# (about 6 minutes), then about 4 minutes; never more than 30.
$(VENV)/.installed-compose: $(BIN)/python
	$(PIP) podman-compose==1.6.0
	touch $@

test-compose: $(VENV)/.installed-compose
	PY=$(BIN)/python PODMAN_COMPOSE=$(BIN)/podman-compose timeout -k 60 1800 nice -n 10 infra/compose-test.sh

services-start:
	infra/services.sh start

services-stop:
	infra/services.sh stop

bench: install
	$(BIN)/python bench/quality_toy.py

clean:
	rm -rf $(VENV) lpz-store samples reports .services .pytest_cache
