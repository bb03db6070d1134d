"""What the manifests assume about the cluster: each fact once, each one a choice to check.

The names follow what the charts create for these releases, read from the charts'
templates (kube-prometheus-stack 88.5.x, grafana 12.11.x, loki 18.11.x, tempo 2.2.x):

    helm install kube-prometheus-stack prometheus-community/kube-prometheus-stack \
        -n monitoring -f deploy/kubernetes/kube-prometheus-stack-values.yaml
    helm install loki grafana-community/loki -n monitoring    # gateway on, auth_enabled: true
    helm install tempo grafana-community/tempo -n monitoring

A different release name or namespace: change it here and regenerate.
"""

from __future__ import annotations

from contract import current

MONITORING_NAMESPACE = "monitoring"
CLUSTER_DOMAIN = "cluster.local"
KPS_RELEASE = "kube-prometheus-stack"
LOKI_RELEASE = "loki"
TEMPO_RELEASE = "tempo"


def _service(name: str, port: int | None = None) -> str:
    host = f"{name}.{MONITORING_NAMESPACE}.svc.{CLUSTER_DOMAIN}"
    return f"http://{host}" if port is None else f"http://{host}:{port}"


# kube-prometheus-stack names its services <fullname>-prometheus / -alertmanager, and
# <fullname> is the release name when it contains the chart name.
PROMETHEUS_URL = _service(f"{KPS_RELEASE}-prometheus", 9090)
ALERTMANAGER_URL = _service(f"{KPS_RELEASE}-alertmanager", 9093)
# The Loki chart's nginx gateway (port 80) routes both pushes and queries in every
# deployment mode, so the URL does not change when Loki goes distributed.
LOKI_URL = _service(f"{LOKI_RELEASE}-gateway")
LOKI_PUSH_URL = f"{LOKI_URL}/loki/api/v1/push"
# The single-binary Tempo chart: query API on 3200, OTLP/HTTP on 4318.
TEMPO_URL = _service(TEMPO_RELEASE, 3200)
TEMPO_OTLP_HTTP_URL = _service(TEMPO_RELEASE, 4318)

# The Loki chart turns multi-tenancy on (auth_enabled: true): every push and query
# names a tenant in X-Scope-OrgID. The sidecar (loki.tenant_id) and the Grafana
# datasource must name the same one.
LOKI_TENANT = "obs-stack"

# kube-prometheus-stack's Prometheus selects PrometheusRule, ServiceMonitor and
# PodMonitor objects by this label unless its *SelectorNilUsesHelmValues are false.
PROMETHEUS_SELECTOR_LABELS = {"release": KPS_RELEASE}
# The chart's Grafana sidecars (kube-prometheus-stack values: grafana.sidecar.*.label
# and labelValue). Dashboards are searched in every namespace; datasources only in
# Grafana's own, so the datasource ConfigMap lives in MONITORING_NAMESPACE.
DASHBOARD_LABEL = ("grafana_dashboard", "1")
DATASOURCE_LABEL = ("grafana_datasource", "1")
# k8s-sidecar's default folder annotation (its FOLDER_ANNOTATION is unset by the chart):
# a path under the dashboards directory, which Grafana turns into a folder when the
# provider has foldersFromFilesStructure (set in the generated values).
DASHBOARD_FOLDER_ANNOTATION = "k8s-sidecar-target-directory"

# Mounted by the Alertmanager operator at /etc/alertmanager/secrets/<name>/<key>;
# created by hand (deploy/kubernetes/README.md), never committed.
ALERTMANAGER_SECRET = "obs-stack-alertmanager-receivers"  # noqa: S105 (a Secret's name)
ALERTMANAGER_SECRETS_DIR = f"/etc/alertmanager/secrets/{ALERTMANAGER_SECRET}"
# kube-prometheus-stack writes alertmanager.templateFiles here and loads *.tmpl from it.
ALERTMANAGER_TEMPLATES_GLOB = "/etc/alertmanager/config/*.tmpl"

PART_OF = {"app.kubernetes.io/part-of": "obs-stack"}

# Pods that carry the sidecar are found by this label and the sidecar's port name.
SIDECAR_POD_LABEL = ("obs-stack/sidecar", "true")
SIDECAR_PORT_NAME = "sidecar-http"

# The example overlay (examples/sample-service) runs in this namespace, and so does the
# PrometheusRule with the objectives of its services file: beside the workload, as a
# team would keep its own (the chart's Prometheus reads rules from every namespace).
SAMPLE_NAMESPACE = "sample-service"

# Alert links. Every notification carries them out of the cluster, so they must open
# where the on-call person is; prometheus/render.py writes them exactly as for compose,
# from these two bases (deploy/kubernetes/README.md, "Alert links"):
# - runbook_url: <RUNBOOK_BASE_URL>/<Alert>.md, a page of docs/runbooks/. The default is
#   compose's own runbook server, which `docker compose up -d oncall` starts from any
#   checkout; a team points it at its forge's view of docs/runbooks instead, the way
#   kube-prometheus-stack's defaultRules.runbookUrl points at a published site.
# - dashboard_url: Grafana through `kubectl -n monitoring port-forward
#   svc/kube-prometheus-stack-grafana 3000:80`; an ingress's URL instead, if you have one.
RUNBOOK_BASE_URL = f"http://127.0.0.1:{current().components['oncall'].port}/runbooks"
GRAFANA_URL = "http://127.0.0.1:3000"
