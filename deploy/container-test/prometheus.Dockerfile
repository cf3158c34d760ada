# Local stand-in for prom/prometheus, for `make container-test` only: Debian's prometheus package on the local
# base image. Like the official image it runs as nobody, keeps its data in /prometheus and takes only flags as
# its command (docker-compose.yml gives them).
ARG BASE
FROM ${BASE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends prometheus \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /prometheus \
    && chown nobody:nogroup /prometheus
USER nobody
WORKDIR /prometheus
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
