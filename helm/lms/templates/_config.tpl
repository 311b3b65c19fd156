{{/* lms.toml: the one configuration of every component, rendered into the ConfigMap the pods
     mount and into the migration job's own copy (templates/migrate-job.yaml). Secrets (database
     URLs, an HS256 secret) are not in it: they arrive as environment variables from Secrets. */}}
{{- define "lms.configToml" -}}
[server]
shutdown_grace_seconds = {{ .Values.config.shutdownGraceSeconds }}
max_message_bytes = {{ .Values.config.maxMessageBytes | int64 }}
request_timeout_seconds = {{ .Values.config.requestTimeoutSeconds }}

[auth]
{{- with .Values.auth.jwksUrl }}
jwks_url = {{ . | quote }}
{{- end }}
{{- if .Values.auth.jwksFileKey }}
jwks_file = "/etc/lms/jwks/jwks.json"
{{- end }}
issuer = {{ .Values.auth.issuer | quote }}
audience = {{ .Values.auth.audience | quote }}
tenant_claim = {{ .Values.auth.tenantClaim | quote }}
roles_claim = {{ .Values.auth.rolesClaim | quote }}
bindings_cache_seconds = {{ .Values.auth.bindingsCacheSeconds }}
{{- if not (include "lms.hs256" .) }}
{{- if eq .Values.auth.serviceIdentity "kubernetes" }}
# The pod's projected service account token (rotated by the kubelet).
service_token_file = "/var/run/secrets/lms/serviceaccount/token"
{{- else if eq .Values.auth.serviceIdentity "tokenFile" }}
service_token_file = "/etc/lms/service-token/token"
{{- end }}
{{- end }}
{{- if eq .Values.auth.serviceIdentity "kubernetes" }}

[auth.kubernetes]
issuer = {{ .Values.auth.kubernetes.issuer | quote }}
jwks_url = {{ .Values.auth.kubernetes.jwksUrl | quote }}
audience = {{ .Values.auth.kubernetes.audience | quote }}
service_accounts = [{{ printf "%s:%s" .Release.Namespace (include "lms.serviceAccountName" .) | quote }}]
{{- end }}
{{- if and (eq .Values.auth.serviceIdentity "clientCredentials") (not (include "lms.hs256" .)) }}

# client_id comes per component from LMS__AUTH__CLIENT_CREDENTIALS__CLIENT_ID.
[auth.client_credentials]
token_url = {{ .Values.auth.clientCredentials.tokenUrl | quote }}
discovery_url = {{ .Values.auth.clientCredentials.discoveryUrl | quote }}
client_secret_file = "/etc/lms/client-secret/secret"
scope = {{ .Values.auth.clientCredentials.scope | quote }}
resource = {{ .Values.auth.clientCredentials.resource | quote }}
audience = {{ .Values.auth.clientCredentials.audience | quote }}
{{- end }}

[telemetry]
log_format = {{ .Values.config.logFormat | quote }}
log_level = {{ .Values.config.logLevel | quote }}
metrics_listen = "0.0.0.0:{{ .Values.metrics.port }}"

[client]
timeout_seconds = {{ .Values.config.clientTimeoutSeconds }}
connect_timeout_seconds = {{ .Values.config.clientConnectTimeoutSeconds }}
resolve_interval_seconds = {{ .Values.config.clientResolveIntervalSeconds }}
read_retries = {{ .Values.config.clientReadRetries }}

[topology]
{{- /* Each service through its headless Service: the name resolves to every ready pod, and
     callers balance over them. A disabled component has no address (its events wait). */}}
{{- range $service := list "pathway" "enrolment" "assessment" "records" "notification" }}
{{- $c := get $.Values.components $service }}
{{- if and $c $c.enabled }}
{{ $service }} = {{ printf "http://%s-headless:%v" (include "lms.componentName" (dict "root" $ "name" $service)) $c.grpcPort | quote }}
{{- else }}
{{ $service }} = ""
{{- end }}
{{- end }}
{{- range $name, $c := .Values.components }}

