#!/usr/bin/env bash
# The chart on kind. `up` creates the cluster, builds and loads the image, starts a Temporal dev
# server, a PostgreSQL and a Jaeger v2 in the cluster, and installs the chart with the shared
# database (its migrate hook runs first) and payments at two replicas. `down` deletes the cluster.
# With no argument: up, `helm test`, down. The assertions live in tests/e2e (pytest -m k8s),
# which calls `up` once and `down` at the end.
# Needs docker (or podman with KIND_EXPERIMENTAL_PROVIDER=podman), kind and kubectl.
# Env: KIND_NODE_IMAGE picks the Kubernetes version; SKIP_BUILD=1 reuses an rtw:e2e image;
# KEEP_CLUSTER=1 keeps the cluster after the default run.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CLUSTER="rtw-e2e"
IMAGE="rtw:e2e"
NAMESPACE="rtw"
RELEASE="rtw"
ENGINE="${KIND_EXPERIMENTAL_PROVIDER:-docker}"
KUBECTL=(kubectl --context "kind-${CLUSTER}")
HELM="${REPO_ROOT}/.tools/bin/helm"

log() { echo "e2e: $*" >&2; }
diagnose() {
  "${KUBECTL[@]}" -n "${NAMESPACE}" get pods,jobs -o wide || true
  "${KUBECTL[@]}" -n "${NAMESPACE}" logs -l app.kubernetes.io/instance="${RELEASE}" \
    --all-containers --tail 100 || true
}

down() {
  log "deleting kind cluster ${CLUSTER}"
  kind delete cluster --name "${CLUSTER}" >/dev/null 2>&1 || true
}

up() {
  for tool in kind kubectl "${ENGINE}"; do
    command -v "${tool}" >/dev/null || { log "error: '${tool}' is required"; exit 1; }
  done
  bash "${REPO_ROOT}/deploy/tools/install-helm.sh"

  if ! kind get clusters 2>/dev/null | grep -qx "${CLUSTER}"; then
    log "creating kind cluster ${CLUSTER} (${KIND_NODE_IMAGE:-the default node image of kind})"
    kind create cluster --config "${REPO_ROOT}/deploy/kind/kind-config.yaml" --wait 120s \
      ${KIND_NODE_IMAGE:+--image "${KIND_NODE_IMAGE}"}
  fi

  if [[ "${SKIP_BUILD:-0}" != "1" ]]; then
    log "building ${IMAGE}"
    # Fully qualified, so podman's archive names it as containerd on the nodes will look it up.
    "${ENGINE}" build -t "docker.io/library/${IMAGE}" "${REPO_ROOT}"
  fi
  # `kind load docker-image` fails with Docker's containerd image store, the default since
  # Docker 29 ("ctr: content digest sha256:...: not found", kubernetes-sigs/kind#3795, open);
  # an archive written by `docker save` and loaded with `kind load image-archive` avoids it.
  local archive_dir
  archive_dir="$(mktemp -d)"
  "${ENGINE}" save -o "${archive_dir}/rtw-e2e.tar" "docker.io/library/${IMAGE}"
  kind load image-archive "${archive_dir}/rtw-e2e.tar" --name "${CLUSTER}"
  rm -rf "${archive_dir}"

  log "starting the Temporal dev server and Jaeger"
  "${KUBECTL[@]}" apply -f "${REPO_ROOT}/deploy/kind/temporal-dev.yaml"
  "${KUBECTL[@]}" apply -f "${REPO_ROOT}/deploy/kind/jaeger.yaml"
  "${KUBECTL[@]}" -n temporal rollout status deployment/temporal-dev --timeout 180s
  "${KUBECTL[@]}" -n observability rollout status deployment/jaeger --timeout 180s

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
  local url
  url="postgresql://$(pg_field username):$(pg_field password)@rtw-postgres.${NAMESPACE}.svc.cluster.local:5432/$(pg_field database)"
  "${KUBECTL[@]}" -n "${NAMESPACE}" create secret generic rtw-db \
    --from-literal=database-url="${url}" --dry-run=client -o yaml | "${KUBECTL[@]}" apply -f -

  log "installing the chart: shared database (migrate hook first), payments at 2 replicas"
  # Payments calls take 1.5 s at the stand-in provider, so a test can delete a pod mid-call.
  if ! "${HELM}" upgrade --install "${RELEASE}" "${REPO_ROOT}/charts/rtw" \
    --kube-context "kind-${CLUSTER}" --namespace "${NAMESPACE}" \
    --set image.repository=rtw --set image.tag=e2e --set image.pullPolicy=Never \
    --set temporal.address=temporal-dev.temporal.svc.cluster.local:7233 \
    --set temporal.namespace=default \
    --set database.existingSecret=rtw-db \
    --set-json 'networkPolicy.databaseTo=[{"podSelector":{"matchLabels":{"app.kubernetes.io/name":"rtw-postgres"}}}]' \
    --set otel.endpoint=http://jaeger.observability.svc.cluster.local:4317 \
    --set otel.tracesSamplerArg=1.0 \
    --set workers.payments.replicaCount=2 \
    --set-json 'workers.payments.env={"RTW_PAYMENTS_PROVIDER_LATENCY_MS":"1500"}' \
    --wait --timeout 5m; then
    diagnose
    exit 1
  fi
  log "up: release ${RELEASE} in namespace ${NAMESPACE} on kind-${CLUSTER}"
}

case "${1:-all}" in
  up) up ;;
  down) down ;;
  all)
    [[ "${KEEP_CLUSTER:-0}" == "1" ]] || trap down EXIT
    up
    log "running helm test"
    if ! "${HELM}" test "${RELEASE}" --kube-context "kind-${CLUSTER}" --namespace "${NAMESPACE}" \
      --logs --timeout 5m; then
      diagnose
      exit 1
    fi
    log "ok: every queue answered on kind, with state in the shared PostgreSQL"
    ;;
  *) log "usage: e2e.sh [up|down|all]"; exit 2 ;;
esac
