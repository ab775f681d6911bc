#!/usr/bin/env bash
# Build the rtw container image with podman + runc (no Docker engine, no registry needed).
#
#   1. installs podman, runc and debootstrap if missing (one apt-get update);
#   2. builds two base images from Debian packages with debootstrap, from this machine's own
#      apt mirror, unless they already exist (rootfs tarballs cached under .tools/container/):
#      - localhost/rtw-base:bookworm, the build stage: python3, venv, binutils (to strip);
#      - localhost/rtw-runtime:bookworm, the runtime stage: only the files of the Debian packages
#        Python 3.11 needs (the package set of distroless python3-debian12; no shell, no apt);
#   3. builds localhost/rtw:<version> from ./Dockerfile on those two bases.
#
# Podman runs with a private containers.conf (.tools/container/containers.conf, selected via
# CONTAINERS_CONF) so nothing global changes: runc instead of crun and no default ulimits
# (crun fails here on hybrid cgroups and on raising RLIMIT_NPROC). Export the same CONTAINERS_CONF
# to run the image by hand. Idempotent: a second run only rebuilds what changed (layer cache).
#
# Env: RTW_IMAGE (default localhost/rtw:<version from pyproject.toml>),
#      RTW_BASE_IMAGE (default localhost/rtw-base:bookworm),
#      RTW_RUNTIME_BASE_IMAGE (default localhost/rtw-runtime:bookworm),
#      RTW_BASES_FROM_REGISTRY=1 to build on the Dockerfile's digest-pinned registry bases instead
#      (debian:bookworm-slim and gcr.io/distroless/python3-debian12; needs a reachable registry),
#      REBUILD_BASE=1 to rebuild the local bases.
# A base this script made carries the label org.rtw.base-recipe; when the recipe below changes,
# it is rebuilt. A base from elsewhere has no such label and is used as it is.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOLS_DIR="${REPO_ROOT}/.tools/container"
VERSION="$(sed -n 's/^version = "\(.*\)"$/\1/p' "${REPO_ROOT}/pyproject.toml" | head -1)"
IMAGE="${RTW_IMAGE:-localhost/rtw:${VERSION}}"
BASE_IMAGE="${RTW_BASE_IMAGE:-localhost/rtw-base:bookworm}"
RUNTIME_BASE_IMAGE="${RTW_RUNTIME_BASE_IMAGE:-localhost/rtw-runtime:bookworm}"
FROM_REGISTRY="${RTW_BASES_FROM_REGISTRY:-0}"
SUITE=bookworm
BASE_PACKAGES=python3,python3-venv,ca-certificates,binutils
# The runtime base: these packages' files and nothing else (what distroless python3-debian12
# ships). The chart's helm test and probes run `rtw`/`python3` directly; nothing needs a shell.
RUNTIME_PACKAGES=(base-files tzdata ca-certificates media-types libc6 libgcc-s1 libstdc++6 zlib1g
  libssl3 libffi8 libexpat1 libsqlite3-0 libbz2-1.0 liblzma5 libuuid1 libncursesw6 libtinfo6
  libreadline8 libdb5.3 libcrypt1 libnsl2 libtirpc3 libgssapi-krb5-2 libkrb5-3 libk5crypto3
  libkrb5support0 libcom-err2 libkeyutils1 python3.11-minimal libpython3.11-minimal
  libpython3.11-stdlib python3.11 python3-minimal python3 libpython3-stdlib)
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
# What the base leaves out, as Debian's slim images do: apt lists and caches, docs, man pages,
# translations (33 MB; a worker logs in English).
SLIM_PATHS=('var/lib/apt/lists/*' 'var/cache/apt/*.bin' 'var/cache/apt/archives/*.deb'
  'usr/share/doc/*' 'usr/share/man/*' 'usr/share/info/*' 'usr/share/locale/*')
RECIPE="$(printf '%s\n' "${SUITE}" "${BASE_PACKAGES}" "${RUNTIME_PACKAGES[@]}" "${SLIM_PATHS[@]}" \
  | sha256sum | cut -c1-12)"

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

