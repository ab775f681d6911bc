#!/usr/bin/env bash
# Install checkov into its own venv at <repo>/.tools/checkov-venv (its pins conflict with the
# project's dev dependencies). Idempotent: a second run only checks the version.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${REPO_ROOT}/.tools/checkov-venv"
CHECKOV_VERSION="3.3.30"
PYTHON="${PYTHON:-python3}"

log() { echo "install-checkov: $*" >&2; }

if [[ -x "${VENV}/bin/checkov" ]] \
  && [[ "$("${VENV}/bin/python" -c 'import importlib.metadata as m; print(m.version("checkov"))' \
    2>/dev/null)" == "${CHECKOV_VERSION}" ]]; then
  log "ok: checkov ${CHECKOV_VERSION} at ${VENV}/bin/checkov"
  exit 0
fi

mkdir -p "$(dirname "${VENV}")"
"${PYTHON}" -m venv "${VENV}"
"${VENV}/bin/python" -m pip install --quiet --disable-pip-version-check \
  "checkov==${CHECKOV_VERSION}"
"${VENV}/bin/checkov" --version >/dev/null
log "installed checkov ${CHECKOV_VERSION} to ${VENV}"
