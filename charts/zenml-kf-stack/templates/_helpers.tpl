{{/*
Helpers of the zenml-kf-stack chart. Everything the chart derives from its values (the pipeline
root, the bucket providers KFP's launcher reads, the stack document zenml imports) is computed
here once, so the ConfigMaps, the NOTES and the helm test pod agree.
*/}}

{{/* Base name of the chart's own objects; short enough for the longest suffix (-minio-bucket). */}}
{{- define "zks.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "zks.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: zenml-kf
{{- end -}}

{{/* Selector labels of one component: (dict "ctx" $ "component" "minio") */}}
{{- define "zks.selectorLabels" -}}
app.kubernetes.io/name: {{ .ctx.Chart.Name }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Pod-level security context for a numeric user id: non-root, RuntimeDefault seccomp. */}}
{{- define "zks.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ . }}
runAsGroup: {{ . }}
fsGroup: {{ . }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Container-level security context for a numeric user id. */}}
{{- define "zks.containerSecurityContext" -}}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: {{ . }}
runAsGroup: {{ . }}
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* The in-chart MinIO's S3 endpoint, host:port (KFP's providers format: no scheme). */}}
{{- define "zks.minioEndpoint" -}}
{{- printf "%s-minio.%s:9000" (include "zks.fullname" .) .Release.Namespace -}}
{{- end -}}

{{/* The pipeline root: artifactStore.pipelineRoot, or s3://<minio.bucket> on the in-chart MinIO. */}}
{{- define "zks.pipelineRoot" -}}
{{- $root := .Values.artifactStore.pipelineRoot -}}
{{- if and .Values.minio.enabled (not $root) -}}
{{- $root = printf "s3://%s" .Values.minio.bucket -}}
{{- end -}}
{{- $root -}}
{{- end -}}

{{/* The pipeline root's scheme, which is also the key of its KFP provider: s3 | minio | gs. */}}
{{- define "zks.rootScheme" -}}
{{- regexReplaceAll "://.*$" (include "zks.pipelineRoot" .) "" -}}
{{- end -}}

{{/* True ("true") when the bucket is S3 or S3-compatible (in-chart MinIO included). */}}
{{- define "zks.isS3" -}}
{{- if or .Values.minio.enabled (eq .Values.artifactStore.type "s3") -}}true{{- end -}}
{{- end -}}

{{/*
The S3 credentials Secret in use ("" = credentials from the pod's environment): the MinIO root
Secret with the in-chart MinIO, else artifactStore.s3.credentials.secretName unless fromEnv.
*/}}
{{- define "zks.s3SecretName" -}}
{{- if .Values.minio.enabled -}}
{{- .Values.minio.rootCredentialsSecret -}}
{{- else if and (eq .Values.artifactStore.type "s3") (not .Values.artifactStore.s3.credentials.fromEnv) -}}
{{- .Values.artifactStore.s3.credentials.secretName -}}
{{- end -}}
{{- end -}}

{{/* Keys of the access key id and secret key inside that Secret (MinIO's root-user / root-password). */}}
{{- define "zks.s3AccessKeyKey" -}}
{{- if .Values.minio.enabled -}}root-user{{- else -}}{{- .Values.artifactStore.s3.credentials.accessKeyKey -}}{{- end -}}
{{- end -}}
{{- define "zks.s3SecretKeyKey" -}}
{{- if .Values.minio.enabled -}}root-password{{- else -}}{{- .Values.artifactStore.s3.credentials.secretKeyKey -}}{{- end -}}
{{- end -}}

{{/* The GCS service-account JSON Secret in use ("" = workload identity / ADC). */}}
{{- define "zks.gcsSecretName" -}}
{{- $c := .Values.artifactStore.gcs.credentials -}}
{{- if and (not .Values.minio.enabled) (eq .Values.artifactStore.type "gcs") (not $c.fromEnv) -}}
{{- $c.secretName -}}
{{- end -}}
{{- end -}}

