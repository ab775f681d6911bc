{{/*
Naming and labels. Selectors use only name, instance and component: they are immutable.
*/}}

{{/* Chart name, overridable with nameOverride. */}}
{{- define "rtw.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name prefix of every object: <release>-<chart>, or the release when it holds the chart name. */}}
{{- define "rtw.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* chart label value: <name>-<version>. */}}
{{- define "rtw.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Name of one component's objects: <fullname>-<component>, at most 63 characters. A long prefix is
cut, never the component suffix, so the names of different components stay distinct.
Call with (dict "root" $ "component" "payments").
*/}}
{{- define "rtw.componentname" -}}
{{- $suffix := printf "-%s" .component -}}
{{- $prefix := include "rtw.fullname" .root | trunc (int (sub 63 (len $suffix))) | trimSuffix "-" -}}
{{- printf "%s%s" $prefix $suffix -}}
{{- end -}}

{{/* Selector labels. Call with (dict "root" $ "component" "payments"); component may be empty. */}}
{{- define "rtw.selectorLabels" -}}
app.kubernetes.io/name: {{ include "rtw.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end -}}

{{/* All labels of an object. Call with (dict "root" $ "component" "payments"). */}}
{{- define "rtw.labels" -}}
helm.sh/chart: {{ include "rtw.chart" .root }}
{{ include "rtw.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: rtw
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* ServiceAccount name. */}}
{{- define "rtw.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "rtw.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
ServiceAccount of the pre-install/pre-upgrade hooks (the migrate Job). Hooks run before the
release's objects exist, so a ServiceAccount the chart creates is not there yet on install: the Job
then runs as the namespace's `default` account (its token is not mounted either way). With
serviceAccount.create=false the named account exists beforehand and is used.
*/}}
{{- define "rtw.hookServiceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
default
{{- else -}}
{{- include "rtw.serviceAccountName" . -}}
{{- end -}}
{{- end -}}

{{/* Container image reference. */}}
{{- define "rtw.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
Deep merge of two maps, returned as YAML: keys of .override win; nested maps merge key by key;
lists and scalars are replaced. Unlike sprig's mergeOverwrite, false/0/"" in .override win too.
*/}}
{{- define "rtw.deepMerge" -}}
{{- $out := dict -}}
{{- range $k, $v := .base -}}
{{- $_ := set $out $k $v -}}
{{- end -}}
{{- range $k, $v := .override -}}
{{- $b := get $.base $k -}}
{{- if and (kindIs "map" $v) (kindIs "map" $b) -}}
{{- $_ := set $out $k (fromYaml (include "rtw.deepMerge" (dict "base" $b "override" $v))) -}}
{{- else if not (kindIs "invalid" $v) -}}
{{- $_ := set $out $k $v -}}
{{- end -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/*
Effective settings of one worker: workerDefaults merged with workers.<queue>, validated.
Call with (dict "root" $ "queue" "payments"); returns YAML (use fromYaml).
*/}}
{{- define "rtw.worker" -}}
{{- $root := .root -}}
{{- $w := fromYaml (include "rtw.deepMerge" (dict "base" $root.Values.workerDefaults "override" (get $root.Values.workers .queue))) -}}
{{- $where := printf "workers.%s" .queue -}}
{{- if and $w.enabled $w.autoscaling.enabled $w.keda.enabled -}}
{{- fail (printf "%s: autoscaling.enabled and keda.enabled are both true; KEDA manages its own HPA, so enable only one of them (set %s.autoscaling.enabled=false to use KEDA)." $where $where) -}}
{{- end -}}
{{- $graceful := int $w.gracefulShutdownSeconds -}}
{{- if kindIs "invalid" $w.terminationGracePeriodSeconds -}}
{{- $_ := set $w "terminationGracePeriodSeconds" (add $graceful (int $w.terminationGraceBufferSeconds)) -}}
{{- else if le (int $w.terminationGracePeriodSeconds) $graceful -}}
{{- fail (printf "%s: terminationGracePeriodSeconds (%d) must be greater than gracefulShutdownSeconds (%d), or Kubernetes kills the worker before it has drained. Raise %s.terminationGracePeriodSeconds above %d, lower %s.gracefulShutdownSeconds, or unset terminationGracePeriodSeconds to get %d + terminationGraceBufferSeconds." $where (int $w.terminationGracePeriodSeconds) $graceful $where $graceful $where $graceful) -}}
{{- end -}}
{{- $db := $root.Values.database -}}
{{- if and $w.enabled (not $db.existingSecret) (not $db.allowPodLocal) -}}
{{- $scaled := "" -}}
{{- if $w.keda.enabled -}}
{{- $scaled = "keda.enabled is true" -}}
{{- else if $w.autoscaling.enabled -}}
{{- $scaled = "autoscaling.enabled is true" -}}
{{- else if gt (int $w.replicaCount) 1 -}}
{{- $scaled = printf "replicaCount is %d" (int $w.replicaCount) -}}
{{- end -}}
{{- if $scaled -}}
{{- fail (printf "%s: %s, but database.existingSecret is empty, so every pod would keep its own state. Set database.existingSecret (a Secret with a postgresql:// URL) or database.allowPodLocal=true for a demo (each pod then keeps its own ledger, stock and outbox)." $where $scaled) -}}
{{- end -}}
{{- end -}}
{{- if and $w.autoscaling.enabled (gt (int $w.autoscaling.minReplicas) (int $w.autoscaling.maxReplicas)) -}}
{{- fail (printf "%s.autoscaling: minReplicas (%d) is greater than maxReplicas (%d)." $where (int $w.autoscaling.minReplicas) (int $w.autoscaling.maxReplicas)) -}}
{{- end -}}
{{- if and $w.keda.enabled (gt (int $w.keda.minReplicaCount) (int $w.keda.maxReplicaCount)) -}}
{{- fail (printf "%s.keda: minReplicaCount (%d) is greater than maxReplicaCount (%d)." $where (int $w.keda.minReplicaCount) (int $w.keda.maxReplicaCount)) -}}
{{- end -}}
{{- if and $w.autoscaling.enabled (kindIs "invalid" $w.autoscaling.targetCPUUtilizationPercentage) (kindIs "invalid" $w.autoscaling.targetMemoryUtilizationPercentage) -}}
{{- fail (printf "%s.autoscaling: set targetCPUUtilizationPercentage and/or targetMemoryUtilizationPercentage; the HPA needs at least one metric." $where) -}}
{{- end -}}
{{- with $w.keda.fallback -}}
{{- if not (and (hasKey . "failureThreshold") (hasKey . "replicas")) -}}
{{- fail (printf "%s.keda.fallback: set both failureThreshold and replicas (KEDA needs both), or leave fallback empty." $where) -}}
{{- end -}}
{{- end -}}
{{- $t := $root.Values.temporal -}}
{{- $mtls := and $t.tls.existingSecret $t.tls.clientCertKey $t.tls.clientKeyKey -}}
{{- if and $w.enabled $w.keda.enabled $t.tls.enabled (not $t.apiKey.existingSecret) (not $mtls) -}}
{{- fail (printf "%s.keda: temporal.tls.enabled is true, but KEDA's temporal scaler uses TLS only when it authenticates with an API key or a client certificate, and neither is configured, so it would talk plaintext to a TLS endpoint and never scale. Set temporal.apiKey.existingSecret, or temporal.tls.existingSecret with clientCertKey and clientKeyKey (mTLS); or scale this worker with %s.autoscaling instead of keda." $where $where) -}}
{{- end -}}
{{- /* Name the key where it was set: the worker's own entry, else workerDefaults. */ -}}
{{- $own := get $root.Values.workers .queue | default dict -}}
{{- range $k, $_ := $w.env -}}
{{- $from := ternary $where "workerDefaults" (hasKey ($own.env | default dict) $k) -}}
{{- include "rtw.checkEnvName" (dict "name" $k "where" (printf "%s.env" $from)) -}}
{{- end -}}
{{- $from := ternary $where "workerDefaults" (hasKey $own "extraEnv") -}}
{{- range $w.extraEnv -}}
{{- include "rtw.checkEnvName" (dict "name" .name "where" (printf "%s.extraEnv" $from)) -}}
{{- end -}}
{{- $from = ternary $where "workerDefaults" (hasKey $own "extraVolumes") -}}
{{- range $w.extraVolumes -}}
{{- if has .name (list "tmp" "data" "temporal-api-key" "temporal-tls" "codec-keys") -}}
{{- fail (printf "%s.extraVolumes: the volume name %q is the chart's own (tmp, data, temporal-api-key, temporal-tls, codec-keys); choose another name." $from .name) -}}
{{- end -}}
{{- end -}}
{{- $from = ternary $where "workerDefaults" (hasKey $own "extraVolumeMounts") -}}
{{- range $w.extraVolumeMounts -}}
{{- if has (trimSuffix "/" .mountPath) (list "/tmp" "/var/lib/rtw" "/etc/rtw/temporal-api-key" "/etc/rtw/temporal-tls" "/etc/rtw/codec") -}}
{{- fail (printf "%s.extraVolumeMounts: mountPath %q is used by the chart (/tmp, /var/lib/rtw, /etc/rtw/temporal-api-key, /etc/rtw/temporal-tls, /etc/rtw/codec); mount below another path." $from .mountPath) -}}
{{- end -}}
{{- end -}}
{{- toYaml $w -}}
{{- end -}}

{{/*
Refuse an env name the chart owns: TEMPORAL_* come from temporal.*, RTW_DATABASE_URL from
database.existingSecret. Call with (dict "name" "TEMPORAL_ADDRESS" "where" "workers.payments.env").
*/}}
{{- define "rtw.checkEnvName" -}}
{{- $use := "" -}}
{{- if hasPrefix "RTW_CODEC_" .name -}}
{{- $use = "codec.existingSecret (the keys file is mounted from the Secret)" -}}
{{- else if eq .name "RTW_DATABASE_URL" -}}
{{- $use = "database.existingSecret (a Secret holding the postgresql:// URL under database.secretKey); the URL never goes into values" -}}
{{- else if eq .name "TEMPORAL_ADDRESS" -}}
{{- $use = "temporal.address" -}}
{{- else if eq .name "TEMPORAL_NAMESPACE" -}}
{{- $use = "temporal.namespace" -}}
{{- else if hasPrefix "TEMPORAL_API_KEY" .name -}}
{{- $use = "temporal.apiKey.existingSecret (the key is mounted as a file)" -}}
{{- else if hasPrefix "TEMPORAL_TLS" .name -}}
{{- $use = "temporal.tls.* (enabled, existingSecret, clientCertKey, clientKeyKey, serverCaKey, serverName)" -}}
{{- else if hasPrefix "TEMPORAL_" .name -}}
{{- $use = "the temporal.* values (the chart sets the TEMPORAL_* connection variables itself)" -}}
{{- end -}}
{{- if $use -}}
{{- fail (printf "%s: %s is set by the chart; remove it and use %s." .where .name $use) -}}
{{- end -}}
{{- end -}}

{{/* Port of a host:port address (Temporal). */}}
{{- define "rtw.addressPort" -}}
{{- $m := regexFind ":[0-9]+$" . -}}
{{- if $m -}}{{ trimPrefix ":" $m }}{{- else -}}7233{{- end -}}
{{- end -}}

{{/* Port of a URL (OTLP endpoint): explicit port, else 443 for https, else 80. */}}
{{- define "rtw.urlPort" -}}
{{- $u := urlParse . -}}
{{- $m := regexFind ":[0-9]+$" $u.host -}}
{{- if $m -}}{{ trimPrefix ":" $m }}{{- else if eq $u.scheme "https" -}}443{{- else -}}80{{- end -}}
{{- end -}}

{{/* Non-secret environment shared by every pod (workers and the helm test), as YAML name: value. */}}
{{- define "rtw.commonEnv" -}}
{{- $v := .Values -}}
TEMPORAL_ADDRESS: {{ $v.temporal.address | quote }}
TEMPORAL_NAMESPACE: {{ $v.temporal.namespace | quote }}
{{- if $v.temporal.tls.enabled }}
TEMPORAL_TLS: "true"
{{- end }}
{{- if $v.temporal.tls.serverName }}
TEMPORAL_TLS_SERVER_NAME: {{ $v.temporal.tls.serverName | quote }}
{{- end }}
{{- with $v.temporal.tls.existingSecret }}
{{- if and $v.temporal.tls.clientCertKey $v.temporal.tls.clientKeyKey }}
TEMPORAL_TLS_CLIENT_CERT_PATH: "/etc/rtw/temporal-tls/client.crt"
TEMPORAL_TLS_CLIENT_KEY_PATH: "/etc/rtw/temporal-tls/client.key"
{{- end }}
{{- if $v.temporal.tls.serverCaKey }}
TEMPORAL_TLS_SERVER_CA_CERT_PATH: "/etc/rtw/temporal-tls/server-ca.crt"
{{- end }}
{{- end }}
{{- if $v.temporal.apiKey.existingSecret }}
TEMPORAL_API_KEY_FILE: "/etc/rtw/temporal-api-key/api-key"
{{- end }}
{{- if $v.codec.existingSecret }}
RTW_CODEC_KEYS_FILE: "/etc/rtw/codec/keys.json"
{{- end }}
{{- if $v.otel.endpoint }}
OTEL_EXPORTER_OTLP_ENDPOINT: {{ $v.otel.endpoint | quote }}
OTEL_EXPORTER_OTLP_PROTOCOL: {{ $v.otel.protocol | quote }}
{{- end }}
OTEL_TRACES_SAMPLER: {{ $v.otel.tracesSampler | quote }}
{{- if $v.otel.tracesSamplerArg }}
OTEL_TRACES_SAMPLER_ARG: {{ $v.otel.tracesSamplerArg | quote }}
{{- end }}
{{- $attrs := list (printf "k8s.namespace.name=%s" .Release.Namespace) (printf "service.version=%s" (default .Chart.AppVersion $v.image.tag)) -}}
{{- range $k, $val := $v.otel.resourceAttributes }}
{{- $attrs = append $attrs (printf "%s=%s" $k (toString $val)) -}}
{{- end }}
OTEL_RESOURCE_ATTRIBUTES: {{ join "," $attrs | quote }}
RTW_LOG_FORMAT: {{ $v.logFormat | quote }}
RTW_LOG_LEVEL: {{ $v.logLevel | quote }}
{{- if $v.queuePrefix }}
RTW_QUEUE_PREFIX: {{ $v.queuePrefix | quote }}
{{- end }}
RTW_DATA_DIR: "/var/lib/rtw"
{{- if $v.versioning.enabled }}
RTW_WORKER_VERSIONING: "true"
{{- if include "rtw.controllerMode" . }}
{{- /* The worker controller names each queue's Temporal Worker Deployment <k8s namespace>/<WorkerDeployment name> (rtw.controllerDeploymentName). */}}
RTW_DEPLOYMENT_NAME: {{ printf "%s/%s" .Release.Namespace (include "rtw.deploymentStem" .) | quote }}
{{- else }}
RTW_DEPLOYMENT_NAME: {{ include "rtw.deploymentStem" . | quote }}
{{- end }}
RTW_PROMOTE_ON_START: "never"
{{- else }}
RTW_WORKER_VERSIONING: "false"
{{- end }}
{{- if $v.metrics.enabled }}
RTW_METRICS_PORT: {{ $v.metrics.port | int | toString | quote }}
{{- end }}
{{- end -}}

{{/*
Environment of one worker of one build (common + per worker + the build's id and version), as
YAML name: value: the data of that build's ConfigMap. (dict "root" $ "queue" q "worker" $w "build" $b)
*/}}
{{- define "rtw.workerEnv" -}}
{{- $w := .worker -}}
{{- $env := fromYaml (include "rtw.commonEnv" .root) -}}
{{- $_ := set $env "OTEL_SERVICE_NAME" (printf "rtw-%s" .queue) -}}
{{- if .build.buildId -}}
{{- $_ := set $env "RTW_BUILD_ID" .build.buildId -}}
{{- end -}}
{{- /* Each build reports its own service.version. */ -}}
{{- $_ := set $env "OTEL_RESOURCE_ATTRIBUTES" (regexReplaceAll "service\\.version=[^,]*" $env.OTEL_RESOURCE_ATTRIBUTES (printf "service.version=%s" .build.version)) -}}
{{- $_ := set $env "RTW_GRACEFUL_SHUTDOWN_SECONDS" ($w.gracefulShutdownSeconds | int | toString) -}}
{{- range $key, $name := dict "maxConcurrentActivities" "RTW_MAX_CONCURRENT_ACTIVITIES" "maxConcurrentWorkflowTasks" "RTW_MAX_CONCURRENT_WORKFLOW_TASKS" "maxConcurrentActivityPolls" "RTW_MAX_CONCURRENT_ACTIVITY_POLLS" "maxConcurrentWorkflowTaskPolls" "RTW_MAX_CONCURRENT_WORKFLOW_TASK_POLLS" -}}
{{- $val := get $w $key -}}
{{- if not (kindIs "invalid" $val) -}}
{{- if ne (toString $val) "" -}}
{{- $_ := set $env $name ($val | int | toString) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- range $k, $val := $w.env -}}
{{- $_ := set $env $k (toString $val) -}}
{{- end -}}
{{- range $k, $val := $env }}
{{ $k }}: {{ $val | quote }}
{{- end }}
{{- end -}}

{{/*
RTW_DATABASE_URL from database.existingSecret (workers and the migrate Job), as a container env
list; empty without a database. The URL may hold a password, so it never enters a ConfigMap.
*/}}
{{- define "rtw.databaseEnv" -}}
{{- with .Values.database.existingSecret }}
- name: RTW_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.database.secretKey }}
{{- end }}
{{- end -}}

{{/* Volumes for the Temporal credentials (shared by workers and the test Job). */}}
{{- define "rtw.credentialVolumes" -}}
{{- $t := .Values.temporal -}}
{{- include "rtw.codecVolume" . }}
{{- if $t.apiKey.existingSecret }}
- name: temporal-api-key
  secret:
    secretName: {{ $t.apiKey.existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ $t.apiKey.secretKey }}
        path: api-key
{{- end }}
{{- if and $t.tls.existingSecret (or (and $t.tls.clientCertKey $t.tls.clientKeyKey) $t.tls.serverCaKey) }}
- name: temporal-tls
  secret:
    secretName: {{ $t.tls.existingSecret }}
    defaultMode: 0440
    items:
      {{- if and $t.tls.clientCertKey $t.tls.clientKeyKey }}
      - key: {{ $t.tls.clientCertKey }}
        path: client.crt
      - key: {{ $t.tls.clientKeyKey }}
        path: client.key
      {{- end }}
      {{- if $t.tls.serverCaKey }}
      - key: {{ $t.tls.serverCaKey }}
        path: server-ca.crt
      {{- end }}
{{- end }}
{{- end -}}

{{- define "rtw.credentialVolumeMounts" -}}
{{- $t := .Values.temporal -}}
{{- include "rtw.codecVolumeMount" . }}
{{- if $t.apiKey.existingSecret }}
- name: temporal-api-key
  mountPath: /etc/rtw/temporal-api-key
  readOnly: true
{{- end }}
{{- if and $t.tls.existingSecret (or (and $t.tls.clientCertKey $t.tls.clientKeyKey) $t.tls.serverCaKey) }}
- name: temporal-tls
  mountPath: /etc/rtw/temporal-tls
  readOnly: true
{{- end }}
{{- end -}}

{{/* The payload-encryption keys file (workers, the test Job, the codec server). */}}
{{- define "rtw.codecVolume" -}}
{{- with .Values.codec.existingSecret }}
- name: codec-keys
  secret:
    secretName: {{ . }}
    defaultMode: 0440
    items:
      - key: {{ $.Values.codec.secretKey }}
        path: keys.json
{{- end }}
{{- end -}}

{{- define "rtw.codecVolumeMount" -}}
{{- if .Values.codec.existingSecret }}
- name: codec-keys
  mountPath: /etc/rtw/codec
  readOnly: true
{{- end }}
{{- end -}}

{{/* Checks of chart-wide values that the schema cannot express. */}}
{{- define "rtw.validate" -}}
{{- $t := .Values.temporal -}}
{{- if and $t.tls.existingSecret (not $t.tls.enabled) -}}
{{- fail "temporal.tls.existingSecret is set but temporal.tls.enabled is false: set temporal.tls.enabled=true (or remove the secret)." -}}
{{- end -}}
{{- if and $t.tls.existingSecret (ne (empty $t.tls.clientCertKey) (empty $t.tls.clientKeyKey)) -}}
{{- fail "temporal.tls: set both clientCertKey and clientKeyKey for mTLS, or leave both empty." -}}
{{- end -}}
{{- $cs := .Values.codecServer -}}
{{- if and $cs.enabled (not .Values.codec.existingSecret) -}}
{{- fail "codecServer.enabled is true but codec.existingSecret is empty: the codec server needs the keys the workers use; set codec.existingSecret." -}}
{{- end -}}
{{- if and $cs.enabled (not $cs.tokens.existingSecret) (not $cs.oidc.jwksUrl) -}}
{{- fail "codecServer.enabled is true but neither codecServer.tokens.existingSecret nor codecServer.oidc.jwksUrl is set: the codec server never runs without auth; create a Secret with the accepted bearer tokens and set codecServer.tokens.existingSecret, or set codecServer.oidc (the Web UI's identity provider)." -}}
{{- end -}}
{{- if and $cs.enabled $cs.oidc.jwksUrl (not $cs.oidc.audience) -}}
{{- fail "codecServer.oidc.jwksUrl is set but codecServer.oidc.audience is empty: set the audience of the Web UI's access tokens, so tokens minted for other applications cannot open payloads." -}}
{{- end -}}
{{- if and (eq .Values.versioning.mode "controller") (not .Values.versioning.enabled) -}}
{{- fail "versioning.mode=controller needs versioning.enabled=true: the worker controller runs only versioned workers." -}}
{{- end -}}
{{- if not (regexMatch "^(\\[[0-9a-fA-F:]+\\]|[^:/\\s]+):[0-9]+$" $t.address) -}}
{{- fail (printf "temporal.address %q must be host:port, e.g. temporal-frontend.temporal:7233 (no scheme)." $t.address) -}}
{{- end -}}
{{- end -}}

{{/* KEDA TriggerAuthentication secretTargetRef entries (empty when there are no credentials). */}}
{{- define "rtw.kedaAuthParams" -}}
{{- $t := .Values.temporal -}}
{{- if $t.apiKey.existingSecret }}
- parameter: apiKey
  name: {{ $t.apiKey.existingSecret }}
  key: {{ $t.apiKey.secretKey }}
{{- end }}
{{- if $t.tls.existingSecret }}
{{- if and $t.tls.clientCertKey $t.tls.clientKeyKey }}
- parameter: cert
  name: {{ $t.tls.existingSecret }}
  key: {{ $t.tls.clientCertKey }}
- parameter: key
  name: {{ $t.tls.existingSecret }}
  key: {{ $t.tls.clientKeyKey }}
{{- end }}
{{- if $t.tls.serverCaKey }}
- parameter: ca
  name: {{ $t.tls.existingSecret }}
  key: {{ $t.tls.serverCaKey }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
Worker Versioning (rainbow mode). The builds whose worker Deployments this release renders, as a
YAML list under `builds`: the current build first, then versioning.retainedBuilds. Each has
buildId, slug (its part of object names and of the `rtw/build` label), repository, image,
version (its image tag, for OTel's service.version and the pods' app.kubernetes.io/version),
current, and for a retained build the `workers` settings recorded when it was current (see
rtw.buildWorker). Without versioning.enabled: one entry with an empty buildId and slug
(unversioned workers, one Deployment per queue). Fails on a missing or duplicate build id and
on a retained build without recorded settings.
*/}}
{{- define "rtw.builds" -}}
{{- $v := .Values.versioning -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if or (not $v.enabled) (include "rtw.controllerMode" .) -}}
{{- /* Unversioned, or the worker controller's: it makes a build of every pod template itself. */}}
builds:
  - buildId: ""
    slug: ""
    repository: {{ .Values.image.repository | quote }}
    image: {{ include "rtw.image" . | quote }}
    version: {{ $tag | quote }}
    current: true
{{- else -}}
{{- $current := include "rtw.currentBuildId" . -}}
{{- $all := list (dict "buildId" $current "repository" .Values.image.repository "image" (include "rtw.image" .) "version" $tag "current" true "where" "versioning.buildId" "workers" dict) -}}
{{- range $i, $r := $v.retainedBuilds -}}
{{- $where := printf "versioning.retainedBuilds[%d]" $i -}}
{{- if not $r.buildId -}}
{{- fail (printf "%s: buildId is empty; give the build id that build's workers ran with (its image tag by default)." $where) -}}
{{- end -}}
{{- if not $r.workers -}}
{{- fail (printf "%s (build %s) records no worker settings (`workers`), so its pods would be rebuilt from this release's values and restart with settings its image may not know. Use the entry the chart recorded while it was current: the key retain.yaml of ConfigMap %s (kubectl -n %s get configmap %s -o jsonpath='{.data.retain\\.yaml}'), or of that revision's manifest (helm get manifest %s -n %s --revision N)." $where $r.buildId (include "rtw.componentname" (dict "root" $ "component" "builds")) $.Release.Namespace (include "rtw.componentname" (dict "root" $ "component" "builds")) $.Release.Name $.Release.Namespace) -}}
{{- end -}}
{{- $repository := default $.Values.image.repository $r.repository -}}
{{- $image := printf "%s:%s" $repository (default $r.buildId $r.tag) -}}
{{- if $r.digest -}}
{{- $image = printf "%s@%s" $repository $r.digest -}}
{{- end -}}
{{- $all = append $all (dict "buildId" $r.buildId "repository" $repository "image" $image "version" (default $r.buildId $r.tag) "current" false "where" $where "workers" $r.workers "tag" ($r.tag | default "") "digest" ($r.digest | default "")) -}}
{{- end -}}
{{- $seen := dict -}}
builds:
{{- range $all }}
{{- $slug := regexReplaceAll "[^a-z0-9-]+" (lower .buildId) "-" | trunc 20 | trimAll "-" -}}
{{- if hasKey $seen .buildId -}}
{{- if eq (get $seen .buildId) "versioning.buildId" -}}
{{- fail (printf "%s: build id %q is listed twice (also in versioning.buildId, the build this release makes current); each build appears once: the current one in versioning.buildId, older ones once each in versioning.retainedBuilds. A release's retain.yaml lists its current build: pass it only to an upgrade to another build." .where .buildId) -}}
{{- end -}}
{{- fail (printf "%s: build id %q is listed twice (also in %s); each build appears once: the current one in versioning.buildId, older ones once each in versioning.retainedBuilds." .where .buildId (get $seen .buildId)) -}}
{{- end -}}
{{- if hasKey $seen (printf "slug:%s" $slug) -}}
{{- fail (printf "%s: build id %q gives the same object names as %s (both become %q); use build ids that differ in their first 20 letters and digits." .where .buildId (get $seen (printf "slug:%s" $slug)) $slug) -}}
{{- end -}}
{{- $_ := set $seen .buildId .where -}}
{{- $_ := set $seen (printf "slug:%s" $slug) .where }}
  - buildId: {{ .buildId | quote }}
    slug: {{ $slug | quote }}
    repository: {{ .repository | quote }}
    image: {{ .image | quote }}
    version: {{ .version | quote }}
    current: {{ .current }}
    {{- if not .current }}
    tag: {{ .tag | quote }}
    digest: {{ .digest | quote }}
    workers:
      {{- toYaml .workers | nindent 6 }}
    {{- end }}
{{- end }}
{{- end -}}
{{- end -}}

{{/*
Effective settings of one queue's worker in one build, as YAML (empty when that build runs no
worker for the queue). The current build: workerDefaults merged with workers.<queue>
(rtw.worker). A retained build: the settings recorded under its retainedBuilds entry, key by
key (a recorded key wins whole: env, resources, probes, ... never mix with this release's);
only keys the record lacks (added by a later chart version) come from this release.
Call with (dict "root" $ "build" $b "queue" q).
*/}}
{{- define "rtw.buildWorker" -}}
{{- if .build.current -}}
{{- include "rtw.worker" (dict "root" .root "queue" .queue) -}}
{{- else -}}
{{- $recorded := get (.build.workers | default dict) .queue -}}
{{- if $recorded -}}
{{- $w := fromYaml (include "rtw.worker" (dict "root" .root "queue" .queue)) -}}
{{- range $k, $val := $recorded -}}
{{- $_ := set $w $k $val -}}
{{- end -}}
{{- toYaml $w -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Labels of a worker pod template: the selector labels, the build (rainbow mode) and its own
version, never the chart's version, so a chart or app upgrade leaves a retained build's pods
alone. Call with (dict "root" $ "queue" q "build" $b).
*/}}
{{- define "rtw.workerPodLabels" -}}
{{ include "rtw.selectorLabels" (dict "root" .root "component" .queue) }}
app.kubernetes.io/version: {{ .build.version | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: rtw
{{- if .build.slug }}
rtw/build: {{ .build.slug | quote }}
{{- end }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
The values entries that keep every build this release runs, each with the settings its pods
were deployed with: what the next upgrade passes as versioning.retainedBuilds (retain.yaml of
the `<fullname>-builds` ConfigMap). Returns YAML under `retainedBuilds`.
*/}}
{{- define "rtw.retainEntries" -}}
{{- $entries := list -}}
{{- range (fromYaml (include "rtw.builds" .)).builds -}}
{{- if .current -}}
{{- $workers := dict -}}
{{- range $queue, $_ := $.Values.workers -}}
{{- $_ := set $workers $queue (fromYaml (include "rtw.worker" (dict "root" $ "queue" $queue))) -}}
{{- end -}}
{{- $entry := dict "buildId" .buildId "repository" .repository "workers" $workers -}}
{{- if $.Values.image.digest -}}
{{- $_ := set $entry "digest" $.Values.image.digest -}}
{{- else -}}
{{- $_ := set $entry "tag" .version -}}
{{- end -}}
{{- $entries = append $entries $entry -}}
{{- end -}}
{{- end -}}
{{- range $.Values.versioning.retainedBuilds -}}
{{- $entries = append $entries . -}}
{{- end -}}
{{- toYaml (dict "retainedBuilds" $entries) -}}
{{- end -}}

{{/* The queues any build of this release runs a worker for (retained builds included), as a YAML list under `queues`. */}}
{{- define "rtw.runQueues" -}}
{{- $queues := list -}}
{{- range $b := (fromYaml (include "rtw.builds" .)).builds -}}
{{- range $queue, $_ := $.Values.workers -}}
{{- $w := fromYaml (include "rtw.buildWorker" (dict "root" $ "build" $b "queue" $queue)) -}}
{{- if and $w $w.enabled (not (has $queue $queues)) -}}
{{- $queues = append $queues $queue -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toYaml (dict "queues" (sortAlpha $queues)) -}}
{{- end -}}

{{/* The build this release makes current: versioning.buildId, else the image tag (or appVersion). */}}
{{- define "rtw.currentBuildId" -}}
{{- $v := .Values.versioning -}}
{{- if $v.buildId -}}
{{- $v.buildId -}}
{{- else if .Values.image.digest -}}
{{- fail "versioning.buildId is empty and the image is pulled by digest (image.digest), so there is no tag to use as the build id: set versioning.buildId (e.g. the release version the digest was built from)." -}}
{{- else -}}
{{- default .Chart.AppVersion .Values.image.tag -}}
{{- end -}}
{{- end -}}

{{/*
Name of one build's worker Deployment (and ConfigMap): <component name>, or
<fullname>-<queue>-<slug> when versioned; a long prefix is cut, never the queue or the build.
(dict "root" $ "queue" q "slug" s)
*/}}
{{- define "rtw.workerDeploymentName" -}}
{{- if .slug -}}
{{- include "rtw.componentname" (dict "root" .root "component" (printf "%s-%s" .queue .slug)) -}}
{{- else -}}
{{- include "rtw.componentname" (dict "root" .root "component" .queue) -}}
{{- end -}}
{{- end -}}

{{/* Name of the Deployment autoscalers target: the current build's. (dict "root" $ "queue" q) */}}
{{- define "rtw.currentWorkerDeploymentName" -}}
{{- $slug := "" -}}
{{- range (fromYaml (include "rtw.builds" .root)).builds -}}
{{- if .current }}{{ $slug = .slug }}{{ end -}}
{{- end -}}
{{- include "rtw.workerDeploymentName" (dict "root" .root "queue" .queue "slug" $slug) -}}
{{- end -}}

{{/* Stem of the Temporal Worker Deployment names (RTW_DEPLOYMENT_NAME): versioning.deploymentName or the release. */}}
{{- define "rtw.deploymentStem" -}}
{{- default .Release.Name .Values.versioning.deploymentName -}}
{{- end -}}


{{/* "true" when Temporal's worker controller drives versioned rollouts (versioning.mode=controller), else empty. */}}
{{- define "rtw.controllerMode" -}}
{{- if and .Values.versioning.enabled (eq .Values.versioning.mode "controller") -}}true{{- end -}}
{{- end -}}
