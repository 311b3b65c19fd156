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
{{- with .Values.global.labels }}
{{ toYaml . }}
{{- end }}
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

{{/* registry/repository:tag; global.imageRegistry, when set, is put before the repository. */}}
{{- define "lms.image" -}}
{{- $repository := .Values.image.repository -}}
{{- with .Values.global.imageRegistry -}}
{{- $repository = printf "%s/%s" (trimSuffix "/" .) $repository -}}
{{- end -}}
{{- printf "%s:%s" $repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Every pod's imagePullSecrets: global.imagePullSecrets, then imagePullSecrets. */}}
{{- define "lms.imagePullSecrets" -}}
{{- $secrets := concat (default (list) .Values.global.imagePullSecrets) (default (list) .Values.imagePullSecrets) | uniq -}}
{{- with $secrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* HS256 keys ("true" or empty): from auth.hs256SecretKey, or from the development Secret. */}}
{{- define "lms.hs256" -}}
{{- if or .Values.auth.hs256SecretKey .Values.devSecrets.create -}}true{{- end -}}
{{- end -}}

{{/* The chart-created development Secret (devSecrets.create). */}}
{{- define "lms.devSecretName" -}}
{{- printf "%s-dev" (include "lms.fullname" .) -}}
{{- end -}}

{{/* The secretKeyRef of the HS256 secret. */}}
{{- define "lms.hs256SecretRef" -}}
{{- if .Values.devSecrets.create -}}
name: {{ include "lms.devSecretName" . }}
key: hs256-secret
{{- else -}}
name: {{ .Values.auth.existingSecret }}
key: {{ .Values.auth.hs256SecretKey }}
{{- end -}}
{{- end -}}

{{/* The secretKeyRef of one component's database URL. Call with (dict "root" $ "name" "pathway"
     "migration" false); with "migration" true, the migration job's URL
     (components.<name>.migrationDatabase when set, else the component's own). */}}
{{- define "lms.databaseSecretRef" -}}
{{- $c := get .root.Values.components .name -}}
{{- if .root.Values.devSecrets.create -}}
name: {{ include "lms.devSecretName" .root }}
key: {{ printf "%s-database-url" .name }}
{{- else if and .migration $c.migrationDatabase $c.migrationDatabase.existingSecret -}}
name: {{ $c.migrationDatabase.existingSecret }}
key: {{ $c.migrationDatabase.key }}
{{- else -}}
name: {{ $c.database.existingSecret }}
key: {{ $c.database.key }}
{{- end -}}
{{- end -}}

{{/* One component's spread over nodes and zones: components.<name>.topologySpreadConstraints
     when set (even []), else topologySpreadConstraints; each entry without a labelSelector gets
     the component's pods (and matchLabelKeys pod-template-hash, so a rollout's new pods spread
     among themselves). Call with (dict "root" $ "name" "pathway"). */}}
{{- define "lms.topologySpreadConstraints" -}}
{{- $c := get .root.Values.components .name -}}
{{- $constraints := .root.Values.topologySpreadConstraints -}}
{{- if hasKey $c "topologySpreadConstraints" -}}
{{- $constraints = $c.topologySpreadConstraints -}}
{{- end -}}
{{- $out := list -}}
{{- range $constraint := $constraints -}}
{{- $copy := deepCopy $constraint -}}
{{- if not (hasKey $copy "labelSelector") -}}
{{- $_ := set $copy "labelSelector" (dict "matchLabels" (include "lms.componentSelectorLabels" $ | fromYaml)) -}}
{{- if not (hasKey $copy "matchLabelKeys") -}}
{{- $_ := set $copy "matchLabelKeys" (list "pod-template-hash") -}}
{{- end -}}
{{- end -}}
{{- $out = append $out $copy -}}
{{- end -}}
{{- with $out }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The fully qualified gRPC service each component serves (what health reports on). */}}
{{- define "lms.grpcService" -}}
{{- $services := dict "pathway" "lms.pathway.v1.PathwayService" "enrolment" "lms.enrolment.v1.EnrolmentService" "assessment" "lms.assessment.v1.AssessmentService" "records" "lms.records.v1.RecordsService" "notification" "lms.notification.v1.NotificationService" -}}
{{- required (printf "unknown component %q" .) (get $services .) -}}
{{- end -}}
