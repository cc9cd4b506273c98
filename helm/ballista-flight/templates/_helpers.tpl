{{/* Chart name, truncated to the 63 characters a DNS label allows. */}}
{{- define "ballista-flight.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Prefix of every resource name. Kept to 40 characters so that "<fullname>-scheduler-internal"
and the executors' "<fullname>-executor-<ordinal>" stay valid DNS labels.
*/}}
{{- define "ballista-flight.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "ballista-flight.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every resource. */}}
{{- define "ballista-flight.labels" -}}
helm.sh/chart: {{ include "ballista-flight.chart" . }}
{{ include "ballista-flight.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: {{ include "ballista-flight.name" . }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "ballista-flight.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ballista-flight.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels and selector labels of one component: (dict "ctx" $ "component" "scheduler"). */}}
{{- define "ballista-flight.componentLabels" -}}
{{ include "ballista-flight.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "ballista-flight.componentSelector" -}}
{{ include "ballista-flight.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* The label that marks a pod as a client when the NetworkPolicy is on. */}}
{{- define "ballista-flight.clientLabel" -}}
{{ include "ballista-flight.fullname" . }}-client
{{- end }}

{{- define "ballista-flight.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ballista-flight.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "ballista-flight.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Service names. */}}
{{- define "ballista-flight.schedulerService" -}}
{{ include "ballista-flight.fullname" . }}-scheduler
{{- end }}
{{- define "ballista-flight.schedulerInternalService" -}}
{{ include "ballista-flight.fullname" . }}-scheduler-internal
{{- end }}
{{- define "ballista-flight.executorService" -}}
{{ include "ballista-flight.fullname" . }}-executor
{{- end }}

{{/* Flight URI scheme: grpc+tls:// when TLS is on. */}}
{{- define "ballista-flight.scheme" -}}
{{- if .Values.tls.enabled }}grpc+tls{{ else }}grpc{{ end }}
{{- end }}

{{/* Fully qualified name of a Service of the release: (dict "ctx" $ "service" "name"). */}}
{{- define "ballista-flight.serviceHost" -}}
{{ .service }}.{{ .ctx.Release.Namespace }}.svc.{{ .ctx.Values.clusterDomain }}
{{- end }}

{{/* Where executors register: the internal Service, which publishes the scheduler before it is ready. */}}
{{- define "ballista-flight.schedulerInternalHost" -}}
{{ include "ballista-flight.serviceHost" (dict "ctx" . "service" (include "ballista-flight.schedulerInternalService" .)) }}
{{- end }}

{{- define "ballista-flight.schedulerInternalURI" -}}
{{ include "ballista-flight.scheme" . }}://{{ include "ballista-flight.schedulerInternalHost" . }}:{{ .Values.scheduler.port }}
{{- end }}

{{/* Where clients connect: the client Service (only ready schedulers behind it). */}}
{{- define "ballista-flight.schedulerClientURI" -}}
{{ include "ballista-flight.scheme" . }}://{{ include "ballista-flight.serviceHost" (dict "ctx" . "service" (include "ballista-flight.schedulerService" .)) }}:{{ .Values.scheduler.service.port }}
{{- end }}

{{/*
An environment variable's value from a values entry. Helm reads every number as a float, so
whole numbers are printed without an exponent (1000000, not 1e+06).
*/}}
{{- define "ballista-flight.envValue" -}}
{{- if kindIs "float64" . }}
{{- if eq . (floor .) }}{{ int64 . }}{{ else }}{{ . }}{{ end }}
{{- else }}
{{- toString . }}
{{- end }}
{{- end }}

{{/* BALLISTA_FLIGHT_<NAME> variables from a config map of field names. */}}
{{- define "ballista-flight.configEnv" -}}
{{- range $name, $value := . }}
- name: BALLISTA_FLIGHT_{{ upper $name }}
  value: {{ include "ballista-flight.envValue" $value | quote }}
{{- end }}
{{- end }}

{{/* Environment shared by both roles: logging, auth, TLS and S3 settings, extra variables. */}}
{{- define "ballista-flight.commonEnv" -}}
- name: BALLISTA_FLIGHT_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- if .Values.auth.enabled }}
- name: BALLISTA_FLIGHT_AUTH_ENABLED
  value: "true"
- name: BALLISTA_FLIGHT_CLUSTER_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ required "auth.existingSecret is required when auth.enabled is true" .Values.auth.existingSecret }}
      key: {{ .Values.auth.clusterSecretKey }}