# 1. Packages: podman and runc always; debootstrap only when a local base has to be built.
need=()
for tool in podman runc; do
  command -v "${tool}" >/dev/null 2>&1 || need+=("${tool}")
done
bases_missing() {
  ! command -v podman >/dev/null 2>&1 || ! podman image exists "${BASE_IMAGE}" \
    || ! podman image exists "${RUNTIME_BASE_IMAGE}"
}
if [[ "${FROM_REGISTRY}" != 1 ]] && { [[ "${REBUILD_BASE:-0}" == 1 ]] || bases_missing; }; then
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

# 3. Base images from Debian packages.
recipe_of() {
  local label
  label="$(podman image inspect --format '{{index .Labels "org.rtw.base-recipe"}}' "$1" 2>/dev/null \
    || true)"
  [[ "${label}" == "<no value>" ]] && label=""
  echo "${label}"
}

# runtime_rootfs ROOTFS OUT: copy into OUT the files that RUNTIME_PACKAGES installed in ROOTFS
# (merged /usr: /lib, /bin and /sbin paths become /usr paths), the CA bundle, and /tmp.
runtime_rootfs() {
  local rootfs="$1" out="$2" list
  list="$(mktemp)"
  for pkg in "${RUNTIME_PACKAGES[@]}"; do
    chroot "${rootfs}" dpkg-query -L "${pkg}" >/dev/null 2>&1 \
      || { log "error: ${pkg} is not in the build rootfs"; exit 1; }
    chroot "${rootfs}" dpkg-query -L "${pkg}"
  done | sed -E 's#^/(lib|lib64|bin|sbin)/#/usr/\1/#' | sort -u | while read -r path; do
    # files and symlinks only (directories come with them; docs were slimmed away)
    if [[ -L "${rootfs}${path}" || -f "${rootfs}${path}" ]]; then echo ".${path}"; fi
  done >"${list}"
  echo ./etc/ssl/certs >>"${list}"
  tar -C "${rootfs}" -cf - -T "${list}" | tar -C "${out}" -xf -
  rm -f "${list}"
  for link in bin lib lib64 sbin; do ln -s "usr/${link}" "${out}/${link}"; done
  mkdir -p "${out}/tmp" "${out}/root" "${out}/usr/lib/ssl" && chmod 1777 "${out}/tmp" \
    && chmod 0700 "${out}/root"
  # OpenSSL's default paths, as Debian's openssl package links them
  ln -s /etc/ssl/certs "${out}/usr/lib/ssl/certs"
  ln -s /etc/ssl/certs/ca-certificates.crt "${out}/usr/lib/ssl/cert.pem"
  printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' \
    >"${out}/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"${out}/etc/group"
}

base_tar="${TOOLS_DIR}/rootfs-${SUITE}-${RECIPE}.tar"
runtime_tar="${TOOLS_DIR}/runtime-${SUITE}-${RECIPE}.tar"
if [[ "${FROM_REGISTRY}" == 1 ]]; then
  log "bases from the registry (the Dockerfile's digest-pinned base stages)"
