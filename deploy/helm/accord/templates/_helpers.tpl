{{/* Names and labels. */}}
{{- define "accord.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- end -}}

{{- define "accord.redisName" -}}
{{- printf "%s-redis" (include "accord.fullname" .) -}}
{{- end -}}

{{- define "accord.labels" -}}
app.kubernetes.io/name: accord
app.kubernetes.io/instance: {{ .Release.Name }}
{{ include "accord.releaseLabels" . }}
{{- end -}}

{{/* Labels beside the selector labels (pod templates carry both). */}}
{{- define "accord.releaseLabels" -}}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "accord.selectorLabels" -}}
app.kubernetes.io/name: accord
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: control-plane
{{- end -}}

{{- define "accord.redisSelectorLabels" -}}
app.kubernetes.io/name: accord
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: redis
{{- end -}}

{{/*
An image reference pinned by digest: repository@sha256:... (the tag, if any, is for people).
Refuses anything that is not a sha256 digest, so a deployment never floats on a tag.
*/}}
{{- define "accord.image" -}}
{{- $image := .image -}}
{{- if not (regexMatch "^sha256:[0-9a-f]{64}$" (toString $image.digest)) -}}
{{- fail (printf "%s.digest: must be a sha256 digest (sha256:<64 hex>), got %q; pin every image by digest" .path (toString $image.digest)) -}}
{{- end -}}
{{- if $image.tag -}}
{{- printf "%s:%s@%s" $image.repository $image.tag $image.digest -}}
{{- else -}}
{{- printf "%s@%s" $image.repository $image.digest -}}
{{- end -}}
{{- end -}}

{{/* Pod Security "restricted": the container half (the pod half is in each pod template). */}}
{{- define "accord.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Secrets: names of the Secrets mounted as files. */}}
{{- define "accord.credentialsSecret" -}}
{{- default (printf "%s-credentials" (include "accord.fullname" .)) .Values.credentials.existingSecret -}}
{{- end -}}

{{/* The --redis URL for the bundled Sentinels (no password: that is a mounted file). */}}
{{- define "accord.sentinelUrl" -}}
{{- $hosts := list -}}
{{- range $host := splitList "," (include "accord.redisHosts" .) -}}
{{- $hosts = append $hosts (printf "%s:26379" $host) -}}
{{- end -}}
{{- printf "redis-sentinel://%s/%s" (join "," $hosts) .Values.redis.sentinel.masterName -}}
{{- end -}}

{{- define "accord.redisAuthSecret" -}}
{{- default (printf "%s-auth" (include "accord.redisName" .)) .Values.redis.sentinel.auth.existingSecret -}}
{{- end -}}

{{/*
A value kept across upgrades: the one already in the cluster's Secret if there is one (lookup),
else a new random one. `helm template` cannot look up, so it renders a fresh value each time.
*/}}
{{- define "accord.keptSecretValue" -}}
{{- $existing := lookup "v1" "Secret" .namespace .name -}}
{{- if and $existing (hasKey $existing.data .key) -}}
{{- index $existing.data .key | b64dec -}}
{{- else -}}
{{- .generate -}}
{{- end -}}
{{- end -}}

{{/* Redis pod host names, for the Sentinel URL and the scripts. */}}
{{- define "accord.redisHosts" -}}
{{- $name := include "accord.redisName" . -}}
{{- $hosts := list -}}
{{- range $i := until (int .Values.redis.sentinel.replicas) -}}
{{- $hosts = append $hosts (printf "%s-%d.%s-headless.%s.svc.%s" $name $i $name $.Release.Namespace $.Values.clusterDomain) -}}
{{- end -}}
{{- join "," $hosts -}}
{{- end -}}
