{{/*
versioning.mode=controller: Temporal's worker controller (temporal-worker-controller) runs the
versioned rollouts. What it does, as read in its source at v1.8.1 (commit 251c07d8aa6b):
- Temporal Worker Deployment name: `<k8s namespace>/<WorkerDeployment name>`
  (internal/k8s/deployments.go computeWorkerDeploymentName), injected into the pods as
  TEMPORAL_DEPLOYMENT_NAME with its own build id as TEMPORAL_WORKER_BUILD_ID.
- Connection: hostPort `host:port`; TLS with system roots when tls.serverName or an API key is
  given; an API key from `apiKeySecretRef`; mTLS from a Secret with the fixed keys tls.crt,
  tls.key and optional ca.crt (internal/controller/clientpool/clientpool.go).
- Gate: for each *workflow* task queue of a new version, the gate workflow is started with
  `rollout.gate.input` as its argument, pinned to that version; no traffic moves until every
  one completed (internal/planner/planner.go getTestWorkflows, getVersionConfigDiff;
  internal/controller/execplan.go startTestWorkflows). A version with no workflow task queue is
  never promoted when a gate is set, hence the gate only on the orchestration worker.
*/}}

{{/* Name of one queue's WorkerDeployment: <stem>-<queue prefix><queue>, so the Temporal name the controller derives is RTW_DEPLOYMENT_NAME-<queue>. (dict "root" $ "queue" q) */}}
{{- define "rtw.controllerDeploymentName" -}}
{{- printf "%s-%s%s" (include "rtw.deploymentStem" .root) (replace "." "-" .root.Values.queuePrefix) .queue -}}
{{- end -}}

{{/* Name of the shared Connection. */}}
{{- define "rtw.connectionName" -}}
{{- include "rtw.componentname" (dict "root" . "component" "temporal") -}}
{{- end -}}

{{/*
A worker's inline environment in controller mode (YAML name: value): rtw.workerEnv without what
the controller injects from the Connection and the WorkerDeployment (the two must not disagree).
(dict "root" $ "queue" q "worker" $w "build" $b)
*/}}
{{- define "rtw.controllerEnv" -}}
{{- $env := fromYaml (include "rtw.workerEnv" .) -}}
{{- $t := .root.Values.temporal -}}
{{- $mtls := and $t.tls.existingSecret $t.tls.clientCertKey $t.tls.clientKeyKey -}}
{{- range $k := list "TEMPORAL_ADDRESS" "TEMPORAL_NAMESPACE" "TEMPORAL_TLS_SERVER_NAME" "TEMPORAL_API_KEY_FILE" "TEMPORAL_TLS_CLIENT_CERT_PATH" "TEMPORAL_TLS_CLIENT_KEY_PATH" "TEMPORAL_TLS_SERVER_CA_CERT_PATH" -}}
{{- $_ := unset $env $k -}}
{{- end -}}
{{- if $mtls -}}
{{- $_ := unset $env "TEMPORAL_TLS" -}}
{{- if $t.tls.serverCaKey -}}
{{- /* the controller mounts the whole mTLS Secret at /etc/temporal/tls */ -}}
{{- $_ := set $env "TEMPORAL_TLS_SERVER_CA_CERT_PATH" "/etc/temporal/tls/ca.crt" -}}
{{- end -}}
{{- end -}}
{{- toYaml $env -}}
{{- end -}}

{{/* Seconds of a duration written as e.g. 90s, 5m, 1h30m (the form the schema allows). */}}
{{- define "rtw.durationSeconds" -}}
{{- $total := 0 -}}
{{- range regexFindAll "[0-9]+[hms]" . -1 -}}
{{- $n := int (trimSuffix "h" (trimSuffix "m" (trimSuffix "s" .))) -}}
{{- if hasSuffix "h" . }}{{ $total = add $total (mul $n 3600) }}{{ else if hasSuffix "m" . }}{{ $total = add $total (mul $n 60) }}{{ else }}{{ $total = add $total $n }}{{ end -}}
{{- end -}}
{{- $total -}}
{{- end -}}

