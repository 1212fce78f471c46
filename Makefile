# Two commands: `make demo` and `make test`. Each builds the local virtual environment first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
EXTRAS ?= dev

.PHONY: demo data-demo figures test lint notebooks venv clean

venv: $(STAMP)

# torch is pinned in pyproject.toml; installing it first makes pip take the local CPU wheel
# instead of resolving a multi-GB CUDA build through another package's requirement.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	touch $(STAMP)

# the seminar demo with the bundled model: http://127.0.0.1:7860 (Ctrl-C stops it)
demo: $(STAMP)
	$(PY) app.py

# a contact sheet of the synthetic data (out/synth_showcase.png)
data-demo: $(STAMP)
	$(VENV)/bin/ocrlab data showcase

# the README's pictures (docs/figures/*.png) from the bundled model and committed results
figures: $(STAMP)
	$(PY) docs/make_figures.py

# the unit tests, then every notebook executed on the tiny preset (OCRLAB_QUICK=1)
test: $(STAMP)
	$(VENV)/bin/ruff check ocrlab tests app.py
	$(PY) -m pytest -n 2 --dist loadfile
	OCRLAB_QUICK=1 $(PY) -m pytest -n 2 --nbmake notebooks

notebooks: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks

lint: $(STAMP)
	$(VENV)/bin/ruff check ocrlab tests app.py
	$(VENV)/bin/ruff format --check ocrlab tests

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