{{/* The S3 endpoint as host:port ("" = AWS), its region, and its addressing/TLS settings. */}}
{{- define "zks.s3Endpoint" -}}
{{- if .Values.minio.enabled -}}{{- include "zks.minioEndpoint" . -}}{{- else -}}{{- .Values.artifactStore.s3.endpoint -}}{{- end -}}
{{- end -}}
{{- define "zks.s3Region" -}}
{{- if .Values.artifactStore.s3.region -}}
{{- .Values.artifactStore.s3.region -}}
{{- else if .Values.minio.enabled -}}
{{- /* MinIO's default region; the launcher's AWS SDK needs one with a secret. */ -}}
us-east-1
{{- end -}}
{{- end -}}
{{- define "zks.s3DisableSSL" -}}
{{- if or .Values.minio.enabled .Values.artifactStore.s3.disableSSL -}}true{{- else -}}false{{- end -}}
{{- end -}}
{{- define "zks.s3ForcePathStyle" -}}
{{- if or .Values.minio.enabled .Values.artifactStore.s3.forcePathStyle -}}true{{- else -}}false{{- end -}}
{{- end -}}

{{/* The endpoint as a URL, as zenml's s3 store and boto3 take it ("" = AWS). */}}
{{- define "zks.s3EndpointURL" -}}
{{- $endpoint := include "zks.s3Endpoint" . -}}
{{- if $endpoint -}}
{{- printf "%s://%s" (ternary "http" "https" (eq (include "zks.s3DisableSSL" .) "true")) $endpoint -}}
{{- end -}}
{{- end -}}

{{/* The MLMD gRPC address the stack uses. */}}
{{- define "zks.mlmdHost" -}}
{{- if .Values.mlmd.enabled -}}
{{- printf "%s-mlmd.%s" (include "zks.fullname" .) .Release.Namespace -}}
{{- else -}}
{{- .Values.metadataStore.grpc.host -}}
{{- end -}}
{{- end -}}
{{- define "zks.mlmdPort" -}}
{{- if .Values.mlmd.enabled -}}8080{{- else -}}{{- int .Values.metadataStore.grpc.port -}}{{- end -}}
{{- end -}}

{{/*
Checks values.schema.json cannot express (they compare two values, or need KFP's launcher
behaviour). Each failure is one message naming the value and the fix.
*/}}
{{- define "zks.validate" -}}
{{- $v := .Values -}}
{{- $s3 := $v.artifactStore.s3 -}}
{{- if and $v.minio.enabled $v.artifactStore.pipelineRoot -}}
{{- $bucket := regexReplaceAll "^[a-z0-9]+://([^/]+).*$" $v.artifactStore.pipelineRoot "${1}" -}}
{{- if ne $bucket $v.minio.bucket -}}
{{- fail (printf "artifactStore.pipelineRoot %q is not on minio.bucket %q: with minio.enabled leave pipelineRoot empty or use s3://%s/<prefix>" $v.artifactStore.pipelineRoot $v.minio.bucket $v.minio.bucket) -}}
{{- end -}}
{{- end -}}
{{- if and (not $v.minio.enabled) (eq $v.artifactStore.type "s3") -}}
{{- $secret := include "zks.s3SecretName" . -}}
{{- if and (eq (include "zks.rootScheme" .) "minio") (not $s3.endpoint) -}}
{{- fail (printf "artifactStore.pipelineRoot %q is a minio:// root: set artifactStore.s3.endpoint (host:port of that MinIO) and artifactStore.s3.credentials.secretName, or use minio.enabled" $v.artifactStore.pipelineRoot) -}}
{{- end -}}
{{- /* backend/src/v2/objectstore/object_store.go (KFP 2.2.0-2.14.0): with fromEnv the launcher opens
       the bucket URL with the environment's AWS settings and ignores endpoint/region/disableSSL. */ -}}
{{- if and (not $secret) $s3.endpoint -}}
{{- fail (printf "artifactStore.s3.endpoint %q needs artifactStore.s3.credentials.secretName: KFP's launcher ignores the endpoint when credentials come from the environment (fromEnv)" $s3.endpoint) -}}
{{- end -}}
{{- /* createS3BucketSession passes the region to the AWS SDK as given; an empty one fails (MissingRegion). */ -}}
{{- if and $secret (not $s3.region) -}}
{{- fail "artifactStore.s3.region is required with artifactStore.s3.credentials.secretName: KFP's launcher gives the AWS SDK the configured region only" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The `providers` document of the kfp-launcher ConfigMap, as YAML. Structure: see
templates/kfp-launcher-configmap.yaml. Only fields KFP's structs know; empty strings omitted;
booleans always explicit (an unset forcePathStyle means true in KFP 2.4+).
*/}}
{{- define "zks.providers" -}}
{{- $v := .Values -}}
{{- $scheme := include "zks.rootScheme" . -}}
{{- $providers := dict -}}
{{- if eq $scheme "gs" -}}
{{- $secret := include "zks.gcsSecretName" . -}}
{{- $credentials := dict "fromEnv" true -}}
{{- if $secret -}}
{{- $credentials = dict "fromEnv" false "secretRef" (dict "secretName" $secret "tokenKey" $v.artifactStore.gcs.credentials.tokenKey) -}}
{{- end -}}
{{- $_ := set $providers "gs" (dict "default" (dict "credentials" $credentials)) -}}
{{- else -}}
{{- $default := dict "disableSSL" (eq (include "zks.s3DisableSSL" .) "true") "forcePathStyle" (eq (include "zks.s3ForcePathStyle" .) "true") -}}
{{- $endpoint := include "zks.s3Endpoint" . -}}
{{- if $endpoint -}}{{- $_ := set $default "endpoint" $endpoint -}}{{- end -}}
{{- $region := include "zks.s3Region" . -}}
{{- if $region -}}{{- $_ := set $default "region" $region -}}{{- end -}}
{{- $secret := include "zks.s3SecretName" . -}}
{{- if $secret -}}
{{- $_ := set $default "credentials" (dict "fromEnv" false "secretRef" (dict "secretName" $secret "accessKeyKey" (include "zks.s3AccessKeyKey" .) "secretKeyKey" (include "zks.s3SecretKeyKey" .))) -}}
{{- else -}}
{{- $_ := set $default "credentials" (dict "fromEnv" true) -}}
{{- end -}}
{{- /* minio:// roots are configured under "minio", s3:// roots under "s3" (env.go GetStoreSessionInfo). */ -}}
{{- $_ := set $providers $scheme (dict "default" $default) -}}
{{- end -}}
{{- toYaml $providers -}}
{{- end -}}

