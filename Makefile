# `make demo` runs the main job on the embedded default; `make test` runs ruff and the tests.
# Both create .venv when it is missing and install the project into it (torch pinned to the
# CPU wheel through constraints.txt).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export WANDB_MODE ?= disabled

.PHONY: install demo test lint bench readme-check clean

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev,ray]'
	touch $@

install: $(VENV)/.installed

# The main job on the embedded default: search a student + recipe for scikit-learn's digits, with a
# VGG teacher (a family the shipped predictor never saw), under a 20k-parameter budget.
demo: install
	rm -rf runs/demo
	$(PY) -m dass search --task digits --teacher vgg-s --objective params --max-params 20000 --seed 0 --out runs/demo

lint: install
	$(VENV)/bin/ruff check .

test: lint
	$(VENV)/bin/pytest -q

bench: install
	$(PY) -m benchmarks.kd_overhead

# Rerun the README's examples, as a new user would (fresh teacher cache), and compare what they print with what
# the README shows (minutes: it trains two teachers and runs the demo's search). `--write` updates the README.
readme-check: install
	$(PY) -m benchmarks.readme_examples --check

clean:
	rm -rf runs .pytest_cache
