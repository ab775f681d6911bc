#!/usr/bin/env bash
# Build the rtw container image with podman + runc (no Docker engine, no registry needed).
#
#   1. installs podman, runc and debootstrap if missing (one apt-get update);
#   2. builds the base image localhost/rtw-base:bookworm from Debian packages with debootstrap,
#      from this machine's own apt mirror, unless it already exists (rootfs tarball cached
#      under .tools/container/);
#   3. builds localhost/rtw:<version> from ./Dockerfile with BASE_IMAGE=localhost/rtw-base:bookworm.
#
# Podman runs with a private containers.conf (.tools/container/containers.conf, selected via
# CONTAINERS_CONF) so nothing global changes: runc instead of crun and no default ulimits
# (crun fails here on hybrid cgroups and on raising RLIMIT_NPROC). Export the same CONTAINERS_CONF
# to run the image by hand. Idempotent: a second run only rebuilds what changed (layer cache).
#
# Env: RTW_IMAGE (default localhost/rtw:<version from pyproject.toml>),
#      RTW_BASE_IMAGE (default localhost/rtw-base:bookworm), REBUILD_BASE=1 to rebuild the base.
# A base this script made carries the label org.rtw.base-recipe; when the recipe below changes,
# the base is rebuilt. A base from elsewhere (e.g. python:3.12-slim tagged with that name, as
# GitHub Actions does) has no such label and is used as it is.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOLS_DIR="${REPO_ROOT}/.tools/container"
VERSION="$(sed -n 's/^version = "\(.*\)"$/\1/p' "${REPO_ROOT}/pyproject.toml" | head -1)"
IMAGE="${RTW_IMAGE:-localhost/rtw:${VERSION}}"
BASE_IMAGE="${RTW_BASE_IMAGE:-localhost/rtw-base:bookworm}"
SUITE=bookworm
BASE_PACKAGES=python3,python3-venv,ca-certificates
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
# What the base leaves out, as Debian's slim images do: apt lists and caches, docs, man pages,
# translations (33 MB; a worker logs in English).
SLIM_PATHS=('var/lib/apt/lists/*' 'var/cache/apt/*.bin' 'var/cache/apt/archives/*.deb'
  'usr/share/doc/*' 'usr/share/man/*' 'usr/share/info/*' 'usr/share/locale/*')
RECIPE="$(printf '%s\n' "${SUITE}" "${BASE_PACKAGES}" "${SLIM_PATHS[@]}" | sha256sum | cut -c1-12)"

log() { echo "build-image: $*" >&2; }
t0=$(date +%s)
lap=${t0}
timing() {
  local now
  now=$(date +%s)
  log "$1 took $((now - lap))s"
  lap=${now}
}

mkdir -p "${TOOLS_DIR}"

# 1. Packages: podman and runc always; debootstrap only when the base image has to be built
# (GitHub Actions tags a registry base instead and never needs it).
need=()
for tool in podman runc; do
  command -v "${tool}" >/dev/null 2>&1 || need+=("${tool}")
done
if [[ "${REBUILD_BASE:-0}" == 1 ]] || ! command -v podman >/dev/null 2>&1 \
  || ! podman image exists "${BASE_IMAGE}"; then
  command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