{{/*
The stack document of the zenml-kf-stack ConfigMap (the contract with `zenml stack
import-values`): keys with empty values are omitted.
*/}}
{{- define "zks.stackDocument" -}}
{{- $v := .Values -}}
{{- $orchestrator := dict "service_account" $v.serviceAccount.name -}}
{{- if $v.kfp.host -}}{{- $_ := set $orchestrator "host" $v.kfp.host -}}{{- end -}}
{{- if $v.kfp.namespace -}}{{- $_ := set $orchestrator "namespace" $v.kfp.namespace -}}{{- end -}}
{{- if $v.imageRegistry -}}{{- $_ := set $orchestrator "image_registry" $v.imageRegistry -}}{{- end -}}
{{- $store := dict "path" (include "zks.pipelineRoot" .) -}}
{{- $flavor := "s3" -}}
{{- if include "zks.isS3" . -}}
{{- $url := include "zks.s3EndpointURL" . -}}
{{- if $url -}}{{- $_ := set $store "endpoint_url" $url -}}{{- end -}}
{{- if $v.artifactStore.s3.region -}}{{- $_ := set $store "region" $v.artifactStore.s3.region -}}{{- end -}}
{{- if eq (include "zks.s3ForcePathStyle" .) "true" -}}{{- $_ := set $store "path_style" true -}}{{- end -}}
{{- else -}}
{{- $flavor = "gcp" -}}
{{- if $v.artifactStore.gcs.project -}}{{- $_ := set $store "project" $v.artifactStore.gcs.project -}}{{- end -}}
{{- end -}}
{{- $metadata := dict "host" (include "zks.mlmdHost" .) "port" (include "zks.mlmdPort" . | int) -}}
{{- $doc := dict "stack" $v.stackName -}}
{{- $_ := set $doc "orchestrator" (dict "flavor" "kubeflow" "config" $orchestrator) -}}
{{- $_ := set $doc "artifact_store" (dict "flavor" $flavor "config" $store) -}}
{{- $_ := set $doc "metadata_store" (dict "flavor" "grpc" "config" $metadata) -}}
{{- toYaml $doc -}}
{{- end -}}