[{{ $name }}]
{{- if hasKey $c "httpPort" }}
{{- /* The gateway: no database; every key is rendered (the binary denies unknown ones). */}}
listen = "0.0.0.0:{{ $c.httpPort }}"
cors_origins = {{ toJson (default (list) $c.corsOrigins) }}
requests_per_second = {{ $c.requestsPerSecond | int64 }}
burst = {{ $c.burst | int64 }}
max_body_bytes = {{ $c.maxBodyBytes | int64 }}
request_timeout_seconds = {{ $c.requestTimeoutSeconds | int64 }}
max_in_flight = {{ $c.maxInFlight | int64 }}
{{- else }}
listen = "0.0.0.0:{{ $c.grpcPort }}"
db_pool_size = {{ $c.dbPoolSize }}
{{- if hasKey $c "maxDeactivationShare" }}
max_deactivation_share = {{ $c.maxDeactivationShare }}
{{- end }}
{{- if hasKey $c "audienceSweepSeconds" }}
audience_sweep_seconds = {{ $c.audienceSweepSeconds | int64 }}
{{- end }}
{{- if hasKey $c "certificationScanSeconds" }}
certification_scan_seconds = {{ $c.certificationScanSeconds | int64 }}
{{- end }}
{{- if and (or (eq $name "records") (eq $name "pathway")) $c.publicUrl }}
public_url = {{ $c.publicUrl | quote }}
{{- end }}
{{- if and (eq $name "records") (hasKey $c "maxAttachmentBytes") }}
max_attachment_bytes = {{ $c.maxAttachmentBytes | int64 }}
{{- end }}
{{- if and (eq $name "pathway") (hasKey $c "maxPackageBytes") }}
max_package_bytes = {{ $c.maxPackageBytes | int64 }}
{{- end }}
{{- with $c.forwarding }}
{{- /* records-service's forwarding to another LRS: where endpoints may point. */}}

[{{ $name }}.forwarding]
{{- if hasKey . "allowHttp" }}
allow_http = {{ .allowHttp }}
{{- end }}
{{- if hasKey . "allowedNetworks" }}
allowed_networks = {{ toJson (default (list) .allowedNetworks) }}
{{- end }}
{{- end }}
{{- if hasKey $c "reminderScanSeconds" }}
reminder_scan_seconds = {{ $c.reminderScanSeconds | int64 }}
{{- end }}
{{- if hasKey $c "dueSoonDays" }}
due_soon_days = {{ toJson (default (list) $c.dueSoonDays) }}
{{- end }}
{{- if hasKey $c "escalationDays" }}
escalation_days = {{ $c.escalationDays | int64 }}
{{- end }}
{{- if hasKey $c "digestHourUtc" }}
digest_hour_utc = {{ $c.digestHourUtc | int64 }}
{{- end }}
{{- if hasKey $c "sessionReminderHours" }}
session_reminder_hours = {{ $c.sessionReminderHours | int64 }}
{{- end }}
{{- with $c.portalUrl }}
portal_url = {{ . | quote }}
{{- end }}
{{- with $c.email }}
{{- /* notification-service's email. The SMTP password is not here: it arrives as
     LMS__NOTIFICATION__EMAIL__SMTP_PASSWORD from email.existingSecret. Optional strings are
     rendered only when set (the binary's defaults apply otherwise). */}}

[{{ $name }}.email]
transport = {{ .transport | quote }}
{{- with .from }}
from = {{ . | quote }}
{{- end }}
{{- with .smtpHost }}
smtp_host = {{ . | quote }}
{{- end }}
{{- if hasKey . "smtpPort" }}
smtp_port = {{ .smtpPort | int64 }}
{{- end }}
{{- with .smtpTls }}
smtp_tls = {{ . | quote }}
{{- end }}
{{- if .caSecret }}
{{- /* The relay's private CA, mounted from email.caSecret (templates/deployment.yaml). */}}
smtp_ca_file = "/etc/lms/smtp-ca/ca.pem"
{{- end }}
{{- with .smtpUsername }}
smtp_username = {{ . | quote }}
{{- end }}
{{- end }}
{{- with $c.webhooks }}
{{- /* notification-service's webhooks: where they may point and how they are sent (egress is
     the NetworkPolicy's, templates/networkpolicy.yaml). */}}

[{{ $name }}.webhooks]
{{- if hasKey . "allowHttp" }}
allow_http = {{ .allowHttp }}
{{- end }}
{{- if hasKey . "allowedNetworks" }}
allowed_networks = {{ toJson (default (list) .allowedNetworks) }}
{{- end }}
{{- if hasKey . "timeoutSeconds" }}
timeout_seconds = {{ .timeoutSeconds | int64 }}
{{- end }}
{{- if hasKey . "concurrency" }}
concurrency = {{ .concurrency | int64 }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- with .Values.components.gateway.portal }}
{{- /* The Learning Portal the gateway serves at / (docs/portal.md): only with an OIDC
     issuer; its session key and client secret are mounted in the gateway's pods only
     (templates/deployment.yaml). */}}

[web]
enabled = {{ ne .oidcIssuer "" }}
public_url = {{ .publicUrl | quote }}
oidc_issuer = {{ .oidcIssuer | quote }}
oidc_client_id = {{ .oidcClientId | quote }}
oidc_scopes = {{ .oidcScopes | quote }}
oidc_resource = {{ .oidcResource | quote }}
session_hours = {{ .sessionHours | int64 }}
{{- if .oidcIssuer }}
session_key_file = "/etc/lms/web/session-key"
{{- end }}
{{- if and .oidcIssuer .clientSecretKey }}
oidc_client_secret_file = "/etc/lms/web/client-secret"
{{- end }}
{{- end }}
{{- end -}}