else
  for image in "${BASE_IMAGE}" "${RUNTIME_BASE_IMAGE}"; do
    recipe="$(recipe_of "${image}")"
    if [[ -n "${recipe}" && "${recipe}" != "${RECIPE}" ]]; then
      log "base image ${image} was made by an older recipe (${recipe}): rebuilding"
      REBUILD_BASE=1
    fi
  done
  if [[ "${REBUILD_BASE:-0}" == 1 ]] || bases_missing; then
    if [[ "${REBUILD_BASE:-0}" == 1 || ! -s "${base_tar}" || ! -s "${runtime_tar}" ]]; then
      ((EUID == 0)) || { log "error: debootstrap needs root"; exit 1; }
      mirror="$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null \
        || true)"
      mirror="${mirror:-http://deb.debian.org/debian}"
      rootfs="$(mktemp -d "${TOOLS_DIR}/rootfs.XXXXXX")"
      runtime="$(mktemp -d "${TOOLS_DIR}/runtime.XXXXXX")"
      trap 'rm -rf "${rootfs}" "${runtime}"' EXIT
      log "debootstrap ${SUITE} (${BASE_PACKAGES}) from ${mirror}"
      debootstrap --variant=minbase --include="${BASE_PACKAGES}" "${SUITE}" "${rootfs}" "${mirror}" \
        >"${TOOLS_DIR}/debootstrap.log" 2>&1 \
        || { tail -20 "${TOOLS_DIR}/debootstrap.log" >&2; exit 1; }
      for path in "${SLIM_PATHS[@]}"; do
        # shellcheck disable=SC2086  # the pattern globs inside the rootfs
        rm -rf "${rootfs:?}"/${path}
      done
      runtime_rootfs "${rootfs}" "${runtime}"
      rm -f "${TOOLS_DIR}/rootfs-${SUITE}"*.tar "${TOOLS_DIR}/runtime-${SUITE}"*.tar  # older recipes
      tar --numeric-owner -C "${rootfs}" -cf "${base_tar}.tmp" . && mv "${base_tar}.tmp" "${base_tar}"
      tar --numeric-owner -C "${runtime}" -cf "${runtime_tar}.tmp" . \
        && mv "${runtime_tar}.tmp" "${runtime_tar}"
      rm -rf "${rootfs}" "${runtime}"
      trap - EXIT
      timing "debootstrap"
    else
      log "reusing cached rootfs tarballs for recipe ${RECIPE}"
    fi
    podman import --quiet \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'ENV LANG=C.UTF-8' \
      --change 'CMD ["/bin/bash"]' \
      --change "LABEL org.rtw.base-recipe=${RECIPE}" \
      "${base_tar}" "${BASE_IMAGE}" >/dev/null
    podman import --quiet \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'ENV LANG=C.UTF-8' \
      --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
      --change 'ENTRYPOINT ["/usr/bin/python3.11"]' \
      --change "LABEL org.rtw.base-recipe=${RECIPE}" \
      "${runtime_tar}" "${RUNTIME_BASE_IMAGE}" >/dev/null
    timing "import ${BASE_IMAGE}, ${RUNTIME_BASE_IMAGE}"
  else
    log "base images ${BASE_IMAGE}, ${RUNTIME_BASE_IMAGE} present"
  fi
fi

# 4. The rtw image.
# Buildah does not resolve an ARG that names a stage (the Dockerfile's defaults do that for
# BuildKit), so the bases are always passed as images: on the registry path, the images of the
# Dockerfile's two digest-pinned base stages.
stage_image() { awk -v stage="$1" '$1 == "FROM" && $3 == "AS" && $4 == stage { print $2 }' \
  "${REPO_ROOT}/Dockerfile"; }
if [[ "${FROM_REGISTRY}" == 1 ]]; then
  registry_base="$(stage_image debian-bookworm-slim)"
  registry_runtime="$(stage_image distroless-python3)"
  [[ -n "${registry_base}" && -n "${registry_runtime}" ]] \
    || { log "error: the Dockerfile's base stages are missing"; exit 1; }
  build_args=(--build-arg "BUILD_IMAGE=${registry_base}" --build-arg "RUNTIME_IMAGE=${registry_runtime}")
else
  build_args=(--build-arg "BUILD_IMAGE=${BASE_IMAGE}" --build-arg "RUNTIME_IMAGE=${RUNTIME_BASE_IMAGE}")
fi
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
if [[ "${FROM_REGISTRY}" == 1 ]]; then
  # Name the pulled runtime base like a local one, so the image's size can be told apart.
  podman tag "${registry_runtime}" "${RUNTIME_BASE_IMAGE}"
fi
# Drop the image this build replaced (now untagged) so rebuilds do not pile up; the layer cache
# of the current build is kept.
current="$(podman image inspect --format '{{.Id}}' "${IMAGE}")"
if [[ -n "${previous}" && "${previous}" != "${current}" ]]; then
  podman rmi "${previous}" >/dev/null 2>&1 || true
fi
log "done: ${IMAGE} ($(podman image inspect --format '{{.Size}}' "${IMAGE}" \
  | awk '{printf "%.0f MB", $1/1e6}')) in $(($(date +%s) - t0))s"
