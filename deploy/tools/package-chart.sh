#!/usr/bin/env bash
# Package charts/rtw for a release: `package-chart.sh VERSION IMAGE OUTDIR` writes
# OUTDIR/rtw-VERSION.tgz with `image.repository` set to IMAGE (e.g. ghcr.io/acme/rtw) and
# `version` and `appVersion` set to VERSION, so the chart's default image is IMAGE:VERSION.
# The package is then rendered with its defaults and refused unless every container runs
# exactly that image. The checkout is not modified. Used by .github/workflows/release.yml (and
# tests/deploy/test_release.py); HELM defaults to the pinned helm in .tools/bin.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HELM="${HELM:-${REPO_ROOT}/.tools/bin/helm}"

log() { echo "package-chart: $*" >&2; }

if (($# != 3)); then
  log "usage: package-chart.sh VERSION IMAGE OUTDIR"
  exit 2
fi
version="$1" image="$2" out="$3"
[[ "${image}" =~ ^[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)+$ ]] \
  || { log "error: ${image} is not a lower-case image repository (no tag)"; exit 2; }

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
cp -R "${REPO_ROOT}/charts/rtw" "${work}/rtw"

# image.repository: the first `repository:` line inside the top-level `image:` block.
awk -v repository="${image}" '
  /^image:/ { in_image = 1; print; next }
  /^[^[:space:]#]/ { in_image = 0 }
  in_image && !done && /^  repository:/ { print "  repository: " repository; done = 1; next }
  { print }
  END { if (!done) exit 3 }
' "${REPO_ROOT}/charts/rtw/values.yaml" >"${work}/rtw/values.yaml" \
  || { log "error: no image.repository in charts/rtw/values.yaml"; exit 1; }

mkdir -p "${out}"
"${HELM}" package "${work}/rtw" --version "${version}" --app-version "${version}" \
  --destination "${out}" >&2
package="${out}/rtw-${version}.tgz"
[[ -f "${package}" ]] || { log "error: helm wrote no ${package}"; exit 1; }

# Every container and init container of the default release runs IMAGE:VERSION.
images="$("${HELM}" template rtw "${package}" --namespace rtw \
  | sed -n -E 's/^[[:space:]]+(- )?image: *"?([^"]+)"?$/\2/p' | sort -u)"
if [[ "${images}" != "${image}:${version}" ]]; then
  log "error: the packaged chart runs ${images//$'\n'/, }, not ${image}:${version}"
  exit 1
fi
log "${package}: version ${version}, default image ${image}:${version}"
echo "${package}"
