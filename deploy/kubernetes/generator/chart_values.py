"""kube-prometheus-stack values: Alertmanager routing, Prometheus settings, Grafana sidecars.

Alertmanager routing goes in as chart values (`alertmanager.config`), not as an
AlertmanagerConfig object: the operator scopes an AlertmanagerConfig's routes and
inhibitions to alerts whose `namespace` label equals the object's namespace, and the
stack's alerts aggregate `by (service_name)`, so they carry no namespace and would
never match. The chart's `alertmanager.config` is the Alertmanager file format
itself, so the route tree is alertmanager/alertmanager.yml's, checked by the real
amtool like the compose one.
"""

from __future__ import annotations

import copy
from typing import Any

from deploy.kubernetes.generator import cluster, sources
from deploy.kubernetes.generator.monitors import CHART_SCRAPED, service_name_relabeling

# prometheus.yml keys -> where they land on Kubernetes; any other key stops generation.
_GLOBAL = {
    "scrape_interval": "scrapeInterval",
    "scrape_timeout": "scrapeTimeout",
    "evaluation_interval": "evaluationInterval",
}
_OTLP = {
    "promote_resource_attributes": "promoteResourceAttributes",
    "translation_strategy": "translationStrategy",
}
_TSDB = {"out_of_order_time_window": "outOfOrderTimeWindow"}
# Prometheus flags in docker-compose.yml -> prometheusSpec booleans.
_SWITCHES = {
    "--web.enable-otlp-receiver": "enableOTLPReceiver",
    "--web.enable-remote-write-receiver": "enableRemoteWriteReceiver",
}
# Flags the operator sets itself (paths, listen address) or that are a sizing choice of
# each install (retention: the chart's prometheus.prometheusSpec.retention).
_OPERATOR_FLAGS = {
    "--config.file",
    "--storage.tsdb.path",
    "--web.listen-address",
    "--storage.tsdb.retention.time",
    "--config.auto-reload-interval",
}
_FEATURE_FLAG = "--enable-feature"
# Compose has Prometheus poll its rendered files (no component after `up` may have to
# call /-/reload); the operator's config-reloader sidecar reloads Prometheus whenever a
# PrometheusRule or monitor changes, so the polling would only repeat its work.
OPERATOR_RELOADS = {"auto-reload-config"}
# rule_files -> PrometheusRule objects, scrape_configs -> monitors; the operator wires
# Alertmanager itself.
_ELSEWHERE = {"rule_files", "scrape_configs", "alerting"}
SECRET_PREFIX = "secrets/"  # noqa: S105 (a directory name, not a secret)


def _unknown(section: str, keys: set[str]) -> None:
    if keys:
        raise sources.SourceError(
            f"{sources.PROMETHEUS_CONFIG}: {section} keys {sorted(keys)} have no Kubernetes"
            " counterpart; add them to deploy/kubernetes/generator/chart_values.py"
        )


def prometheus_spec() -> dict[str, Any]:
    config = sources.prometheus_config()
    _unknown("top-level", set(config) - {"global", "storage", "otlp", *_ELSEWHERE})
    _unknown("global", set(config["global"]) - set(_GLOBAL))
    spec: dict[str, Any] = {_GLOBAL[key]: value for key, value in config["global"].items()}

    flags: dict[str, list[str]] = {}
    for flag in sources.prometheus_flags():
        name, _, value = flag.partition("=")
        flags.setdefault(name, []).append(value)
    unknown = set(flags) - {*_SWITCHES, *_OPERATOR_FLAGS, _FEATURE_FLAG}
    if unknown:
        raise sources.SourceError(
            f"{sources.COMPOSE_FILE}: Prometheus flags {sorted(unknown)} have no Kubernetes"
            " counterpart; add them to deploy/kubernetes/generator/chart_values.py"
        )
    features = [
        feature
        for value in flags.get(_FEATURE_FLAG, [])
        for feature in value.split(",")
        if feature not in OPERATOR_RELOADS
    ]
    if features:
        spec["enableFeatures"] = features
    storage = config.get("storage", {})
    _unknown("storage", set(storage) - {"exemplars", "tsdb"})
    if "exemplars" in storage:
        _unknown("storage.exemplars", set(storage["exemplars"]) - {"max_exemplars"})
        spec["exemplars"] = {"maxSize": storage["exemplars"]["max_exemplars"]}
    if "tsdb" in storage:
        _unknown("storage.tsdb", set(storage["tsdb"]) - set(_TSDB))
        spec["tsdb"] = {_TSDB[key]: value for key, value in storage["tsdb"].items()}
    for flag, key in _SWITCHES.items():
        spec[key] = flag in flags
    otlp = config.get("otlp", {})
    _unknown("otlp", set(otlp) - set(_OTLP))
    if otlp:
        spec["otlp"] = {_OTLP[key]: value for key, value in otlp.items()}
    return spec