- name: BALLISTA_FLIGHT_AUTH_TOKENS
  valueFrom:
    secretKeyRef:
      name: {{ .Values.auth.existingSecret }}
      key: {{ .Values.auth.tokensKey }}
      optional: true
{{- end }}
{{- if .Values.tls.enabled }}
- name: BALLISTA_FLIGHT_TLS_CERT
  value: /etc/ballista-flight/tls/tls.crt
- name: BALLISTA_FLIGHT_TLS_KEY
  value: /etc/ballista-flight/tls/tls.key
{{- if .Values.tls.ca }}
- name: BALLISTA_FLIGHT_TLS_CA
  value: /etc/ballista-flight/tls/ca.crt
{{- end }}
- name: BALLISTA_FLIGHT_TLS_CLIENT_AUTH
  value: {{ .Values.tls.clientAuth | quote }}
{{- end }}
{{- with .Values.objectStore.s3 }}
{{- if .endpoint }}
- name: BALLISTA_FLIGHT_S3_ENDPOINT
  value: {{ .endpoint | quote }}
{{- end }}
{{- if .region }}
- name: BALLISTA_FLIGHT_S3_REGION
  value: {{ .region | quote }}
{{- end }}
{{- if .allowHttp }}
- name: BALLISTA_FLIGHT_S3_ALLOW_HTTP
  value: "true"
{{- end }}
{{- if .existingSecret }}
- name: BALLISTA_FLIGHT_S3_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .accessKeyIdKey }}
- name: BALLISTA_FLIGHT_S3_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .secretAccessKeyKey }}
{{- end }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "ballista-flight.envFrom" -}}
{{- if .Values.objectStoreSecret }}
- secretRef:
    name: {{ .Values.objectStoreSecret }}
{{- end }}
{{- with .Values.extraEnvFrom }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Volumes shared by both roles: the TLS Secret, extra volumes. */}}
{{- define "ballista-flight.commonVolumes" -}}
{{- if .Values.tls.enabled }}
- name: tls
  secret:
    secretName: {{ required "tls.existingSecret is required when tls.enabled is true" .Values.tls.existingSecret }}
    defaultMode: 288  # 0440: readable by the pod's fsGroup
{{- end }}
{{- with .Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "ballista-flight.commonVolumeMounts" -}}
{{- if .Values.tls.enabled }}
- name: tls
  mountPath: /etc/ballista-flight/tls
  readOnly: true
{{- end }}
{{- with .Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Probes on the HTTP port: (dict "probes" .Values.x.probes). */}}
{{- define "ballista-flight.probes" -}}
startupProbe:
  httpGet:
    path: /healthz
    port: http
  {{- toYaml .probes.startup | nindent 2 }}
livenessProbe:
  httpGet:
    path: /healthz
    port: http
  {{- toYaml .probes.liveness | nindent 2 }}
readinessProbe:
  httpGet:
    path: /readyz
    port: http
  {{- toYaml .probes.readiness | nindent 2 }}
{{- end }}

{{/* Checks of combinations the schema cannot express well, with one clear message each. */}}
{{- define "ballista-flight.validate" -}}
{{- if and (eq .Values.executor.shuffleVolume.type "persistentVolumeClaim") (ne .Values.executor.kind "StatefulSet") }}
{{- fail "executor.shuffleVolume.type persistentVolumeClaim needs executor.kind StatefulSet (one claim per executor)" }}
{{- end }}
{{- if and .Values.tls.enabled (ne .Values.executor.kind "StatefulSet") }}
{{- fail "tls.enabled needs executor.kind StatefulSet: executors are verified by their pod DNS names, which a Deployment's pods do not have" }}
{{- end }}
{{- if and .Values.executor.autoscaling.enabled (gt (int .Values.executor.autoscaling.minReplicas) (int .Values.executor.autoscaling.maxReplicas)) }}
{{- fail "executor.autoscaling.minReplicas must not exceed maxReplicas" }}
{{- end }}
{{- if and .Values.tls.clientAuth (not .Values.tls.ca) }}
{{- fail "tls.clientAuth needs tls.ca: client certificates are verified against ca.crt" }}
{{- end }}
{{- end }}

{{/* NetworkPolicy peers that count as clients. */}}
{{- define "ballista-flight.clientPeers" -}}
- podSelector:
    matchLabels:
      {{ include "ballista-flight.clientLabel" . }}: "true"
{{- with .Values.networkPolicy.clients }}
{{ toYaml . }}
{{- end }}
{{- end }}
{{- define "ballista-flight.metricsIngress" -}}
- ports:
    - port: http
      protocol: TCP
  {{- with .Values.networkPolicy.metrics }}
  from:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
