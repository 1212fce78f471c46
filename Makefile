# Two commands: `make demo` and `make test`. Each builds the local virtual environment first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
EXTRAS ?= dev

.PHONY: demo test lint venv clean

venv: $(STAMP)

# torch is pinned in pyproject.toml; installing it first makes pip take the local CPU wheel
# instead of resolving a multi-GB CUDA build through another package's requirement.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/ocrlab demo

test: $(STAMP)
	$(VENV)/bin/ruff check ocrlab tests
	$(PY) -m pytest -n 2 --dist loadfile

lint: $(STAMP)
	$(VENV)/bin/ruff check ocrlab tests app.py
	$(VENV)/bin/ruff format --check ocrlab tests

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
