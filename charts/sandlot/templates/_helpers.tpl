{{/* Name of the chart, or nameOverride. */}}
{{- define "sandlot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Prefix of every object name: release-chart, shortened to the release name when it
     already contains the chart name, so `helm install sandlot ...` gives "sandlot". */}}
{{- define "sandlot.fullname" -}}
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

{{/* Labels every object carries. */}}
{{- define "sandlot.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "sandlot.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: sandlot
{{- end -}}

{{/* Labels that select the operator pods (never change them: Deployment selectors are immutable). */}}
{{- define "sandlot.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sandlot.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{/* Name of the operator's ServiceAccount. */}}
{{- define "sandlot.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "sandlot.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false: name the existing ServiceAccount the operator should run as" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Image reference of the operator: repository:tag or repository@digest; tag defaults to appVersion. */}}
{{- define "sandlot.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Image reference of the stubs: the operator's image unless stub.image overrides a part. */}}
{{- define "sandlot.stubImage" -}}
{{- if or .Values.stub.image.repository .Values.stub.image.tag -}}
{{- printf "%s:%s" (default .Values.image.repository .Values.stub.image.repository) (default (default .Chart.AppVersion .Values.image.tag) .Values.stub.image.tag) -}}
{{- else -}}
{{- include "sandlot.image" . -}}
{{- end -}}
{{- end -}}

{{/* Number of operator replicas: one unless HA is on (two operators without peering would fight). */}}
{{- define "sandlot.replicas" -}}
{{- if .Values.ha.enabled -}}{{ .Values.ha.replicas }}{{- else -}}1{{- end -}}
{{- end -}}
