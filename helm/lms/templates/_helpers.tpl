{{/* Names and labels shared by every template. */}}

{{- define "lms.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "lms.fullname" -}}
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

{{/* The full name of one component: <release>-lms-pathway. Call with (dict "root" $ "name" "pathway"). */}}
{{- define "lms.componentName" -}}
{{- printf "%s-%s" (include "lms.fullname" .root) .name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "lms.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lms.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "lms.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "lms.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: lms
{{- end -}}

{{/* Selector labels of one component. Call with (dict "root" $ "name" "pathway"). */}}
{{- define "lms.componentSelectorLabels" -}}
{{ include "lms.selectorLabels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "lms.componentLabels" -}}
{{ include "lms.labels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "lms.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "lms.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "lms.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The fully qualified gRPC service each component serves (what health reports on). */}}
{{- define "lms.grpcService" -}}
{{- $services := dict "pathway" "lms.pathway.v1.PathwayService" "enrolment" "lms.enrolment.v1.EnrolmentService" "assessment" "lms.assessment.v1.AssessmentService" "records" "lms.records.v1.RecordsService" -}}
{{- required (printf "unknown component %q" .) (get $services .) -}}
{{- end -}}
