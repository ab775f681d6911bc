{{/*
NetworkPolicy building blocks. Every pod of the release is selected by exactly one policy, made
for its component (networkpolicy.yaml and the component templates): policies add up, so a
release-wide policy would widen every component's and none could be narrowed.
*/}}

{{/* Egress to the cluster DNS (networkPolicy.dnsTo), port 53 UDP and TCP. */}}
{{- define "rtw.egress.dns" -}}
- ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
  {{- with .Values.networkPolicy.dnsTo }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{/* Egress to Temporal: the port of temporal.address (or networkPolicy.temporalPort), towards networkPolicy.temporalTo. */}}
{{- define "rtw.egress.temporal" -}}
{{- $np := .Values.networkPolicy -}}
- ports:
    - port: {{ $np.temporalPort | default (include "rtw.addressPort" .Values.temporal.address) | int }}
      protocol: TCP
  {{- with $np.temporalTo }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{/* Egress to the OTLP collector (its port from otel.endpoint); empty without an endpoint. */}}
{{- define "rtw.egress.otlp" -}}
{{- if .Values.otel.endpoint -}}
- ports:
    - port: {{ include "rtw.urlPort" .Values.otel.endpoint | int }}
      protocol: TCP
  {{- with .Values.networkPolicy.otlpTo }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
{{- end -}}

{{/* Egress to PostgreSQL (database.port, towards networkPolicy.databaseTo); empty without database.existingSecret. */}}
{{- define "rtw.egress.database" -}}
{{- if .Values.database.existingSecret -}}
- ports:
    - port: {{ .Values.database.port | int }}
      protocol: TCP
  {{- with .Values.networkPolicy.databaseTo }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
{{- end -}}

{{/* Ingress to the health and (with metrics) metrics ports, from networkPolicy.ingressFrom. */}}
{{- define "rtw.ingress.probes" -}}
- ports:
    - port: {{ .Values.health.port | int }}
      protocol: TCP
    {{- if .Values.metrics.enabled }}
    - port: {{ .Values.metrics.port | int }}
      protocol: TCP
    {{- end }}
  {{- with .Values.networkPolicy.ingressFrom }}
  from:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{/*
One component's NetworkPolicy. Call with (dict "root" $ "component" c "comment" text
"ingress" yamlList "egress" yamlList), optionally "annotations" (a map, e.g. hook annotations).
No ingress rules: nothing may connect to it.
*/}}
{{- define "rtw.networkPolicy" -}}
{{- $root := .root }}
# {{ .comment }}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "rtw.componentname" (dict "root" $root "component" .component) }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "rtw.labels" (dict "root" $root "component" .component) | nindent 4 }}
  {{- with .annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  podSelector:
    matchLabels:
      {{- include "rtw.selectorLabels" (dict "root" $root "component" .component) | nindent 6 }}
  policyTypes:
    - Ingress
    - Egress
  {{- with .ingress | trim }}
  ingress:
    {{- . | nindent 4 }}
  {{- end }}
  egress:
    {{- .egress | trim | nindent 4 }}
{{- end -}}

{{/* Container env of a hook or test pod: the common env without the metrics port, plus OTEL_SERVICE_NAME. (dict "root" $ "service" name) */}}
{{- define "rtw.clientEnv" -}}
- name: OTEL_SERVICE_NAME
  value: {{ .service }}
{{- range $k, $v := fromYaml (include "rtw.commonEnv" .root) }}
{{- if ne $k "RTW_METRICS_PORT" }}
- name: {{ $k }}
  value: {{ $v | quote }}
{{- end }}
{{- end }}
{{- end -}}
