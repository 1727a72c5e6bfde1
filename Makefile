# BlendMask Lab — the two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NOTEBOOK_TIMEOUT ?= 600

.PHONY: setup demo test test-imports test-unit test-notebooks lab bench lint clean

setup: $(STAMP)

# Re-installs only when the dependency files change (a second `make` does nothing).
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/blendmask demo

test: test-imports test-unit test-notebooks

# The layers contract in pyproject.toml: application > viz > analysis > model package.
test-imports: $(STAMP)
	$(VENV)/bin/lint-imports

test-unit: $(STAMP)
	$(PY) -m pytest tests

test-notebooks: $(STAMP)
	BLENDMASK_SMOKE=1 MPLBACKEND=Agg $(PY) -m pytest --nbval-lax --nbval-current-env \
		--nbval-cell-timeout=$(NOTEBOOK_TIMEOUT) notebooks

lab: $(STAMP)
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root,)

bench: $(STAMP)
	$(PY) -m benchmarks.run --out outputs/bench.json

lint: test-imports
	$(VENV)/bin/ruff check blendmask viz tests benchmarks
	$(VENV)/bin/ruff format --check blendmask viz tests benchmarks

clean:
	rm -rf $(VENV) outputs .pytest_cache .ruff_cache
