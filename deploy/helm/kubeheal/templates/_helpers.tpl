{{- define "kubeheal.name" -}}kubeheal{{- end -}}

{{- define "kubeheal.fullname" -}}
{{- if eq .Release.Name "kubeheal" -}}kubeheal{{- else -}}{{ printf "%s-kubeheal" .Release.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "kubeheal.labels" -}}
app.kubernetes.io/name: kubeheal
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kubeheal
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "kubeheal.selector" -}}
app.kubernetes.io/name: kubeheal
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}