def _point_file_fields_at_secret(node: Any, keys: set[str]) -> None:
    """`*_file: secrets/NAME` -> the operator's mount of the receivers Secret, key NAME."""
    if isinstance(node, dict):
        for field, value in node.items():
            if field.endswith("_file") and isinstance(value, str):
                if not value.startswith(SECRET_PREFIX):
                    raise sources.SourceError(
                        f"{sources.ALERTMANAGER_DIR / 'alertmanager.yml'}: {field}: {value!r}"
                        f" is not under {SECRET_PREFIX}"
                    )
                key = value.removeprefix(SECRET_PREFIX)
                keys.add(key)
                node[field] = f"{cluster.ALERTMANAGER_SECRETS_DIR}/{key}"
            else:
                _point_file_fields_at_secret(value, keys)
    elif isinstance(node, list):
        for item in node:
            _point_file_fields_at_secret(item, keys)


def alertmanager_config() -> tuple[dict[str, Any], list[str]]:
    """The compose routing with the chart's template path and secret mount; and the secret keys."""
    config = copy.deepcopy(sources.alertmanager_config())
    config["templates"] = [cluster.ALERTMANAGER_TEMPLATES_GLOB]
    keys: set[str] = set()
    _point_file_fields_at_secret(config.get("receivers", []), keys)
    return config, sorted(keys)


def values() -> tuple[dict[str, Any], list[str]]:
    """The values document and the keys the receivers Secret must hold."""
    config, secret_keys = alertmanager_config()
    relabelings = {chart: service_name_relabeling(job) for job, chart in CHART_SCRAPED.items()}
    document = {
        # The stack has its own Watchdog (prometheus/alerts/stack.yml), routed to the
        # dead-man's switch. InfoInhibitor (severity "none") only feeds the chart's own
        # inhibit rules, which alertmanager.config below replaces; left on, the route
        # tree would turn it into a ticket.
        "defaultRules": {"disabled": {"Watchdog": True, "InfoInhibitor": True}},
        "prometheus": {
            "prometheusSpec": prometheus_spec(),
            "serviceMonitor": {"relabelings": relabelings["prometheus"]},
        },
        "alertmanager": {
            "config": config,
            "templateFiles": {
                path.name: path.read_text(encoding="utf-8")
                for path in sources.alertmanager_templates()
            },
            "alertmanagerSpec": {"secrets": [cluster.ALERTMANAGER_SECRET]},
            "serviceMonitor": {"relabelings": relabelings["alertmanager"]},
        },
        "grafana": {
            "sidecar": {
                # Folders from the k8s-sidecar-target-directory annotation of each dashboard.
                "dashboards": {"provider": {"foldersFromFilesStructure": True}},
                # The obs-stack datasources ConfigMap provides Prometheus and Alertmanager
                # with the fixed UIDs and the trace links; the chart's own would clash.
                "datasources": {
                    "defaultDatasourceEnabled": False,
                    "alertmanager": {"enabled": False},
                },
            },
            "serviceMonitor": {"relabelings": relabelings["grafana"]},
        },
    }
    return document, secret_keys


def preamble(secret_keys: list[str]) -> str:
    literals = " ".join(f"--from-literal={key}=https://..." for key in secret_keys)
    return (
        "# Values for kube-prometheus-stack (chart 88.5.x), release "
        f"{cluster.KPS_RELEASE!r} in namespace {cluster.MONITORING_NAMESPACE!r}.\n"
        "# alertmanager.config replaces every key of the chart's default config.\n"
        "# The receivers read their URLs from a Secret you create first:\n"
        f"#   kubectl -n {cluster.MONITORING_NAMESPACE} create secret generic"
        f" {cluster.ALERTMANAGER_SECRET} {literals}\n"
    )
