#!/usr/bin/env bash
# End-to-end test of the chart on kind: create the cluster, build and load the image, start a
# Temporal dev server and a PostgreSQL in the cluster, install the chart with the shared database
# (its migrate hook runs first) and payments at two replicas, and run `helm test` (one saga end to
# end).
# Needs docker (or podman with KIND_EXPERIMENTAL_PROVIDER=podman), kind and kubectl.
# Env: KEEP_CLUSTER=1 keeps the cluster afterwards; SKIP_BUILD=1 reuses an rtw:e2e image.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CLUSTER="rtw-e2e"
IMAGE="rtw:e2e"
NAMESPACE="rtw"
RELEASE="rtw"
ENGINE="${KIND_EXPERIMENTAL_PROVIDER:-docker}"

log() { echo "e2e: $*" >&2; }
diagnose() {
  "${KUBECTL[@]}" -n "${NAMESPACE}" get pods,jobs -o wide || true
  "${KUBECTL[@]}" -n "${NAMESPACE}" logs -l app.kubernetes.io/instance="${RELEASE}" \
    --all-containers --tail 100 || true
}

for tool in kind kubectl "${ENGINE}"; do
  command -v "${tool}" >/dev/null || { log "error: '${tool}' is required"; exit 1; }
done
bash "${REPO_ROOT}/deploy/tools/install-helm.sh"
HELM="${REPO_ROOT}/.tools/bin/helm"

if ! kind get clusters 2>/dev/null | grep -qx "${CLUSTER}"; then
  log "creating kind cluster ${CLUSTER}"
  kind create cluster --config "${REPO_ROOT}/deploy/kind/kind-config.yaml" --wait 120s
fi
cleanup() {
  if [[ "${KEEP_CLUSTER:-0}" != "1" ]]; then
    log "deleting kind cluster ${CLUSTER} (KEEP_CLUSTER=1 keeps it)"
    kind delete cluster --name "${CLUSTER}" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT
KUBECTL=(kubectl --context "kind-${CLUSTER}")

if [[ "${SKIP_BUILD:-0}" != "1" ]]; then
  log "building ${IMAGE}"
  "${ENGINE}" build -t "${IMAGE}" "${REPO_ROOT}"
fi
kind load docker-image "${IMAGE}" --name "${CLUSTER}"

log "starting the Temporal dev server"
"${KUBECTL[@]}" apply -f "${REPO_ROOT}/deploy/kind/temporal-dev.yaml"
"${KUBECTL[@]}" -n temporal rollout status deployment/temporal-dev --timeout 180s

log "creating namespace ${NAMESPACE}, which enforces Pod Security 'restricted'"
"${KUBECTL[@]}" create namespace "${NAMESPACE}" --dry-run=client -o yaml | "${KUBECTL[@]}" apply -f -
"${KUBECTL[@]}" label namespace "${NAMESPACE}" --overwrite \
  pod-security.kubernetes.io/enforce=restricted >/dev/null

log "starting PostgreSQL for the workers' state"
"${KUBECTL[@]}" -n "${NAMESPACE}" apply -f "${REPO_ROOT}/deploy/kind/postgres.yaml"
"${KUBECTL[@]}" -n "${NAMESPACE}" rollout status deployment/rtw-postgres --timeout 180s
# The workers' URL, built from the throwaway credentials in postgres.yaml's Secret.
pg_field() {
  "${KUBECTL[@]}" -n "${NAMESPACE}" get secret rtw-postgres -o "jsonpath={.data.$1}" | base64 -d
}
DATABASE_URL="postgresql://$(pg_field username):$(pg_field password)@rtw-postgres.${NAMESPACE}.svc.cluster.local:5432/$(pg_field database)"
"${KUBECTL[@]}" -n "${NAMESPACE}" create secret generic rtw-db \
  --from-literal=database-url="${DATABASE_URL}" --dry-run=client -o yaml | "${KUBECTL[@]}" apply -f -

log "installing the chart: shared database (migrate hook first), payments at 2 replicas"
if ! "${HELM}" upgrade --install "${RELEASE}" "${REPO_ROOT}/charts/rtw" \
  --kube-context "kind-${CLUSTER}" --namespace "${NAMESPACE}" \
  --set image.repository=rtw --set image.tag=e2e --set image.pullPolicy=Never \
  --set temporal.address=temporal-dev.temporal.svc.cluster.local:7233 \
  --set temporal.namespace=default \
  --set database.existingSecret=rtw-db \
  --set-json 'networkPolicy.databaseTo=[{"podSelector":{"matchLabels":{"app.kubernetes.io/name":"rtw-postgres"}}}]' \
  --set workers.payments.replicaCount=2 \
  --wait --timeout 5m; then
  diagnose
  exit 1
fi

log "running helm test"
if ! "${HELM}" test "${RELEASE}" --kube-context "kind-${CLUSTER}" --namespace "${NAMESPACE}" \
  --logs --timeout 5m; then
  diagnose
  exit 1
fi
log "ok: the saga completed on kind, with state in the shared PostgreSQL"
