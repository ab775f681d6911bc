# syntax=docker/dockerfile:1
# One image for every rtw worker; the command picks the queue:
#   docker run rtw worker payments --health-port 8080
# BASE_IMAGE must provide python3 (>= 3.11) with venv. CI builds it from Debian packages
# (deploy/tools/build-image.sh). The default is a registry tag, not a digest: pin it as
# python:3.12-slim@sha256:<digest> where you build from a registry.
ARG BASE_IMAGE=python:3.12-slim

# Build stage: a venv holding exactly the locked runtime dependencies and rtw, byte-compiled.
# pip runs from its own venv (/opt/pip) and installs into /opt/rtw, which gets no pip,
# setuptools or wheel of its own.
FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python3 -m venv /opt/pip && python3 -m venv --without-pip /opt/rtw
# Dependencies first, from the hashed lock (`make lock`): this layer is reused until it changes.
# The Rust sources of the SDK's native core ship in its wheel (12 MB); nothing reads them.
COPY requirements/image.lock requirements/
RUN /opt/pip/bin/pip --python /opt/rtw/bin/python install \
      --require-hashes --no-deps --only-binary=:all: -r requirements/image.lock \
    && rm -rf /opt/rtw/lib/python3*/site-packages/temporalio/bridge/sdk-core
# Then rtw itself: no dependencies of its own beyond the lock (tests/deploy keep them in step).
COPY pyproject.toml README.md ./
COPY services ./services
RUN /opt/pip/bin/pip --python /opt/rtw/bin/python install --no-deps . \
    && /opt/rtw/bin/rtw --help >/dev/null

# Runtime stage: the base, a user, and the venv. No build tools, no Temporal server.
FROM ${BASE_IMAGE} AS runtime
LABEL org.opencontainers.image.title="rtw" \
      org.opencontainers.image.description="rtw workers (orchestration, payments, notifications)"
ENV PATH=/opt/rtw/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    RTW_DATA_DIR=/var/lib/rtw \
    RTW_LOG_FORMAT=json \
    RTW_HEALTH_PORT=8080
RUN groupadd --system --gid 10001 rtw \
    && useradd --system --uid 10001 --gid rtw --home-dir /nonexistent --shell /usr/sbin/nologin rtw \
    && mkdir -p /var/lib/rtw && chown rtw:rtw /var/lib/rtw
COPY --from=build /opt/rtw /opt/rtw
COPY deploy/examples /opt/rtw/examples
USER 10001:10001
WORKDIR /var/lib/rtw
EXPOSE 8080 9464
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('RTW_HEALTH_PORT', '8080'), timeout=2)"]
ENTRYPOINT ["rtw"]
CMD ["worker", "orchestration"]
