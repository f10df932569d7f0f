# The two commands a newcomer needs (see README): `make demo` and `make test`.
# Each sets itself up: a virtual environment in .venv, the package installed into it,
# and the local Apache Kafka broker (resolved from Maven Central, started on loopback).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test unit integration broker-down clean install

$(BIN)/moderation: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(BIN)/moderation

install: $(BIN)/moderation

demo: install
	$(BIN)/moderation demo

test: install
	$(BIN)/moderation kafka up
	$(BIN)/pytest -q

unit: install
	$(BIN)/pytest -q tests/unit

broker-down: install
	$(BIN)/moderation kafka down

clean:
	rm -rf $(VENV) var
