# The two commands a newcomer needs (see README): `make demo` and `make test`.
# Each sets itself up: a virtual environment in .venv, the package installed into it,
# and the local Apache Kafka broker (resolved from Maven Central, started on loopback).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test unit integration broker-down clean install native pure

# The rules core compiled with mypyc (pipeline/native.py); rebuilt when a source changes. An edited
# source is never shadowed by an older build: the package then imports the core from source.
CORE_SOURCES := $(wildcard pipeline/core/*.py pipeline/core/*/*.py pipeline/native.py)
NATIVE_STAMP := build/native.stamp

$(BIN)/moderation: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,native]'
	touch $(BIN)/moderation

install: $(BIN)/moderation

$(NATIVE_STAMP): $(BIN)/moderation $(CORE_SOURCES) setup.py
	rm -f pipeline/*.so pipeline/*/*.so pipeline/*/*/*.so
	MODERATION_NATIVE=1 $(BIN)/python setup.py --quiet build_ext --inplace --force 2>&1 | grep -v '^\(gcc\|copying\|creating\)' || true
	$(BIN)/python -c 'import pipeline.native as n; m = n.core_mode(); print("rules core:", m); exit(m != "compiled")'
	mkdir -p build && touch $@

native: $(NATIVE_STAMP)

pure:
	rm -f pipeline/*.so pipeline/*/*.so pipeline/*/*/*.so pipeline/core_build.json $(NATIVE_STAMP)

demo: native
	$(BIN)/moderation demo

test: native
	$(BIN)/moderation kafka up
	$(BIN)/pytest -q -n 2 --dist loadfile

unit: native
	$(BIN)/pytest -q tests/unit

broker-down: install
	$(BIN)/moderation kafka down

clean:
	rm -rf $(VENV) var