{{/* Checks of controller mode that the schema cannot express; each says what to change. */}}
{{- define "rtw.validateController" -}}
{{- $v := .Values.versioning -}}
{{- $c := $v.controller -}}
{{- $t := .Values.temporal -}}
{{- if $v.retainedBuilds -}}
{{- fail "versioning.mode=controller: versioning.retainedBuilds is for the hooks mode; the worker controller keeps every earlier build running until Temporal reports it drained, then scales it down and deletes it after versioning.controller.sunset. Remove versioning.retainedBuilds." -}}
{{- end -}}
{{- if not (kindIs "invalid" $v.rampPercentage) -}}
{{- fail "versioning.mode=controller: versioning.rampPercentage is the promote hook's; the controller ramps by versioning.controller.steps (strategy Progressive). Remove versioning.rampPercentage." -}}
{{- end -}}
{{- if $v.allowStranding -}}
{{- fail "versioning.mode=controller: versioning.allowStranding overrides the hooks mode's guard, which this mode does not run (the controller never removes a build with open pinned workflows). Remove it." -}}
{{- end -}}
{{- with $v.buildId -}}
{{- if or (gt (len .) 63) (not (regexMatch "^[a-zA-Z0-9]([a-zA-Z0-9._-]*[a-zA-Z0-9])?$" .)) -}}
{{- fail (printf "versioning.mode=controller: versioning.buildId %q becomes the WorkerDeployment's unsafeCustomBuildID, which is at most 63 letters, digits, dots, dashes and underscores, starting and ending with a letter or digit." .) -}}
{{- end -}}
{{- end -}}
{{- if not (regexMatch "^[a-zA-Z0-9.-]+:[0-9]+$" $t.address) -}}
{{- fail (printf "versioning.mode=controller: temporal.address %q is not a host:port the worker controller's Connection accepts (letters, digits, dots and dashes, then a port; no IPv6 literal)." $t.address) -}}
{{- end -}}
{{- $mtls := and $t.tls.existingSecret $t.tls.clientCertKey $t.tls.clientKeyKey -}}
{{- if and $mtls $t.apiKey.existingSecret -}}
{{- fail "versioning.mode=controller: temporal.apiKey.existingSecret and an mTLS client certificate (temporal.tls.existingSecret) are both set, and the controller's Connection takes one of them. Keep one." -}}
{{- end -}}
{{- if $mtls -}}
{{- if or (ne $t.tls.clientCertKey "tls.crt") (ne $t.tls.clientKeyKey "tls.key") (not (has $t.tls.serverCaKey (list "" "ca.crt"))) -}}
{{- fail (printf "versioning.mode=controller: the worker controller reads the mTLS Secret %q under the keys tls.crt, tls.key and (optional) ca.crt, and mounts it whole into the workers; set temporal.tls.clientCertKey=tls.crt, clientKeyKey=tls.key and serverCaKey to ca.crt or empty, and store the Secret with those keys (kubectl create secret tls, or a cert-manager Certificate)." $t.tls.existingSecret) -}}
{{- end -}}
{{- else if and $t.tls.existingSecret $t.tls.serverCaKey -}}
{{- fail "versioning.mode=controller: temporal.tls.serverCaKey without a client certificate: the worker controller trusts a private CA only from an mTLS Secret (key ca.crt), so it could not verify the server. Use mTLS (clientCertKey/clientKeyKey), a server certificate from a public CA, or the hooks mode." -}}
{{- else if and $t.tls.enabled (not $t.apiKey.existingSecret) (not $t.tls.serverName) -}}
{{- fail "versioning.mode=controller: temporal.tls.enabled is true, but without an API key, a client certificate or temporal.tls.serverName the worker controller connects in plaintext. Set temporal.tls.serverName (the name on the server's certificate)." -}}
{{- end -}}
{{- if eq $c.strategy "Progressive" -}}
{{- if not $c.steps -}}
{{- fail "versioning.controller.steps is empty: strategy Progressive needs at least one step ({rampPercentage, pauseDuration}), or choose strategy AllAtOnce." -}}
{{- end -}}
{{- $last := 0 -}}
{{- range $i, $s := $c.steps -}}
{{- if le (int $s.rampPercentage) $last -}}
{{- fail (printf "versioning.controller.steps[%d].rampPercentage (%d) must be greater than the step before (%d): a ramp only grows." $i (int $s.rampPercentage) $last) -}}
{{- end -}}
{{- $last = int $s.rampPercentage -}}
{{- if lt (int (include "rtw.durationSeconds" $s.pauseDuration)) 30 -}}
{{- fail (printf "versioning.controller.steps[%d].pauseDuration %q is shorter than 30s, which the worker controller refuses." $i $s.pauseDuration) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if gt (int (include "rtw.durationSeconds" $c.sunset.scaledownDelay)) (int (include "rtw.durationSeconds" $c.sunset.deleteDelay)) -}}
{{- fail (printf "versioning.controller.sunset: scaledownDelay (%s) is longer than deleteDelay (%s); a drained build is scaled down first, then deleted." $c.sunset.scaledownDelay $c.sunset.deleteDelay) -}}
{{- end -}}
{{- range $queue, $_ := .Values.workers -}}
{{- $w := fromYaml (include "rtw.worker" (dict "root" $ "queue" $queue)) -}}
{{- if $w.enabled -}}
{{- $name := include "rtw.controllerDeploymentName" (dict "root" $ "queue" $queue) -}}
{{- if or (gt (len $name) 63) (not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" $name)) -}}
{{- fail (printf "versioning.mode=controller: the WorkerDeployment of workers.%s would be named %q (versioning.deploymentName or the release name, then queuePrefix and the queue), which is not a Kubernetes name of at most 63 lowercase letters, digits and dashes. Set versioning.deploymentName to a shorter lowercase name." $queue $name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
