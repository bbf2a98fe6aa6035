{{/* SPDX-License-Identifier: Apache-2.0 */}}
{{/* _helpers.tpl -- names, labels and small derived settings shared by the templates. */}}

{{- define "podprof.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Object name prefix: the release name, plus the chart name unless it already contains it. */}}
{{- define "podprof.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "podprof.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "podprof.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "podprof.selectorLabels" -}}
app.kubernetes.io/name: {{ include "podprof.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "podprof.image" -}}
{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{- define "podprof.operatorServiceAccount" -}}
{{- default (printf "%s-operator" (include "podprof.fullname" .)) .Values.operator.serviceAccount.name }}
{{- end }}

{{- define "podprof.workerServiceAccount" -}}
{{- default (printf "%s-worker" (include "podprof.fullname" .)) .Values.worker.serviceAccount.name }}
{{- end }}

{{- define "podprof.hubService" -}}
{{- printf "%s-hub" (include "podprof.fullname" .) }}
{{- end }}

{{/* Secret holding the hub's serving certificate (tls.crt, tls.key, ca.crt). */}}
{{- define "podprof.hubTLSSecret" -}}
{{- if eq .Values.hub.tls.mode "secret" }}
{{- .Values.hub.tls.secretName }}
{{- else }}
{{- printf "%s-hub-tls" (include "podprof.fullname" .) }}
{{- end }}
{{- end }}

{{- define "podprof.s3Secret" -}}
{{- default (printf "%s-s3" (include "podprof.fullname" .)) .Values.storage.s3.existingSecret }}
{{- end }}

{{/* "true" when the operator must run leader election. */}}
{{- define "podprof.leaderElection" -}}
{{- if or .Values.operator.leaderElection.enabled (gt (int .Values.operator.replicas) 1) }}true{{ end }}
{{- end }}

{{- define "podprof.leaseName" -}}
{{- printf "%s-operator-leader" (include "podprof.fullname" .) }}
{{- end }}

{{/* The hub URL workers dial: wss with TLS, ws without. */}}
{{- define "podprof.hubURL" -}}
{{- $scheme := ternary "ws" "wss" (eq .Values.hub.tls.mode "disabled") }}
{{- printf "%s://%s.%s.svc:%d" $scheme (include "podprof.hubService" .) .Release.Namespace (int .Values.hub.port) }}
{{- end }}
