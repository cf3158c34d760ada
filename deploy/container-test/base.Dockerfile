# Local stand-in for python:3.11-slim-bookworm, for `make container-test` only (Docker Hub cannot be reached
# there). Built on a debootstrapped bookworm root file system; the project's Dockerfile takes it through its
# PYTHON_IMAGE argument. What the Dockerfile's stages expect of the official image: `python` on PATH, `python -m
# venv` with pip, apt with Debian's archive, groupadd/useradd.
ARG ROOTFS
FROM ${ROOTFS}
ENV LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.11 python3-venv python-is-python3 ca-certificates \
    && rm -rf /var/lib/apt/lists/*
# This machine's local certificate authorities (the build context's certs/, taken from
# /usr/local/share/ca-certificates): https to PyPI and npm goes through them here. They live in this test image
# only, never in the project's Dockerfile. pip and npm read their own bundles unless told to use the system's.
COPY certs/ /usr/local/share/ca-certificates/
RUN update-ca-certificates
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
CMD ["python3"]
