# Two commands do all the set-up on a fresh machine:
#   make report  create .venv when absent, install actlab with PyTorch (CPU) and the experiments'
#                packages, and write the lab report to actlab-report/ (make demo is the same)
#   make test    create .venv when absent, install actlab with its test tools, PyTorch (CPU), JAX and
#                Flax (CPU), and the experiment datasets' packages, and run the tests
# and one more for the model-compatibility tests (tiny transformers and timm models, compiled and exported):
#   make compat  create .venv-compat (torch and torchvision that timm imports together: several GB)
#                and run the tests marked compat
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
PIP     = $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt

REPORT ?= actlab-report

COMPAT  = .venv-compat

.PHONY: report demo test compat install install-report install-test accuracy clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

install: $(BIN)/python
	$(PIP) -e .

install-test: $(BIN)/python
	$(PIP) -e '.[test,torch,jax,experiments,hf,cluster]'

install-report: $(BIN)/python
	$(PIP) -e '.[torch,experiments]'

report: install-report  # ends by printing where to open it: open actlab-report/index.html
	$(BIN)/actlab report -o $(REPORT)

demo: report

test: install-test  # the test files spread over one process per CPU core (pytest-xdist), a file to a process
	$(BIN)/python -m pytest -n auto --dist loadfile

$(COMPAT)/bin/python:
	$(PYTHON) -m venv $(COMPAT)

compat: $(COMPAT)/bin/python
	$(COMPAT)/bin/python -m pip install --quiet --disable-pip-version-check -c constraints-compat.txt -e '.[test,compat]'
	$(COMPAT)/bin/python -m pytest -m compat tests/compat

accuracy: install
	$(BIN)/actlab accuracy

clean:
	rm -rf $(VENV) $(COMPAT) .pytest_cache .hypothesis
