{{/* The gateway's checks, values the schema cannot express. */}}
{{- define "rtw.gateway.validate" -}}
{{- $g := .Values.gateway -}}
{{- if not $g.auth.existingSecret -}}
{{- fail "gateway.enabled is true but gateway.auth.existingSecret is empty: create a Secret with the bearer tokens (one per line) under gateway.auth.tokensKey and name it there; tokens never go into values." -}}
{{- end -}}
{{- if le (int $g.terminationGracePeriodSeconds) (int $g.gracefulShutdownSeconds) -}}
{{- fail (printf "gateway: terminationGracePeriodSeconds (%d) must be greater than gracefulShutdownSeconds (%d), or Kubernetes kills the gateway before in-flight requests finish." (int $g.terminationGracePeriodSeconds) (int $g.gracefulShutdownSeconds)) -}}
{{- end -}}
{{- if and $g.events.enabled (not .Values.database.existingSecret) -}}
{{- fail "gateway.events.enabled needs database.existingSecret: order events are read from the workers' database (a pod-local SQLite file would have none)." -}}
{{- end -}}
{{- if and (include "rtw.gateway.webhooks" .) (not $g.events.enabled) -}}
{{- fail "gateway.webhooks is set but gateway.events.enabled is false: outbound webhooks are made from the order events; turn them on." -}}
{{- end -}}
{{- if and $g.autoscaling.enabled (gt (int $g.autoscaling.minReplicas) (int $g.autoscaling.maxReplicas)) -}}
{{- fail (printf "gateway.autoscaling: minReplicas (%d) is greater than maxReplicas (%d)." (int $g.autoscaling.minReplicas) (int $g.autoscaling.maxReplicas)) -}}
{{- end -}}
{{- end -}}

{{/* Most pods the gateway can have (for the PDB). */}}
{{- define "rtw.gateway.maxPods" -}}
{{- $g := .Values.gateway -}}
{{- if $g.autoscaling.enabled -}}{{ $g.autoscaling.maxReplicas | int }}{{- else -}}{{ $g.replicaCount | int }}{{- end -}}
{{- end -}}

{{/* Non-empty when outbound webhooks are configured (gateway.webhooks.existingSecret). */}}
{{- define "rtw.gateway.webhooks" -}}
{{- if .Values.gateway.webhooks.existingSecret -}}on{{- end -}}
{{- end -}}
