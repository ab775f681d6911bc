# syntax=docker/dockerfile:1
# One image for every rtw worker; the command picks the queue:
#   docker run rtw worker payments --health-port 8080
# Two bases, both Debian 12 with its Python 3.11, pinned by digest in the two stages below
# (refresh a digest with `docker buildx imagetools inspect <image>:<tag>`; Dependabot does it
# weekly, .github/dependabot.yml):
#   BUILD_IMAGE    debian:bookworm-slim; the build stage adds python3-venv and binutils if missing;
#   RUNTIME_IMAGE  distroless python3-debian12: Python and the libraries it needs, no shell, no apt.
# Each base is a stage of its own because Dependabot updates the digests of FROM lines only, not
# ARG values (dependabot/dependabot-core#2057). The ARG defaults name those stages, which BuildKit
# resolves (moby/buildkit v0.32.2, frontend/dockerfile/dockerfile2llb/convert.go: the expanded
# base name is looked up among the stages). Buildah (podman build) takes an ARG value as an image
# name only, so deploy/tools/build-image.sh always passes images: the ones named on the two FROM
# lines, or bases it builds from Debian packages (localhost/rtw-base and rtw-runtime:bookworm).
ARG BUILD_IMAGE=debian-bookworm-slim
ARG RUNTIME_IMAGE=distroless-python3
FROM docker.io/library/debian:bookworm-slim@sha256:3783cc01769c7b2b1b83a5c5ad96c815348e28ed7da68e2e3687004faa906251 AS debian-bookworm-slim
FROM gcr.io/distroless/python3-debian12:nonroot@sha256:17b27c84c985a53d0cd2adef4f196ca327fa9b6755369be605cf45533b4e700b AS distroless-python3

# Build stage: a venv holding exactly the locked runtime dependencies and rtw, byte-compiled,
# native libraries stripped. pip runs from its own venv (/opt/pip) and installs into /opt/rtw,
# which gets no pip, setuptools or wheel of its own. The venv's python is /usr/bin/python3.11,
# the same path in both bases.
FROM ${BUILD_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# Debian 12's own python3.11, whatever point release the base carries:
# hadolint ignore=DL3008
RUN if ! command -v strip >/dev/null || ! python3.11 -c 'import ensurepip' 2>/dev/null; then \
      apt-get update \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
         python3.11-venv binutils \
      && rm -rf /var/lib/apt/lists/*; \
    fi
WORKDIR /src
RUN python3.11 -m venv /opt/pip && python3.11 -m venv --without-pip /opt/rtw
# Dependencies first, from the hashed lock (`make lock`): this layer is reused until it changes.
# The Rust sources of the SDK's native core ship in its wheel (12 MB); nothing reads them.
# Debug symbols of the native libraries (15 MB) are stripped.
COPY requirements/image.lock requirements/
RUN /opt/pip/bin/pip --python /opt/rtw/bin/python install \
      --require-hashes --no-deps --only-binary=:all: -r requirements/image.lock \
    && rm -rf /opt/rtw/lib/python3*/site-packages/temporalio/bridge/sdk-core \
    && find /opt/rtw -type f -name '*.so*' -exec strip --strip-unneeded {} +
# Then rtw itself: no dependencies of its own beyond the lock (tests/deploy keep them in step).
COPY pyproject.toml README.md ./
COPY services ./services
RUN /opt/pip/bin/pip --python /opt/rtw/bin/python install --no-deps . \
    && /opt/rtw/bin/rtw --help >/dev/null
# The runtime has no shell: its user and its data directory are made here.
RUN mkdir -p /rootfs/etc /rootfs/var/lib/rtw \
    && printf '%s\n' 'root:x:0:0:root:/root:/usr/sbin/nologin' \
       'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin' \
       'rtw:x:10001:10001:rtw:/nonexistent:/usr/sbin/nologin' >/rootfs/etc/passwd \
    && printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' 'rtw:x:10001:' >/rootfs/etc/group

# Runtime stage: Python, the venv, a user. No shell, no package manager, no Temporal server.
FROM ${RUNTIME_IMAGE} AS runtime
LABEL org.opencontainers.image.title="rtw" \
      org.opencontainers.image.description="rtw workers (orchestration, payments, notifications)"
ENV PATH=/opt/rtw/bin:/usr/local/bin:/usr/bin:/bin \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    RTW_DATA_DIR=/var/lib/rtw \
    RTW_LOG_FORMAT=json \
    RTW_HEALTH_PORT=8080 \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
COPY --from=build /rootfs/etc/passwd /rootfs/etc/group /etc/
COPY --from=build --chown=10001:10001 /rootfs/var/lib/rtw /var/lib/rtw
COPY --from=build /opt/rtw /opt/rtw
COPY deploy/examples /opt/rtw/examples
USER 10001:10001
WORKDIR /var/lib/rtw
EXPOSE 8080 9464
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('RTW_HEALTH_PORT', '8080'), timeout=2)"]
ENTRYPOINT ["rtw"]
CMD ["worker", "orchestration"]
