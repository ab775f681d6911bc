{{/*
The pod template of one queue's worker of one build: what a plain worker Deployment runs
(deployment.yaml) and what a WorkerDeployment hands Temporal's worker controller
(workerdeployment.yaml), from this one helper so the two cannot drift. Call with
(dict "root" $ "queue" q "worker" $w "build" $b "name" configMapName "env" envYaml
"selector" selectorYaml "controller" bool).

Plain mode: the chart's environment comes from the build's ConfigMap (envFrom, its hash in
`checksum/config`, so a change rolls only these pods).
Controller mode: the environment is inline, so every version's Deployment, which the
controller copies from this template, keeps the settings it was deployed with (and any
change is a new version); the Temporal connection is the controller's to inject
(temporal-worker-controller v1.8.1, internal/k8s/deployments.go
ApplyControllerPodSpecModifications: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
TEMPORAL_DEPLOYMENT_NAME, TEMPORAL_WORKER_BUILD_ID, TEMPORAL_TLS_SERVER_NAME, and
TEMPORAL_API_KEY from the Connection's Secret, or the mTLS Secret mounted at
/etc/temporal/tls as volume `temporal-tls`), so those variables and the chart's own
credential volumes are left out (rtw.controllerEnv).
*/}}
{{- define "rtw.workerPodTemplate" -}}
{{- $root := .root -}}
{{- $w := .worker -}}
{{- $b := .build -}}
{{- $queue := .queue -}}
{{- $selector := .selector -}}
metadata:
  labels:
    {{- include "rtw.workerPodLabels" (dict "root" $root "queue" $queue "build" $b) | nindent 4 }}
    {{- with $w.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- if or (not .controller) $w.podAnnotations }}
  annotations:
    {{- if not .controller }}
    checksum/config: {{ .env | sha256sum }}
    {{- end }}
    {{- with $w.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- end }}
spec:
  serviceAccountName: {{ include "rtw.serviceAccountName" $root }}
  automountServiceAccountToken: false
  enableServiceLinks: false
  terminationGracePeriodSeconds: {{ $w.terminationGracePeriodSeconds | int }}
  {{- with $w.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  {{- with $root.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml $root.Values.podSecurityContext | nindent 4 }}
  containers:
    - name: worker
      image: {{ $b.image | quote }}
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      args:
        - worker
        - {{ $queue | quote }}
        - --health-port
        - {{ $root.Values.health.port | int | quote }}
      {{- if or $w.extraEnvFrom (not .controller) }}
      envFrom:
        {{- with $w.extraEnvFrom }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- if not .controller }}
        - configMapRef:
            name: {{ .name }}
        {{- end }}
      {{- end }}
      {{- $databaseEnv := include "rtw.databaseEnv" $root | trim }}
      {{- if or .controller $databaseEnv $w.extraEnv }}
      env:
        {{- if .controller }}
        {{- range $k, $v := fromYaml .env }}
        - name: {{ $k }}
          value: {{ $v | quote }}
        {{- end }}
        {{- end }}
        {{- with $databaseEnv }}
        {{- . | nindent 8 }}
        {{- end }}
        {{- with $w.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- end }}
      ports:
        - name: health
          containerPort: {{ $root.Values.health.port | int }}
          protocol: TCP
        {{- if $root.Values.metrics.enabled }}
        - name: metrics
          containerPort: {{ $root.Values.metrics.port | int }}
          protocol: TCP
        {{- end }}
      startupProbe:
        httpGet:
          path: /healthz
          port: health
        periodSeconds: {{ $w.startupProbe.periodSeconds | int }}
        timeoutSeconds: {{ $w.startupProbe.timeoutSeconds | int }}
        failureThreshold: {{ $w.startupProbe.failureThreshold | int }}
      livenessProbe:
        httpGet:
          path: /healthz
          port: health
        initialDelaySeconds: {{ $w.livenessProbe.initialDelaySeconds | int }}
        periodSeconds: {{ $w.livenessProbe.periodSeconds | int }}
        timeoutSeconds: {{ $w.livenessProbe.timeoutSeconds | int }}
        failureThreshold: {{ $w.livenessProbe.failureThreshold | int }}
      readinessProbe:
        httpGet:
          path: /readyz
          port: health
        initialDelaySeconds: {{ $w.readinessProbe.initialDelaySeconds | int }}
        periodSeconds: {{ $w.readinessProbe.periodSeconds | int }}
        timeoutSeconds: {{ $w.readinessProbe.timeoutSeconds | int }}
        failureThreshold: {{ $w.readinessProbe.failureThreshold | int }}
      {{- with $w.lifecycle }}
      lifecycle:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      resources:
        {{- toYaml $w.resources | nindent 8 }}
      securityContext:
        {{- toYaml $root.Values.containerSecurityContext | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
        - name: data
          mountPath: /var/lib/rtw
        {{- if .controller }}
        {{- with include "rtw.codecVolumeMount" $root | trim }}{{ . | nindent 8 }}{{ end }}
        {{- else }}
        {{- with include "rtw.credentialVolumeMounts" $root | trim }}{{ . | nindent 8 }}{{ end }}
        {{- end }}
        {{- with $w.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: {{ $root.Values.tmpDir.sizeLimit }}
    - name: data
      emptyDir:
        sizeLimit: {{ $root.Values.dataDir.sizeLimit }}
    {{- if .controller }}
    {{- with include "rtw.codecVolume" $root | trim }}{{ . | nindent 4 }}{{ end }}
    {{- else }}
    {{- with include "rtw.credentialVolumes" $root | trim }}{{ . | nindent 4 }}{{ end }}
    {{- end }}
    {{- with $w.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with $w.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $w.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $w.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $w.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- range . }}
    {{- $c := . }}
    {{- if not (hasKey $c "labelSelector") }}
    {{- $c = merge (dict "labelSelector" (dict "matchLabels" (fromYaml $selector))) $c }}
    {{- end }}
    - {{ toYaml $c | nindent 6 | trim }}
    {{- end }}
  {{- end }}
{{- end -}}