fi
if ((${#need[@]})); then
  sudo=()
  if ((EUID != 0)); then
    command -v sudo >/dev/null 2>&1 || { log "error: need root (or sudo) to install ${need[*]}"; exit 1; }
    sudo=(sudo)
  fi
  log "installing ${need[*]}"
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
timing "packages"

# 2. Private podman configuration.
if [[ -z "${CONTAINERS_CONF:-}" ]]; then
  export CONTAINERS_CONF="${TOOLS_DIR}/containers.conf"
  cat >"${CONTAINERS_CONF}.tmp" <<'EOF'
# Written by deploy/tools/build-image.sh; used via CONTAINERS_CONF.
[containers]
default_ulimits = []

[engine]
runtime = "runc"
EOF
  mv "${CONTAINERS_CONF}.tmp" "${CONTAINERS_CONF}"
fi
log "CONTAINERS_CONF=${CONTAINERS_CONF}"

# 3. Base image from Debian packages.
base_recipe=""
if podman image exists "${BASE_IMAGE}"; then
  base_recipe="$(podman image inspect --format '{{index .Labels "org.rtw.base-recipe"}}' \
    "${BASE_IMAGE}" 2>/dev/null || true)"
  [[ "${base_recipe}" == "<no value>" ]] && base_recipe=""
  if [[ -n "${base_recipe}" && "${base_recipe}" != "${RECIPE}" ]]; then
    log "base image ${BASE_IMAGE} was made by an older recipe (${base_recipe}): rebuilding"
    REBUILD_BASE=1
  fi
fi
if [[ "${REBUILD_BASE:-0}" == 1 ]] || ! podman image exists "${BASE_IMAGE}"; then
  tarball="${TOOLS_DIR}/rootfs-${SUITE}-${RECIPE}.tar"
  if [[ "${REBUILD_BASE:-0}" == 1 || ! -s "${tarball}" ]]; then
    ((EUID == 0)) || { log "error: debootstrap needs root"; exit 1; }
    mirror="$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)"
    mirror="${mirror:-http://deb.debian.org/debian}"
    rootfs="$(mktemp -d "${TOOLS_DIR}/rootfs.XXXXXX")"
    trap 'rm -rf "${rootfs}"' EXIT
    log "debootstrap ${SUITE} (${BASE_PACKAGES}) from ${mirror}"
    debootstrap --variant=minbase --include="${BASE_PACKAGES}" "${SUITE}" "${rootfs}" "${mirror}" \
      >"${TOOLS_DIR}/debootstrap.log" 2>&1 \
      || { tail -20 "${TOOLS_DIR}/debootstrap.log" >&2; exit 1; }
    for path in "${SLIM_PATHS[@]}"; do
      # shellcheck disable=SC2086  # the pattern globs inside the rootfs
      rm -rf "${rootfs:?}"/${path}
    done
    tar --numeric-owner -C "${rootfs}" -cf "${tarball}.tmp" .
    rm -f "${TOOLS_DIR}/rootfs-${SUITE}"*.tar  # tarballs of older recipes
    mv "${tarball}.tmp" "${tarball}"
    rm -rf "${rootfs}"
    trap - EXIT
    timing "debootstrap"
  else
    log "reusing cached rootfs ${tarball}"
  fi
  podman import --quiet \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    --change "LABEL org.rtw.base-recipe=${RECIPE}" \
    "${tarball}" "${BASE_IMAGE}" >/dev/null
  timing "import ${BASE_IMAGE}"
else
  log "base image ${BASE_IMAGE} present"
fi

# 4. The rtw image.
build_args=(--build-arg "BASE_IMAGE=${BASE_IMAGE}")
# The host's pip config (/etc/pip.conf, /etc/xdg/pip) is not visible inside the build and is not
# needed: Debian's venv pip trusts the system CA bundle, which is mounted over the base image's,
# so PyPI works through the TLS-intercepting proxy as is.
volumes=()
[[ -f "${CA_BUNDLE}" ]] && volumes+=(-v "${CA_BUNDLE}:${CA_BUNDLE}:ro")
previous="$(podman image inspect --format '{{.Id}}' "${IMAGE}" 2>/dev/null || true)"
log "building ${IMAGE} from ${REPO_ROOT}/Dockerfile"
# --format docker keeps the Dockerfile's HEALTHCHECK (the OCI format drops it).
podman build --format docker --network=host "${volumes[@]}" "${build_args[@]}" \
  --label "org.opencontainers.image.version=${VERSION}" \
  -t "${IMAGE}" -f "${REPO_ROOT}/Dockerfile" "${REPO_ROOT}"
timing "podman build"
# Drop the image this build replaced (now untagged) so rebuilds do not pile up; the layer cache
# of the current build is kept.
current="$(podman image inspect --format '{{.Id}}' "${IMAGE}")"
if [[ -n "${previous}" && "${previous}" != "${current}" ]]; then
  podman rmi "${previous}" >/dev/null 2>&1 || true
fi
log "done: ${IMAGE} ($(podman image inspect --format '{{.Size}}' "${IMAGE}" \
  | awk '{printf "%.0f MB", $1/1e6}')) in $(($(date +%s) - t0))s"
