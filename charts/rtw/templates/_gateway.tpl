{{/* The gateway's checks, values the schema cannot express. */}}
{{- define "rtw.gateway.validate" -}}
{{- $g := .Values.gateway -}}
{{- if not $g.auth.existingSecret -}}
{{- fail "gateway.enabled is true but gateway.auth.existingSecret is empty: create a Secret with the bearer tokens (one per line) under gateway.auth.tokensKey and name it there; tokens never go into values." -}}
{{- end -}}
{{- if le (int $g.terminationGracePeriodSeconds) (int $g.gracefulShutdownSeconds) -}}
{{- fail (printf "gateway: terminationGracePeriodSeconds (%d) must be greater than gracefulShutdownSeconds (%d), or Kubernetes kills the gateway before in-flight requests finish." (int $g.terminationGracePeriodSeconds) (int $g.gracefulShutdownSeconds)) -}}
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
