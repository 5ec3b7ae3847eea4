{{- define "vm-operator.labels" -}}
app.kubernetes.io/name: vm-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "vm-operator.scope" -}}
{{- if .Values.watchNamespace -}}ns-{{ .Values.watchNamespace }}{{- else -}}cluster{{- end -}}
{{- end -}}

{{- define "vm-operator.lease" -}}
vm-operator-{{ include "vm-operator.scope" . }}
{{- end -}}


{{- /* Cluster-scoped names: one install per scope, so namespaced installs never collide. */ -}}
{{- define "vm-operator.clusterName" -}}
{{- if .Values.watchNamespace -}}vm-operator-{{ .Values.watchNamespace }}{{- else -}}vm-operator{{- end -}}
{{- end -}}
