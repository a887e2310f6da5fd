# Two commands do all the set-up on a fresh machine:
#   make demo   create .venv when absent, install actlab, and run the main job
#   make test   create .venv when absent, install actlab with its test tools, PyTorch (CPU) and the
#               experiment datasets' packages, and run the tests
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
PIP     = $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: demo test install install-test accuracy clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

install: $(BIN)/python
	$(PIP) -e .

install-test: $(BIN)/python
	$(PIP) -e '.[test,torch,experiments]'

demo: install
	$(BIN)/actlab list
	$(BIN)/actlab show gelu

test: install-test
	$(BIN)/python -m pytest

accuracy: install
	$(BIN)/actlab accuracy

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
