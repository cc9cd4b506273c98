# syntax=docker/dockerfile:1
# One image for both roles: `ballista-flight scheduler` and `ballista-flight executor`
# (the Helm chart in helm/ballista-flight passes the role as the container's args).
#
#   docker build -t ballista-flight:0.1.0 .
#   docker run --rm -p 50050:50050 ballista-flight:0.1.0 standalone --executors 2 --host 0.0.0.0

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# -- builder: build the wheel from the source tree ------------------------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
RUN python -m pip install "build>=1.2"
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m build --wheel --outdir /wheels

# -- runtime: the wheel and its dependencies, nothing else ----------------------
FROM ${PYTHON_IMAGE} AS runtime
ARG UID=10001
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY --from=builder /wheels /wheels
RUN python -m pip install /wheels/*.whl && rm -rf /wheels \
    && groupadd --system --gid ${UID} ballista \
    && useradd --system --uid ${UID} --gid ${UID} --home-dir /var/lib/ballista-flight \
       --no-create-home --shell /usr/sbin/nologin ballista \
    && install -d -o ${UID} -g ${UID} -m 0750 /var/lib/ballista-flight
# The root filesystem may be read-only: everything written goes under the work dir
# (mount a volume there: shuffle files and spills) or TMPDIR (mount an emptyDir at /tmp).
ENV HOME=/var/lib/ballista-flight \
    BALLISTA_FLIGHT_WORK_DIR=/var/lib/ballista-flight \
    BALLISTA_FLIGHT_HOST=0.0.0.0
WORKDIR /var/lib/ballista-flight
# Numeric so that Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER ${UID}:${UID}
# Flight (scheduler 50050, executor 50051) and the HTTP side port (/healthz /readyz /metrics).
EXPOSE 50050 50051 8080
ENTRYPOINT ["ballista-flight"]
CMD ["--help"]
