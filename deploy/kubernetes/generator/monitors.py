"""ServiceMonitor / PodMonitor objects and chart relabelings from prometheus.yml's scrape jobs.

Each job of prometheus.yml sets `service_name` as a target label; on Kubernetes the
same label is set by a relabeling with the same value, and the job's interval,
timeout, path and honor_labels carry over. The `services` job's targets come from a
services file (render.py's file_sd targets in compose): here each target with its
labels becomes a ServiceMonitor for the Service it names. Every job has a home below,
so a job added to prometheus.yml fails generation until it is given one.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from deploy.kubernetes.generator import cluster, sources

# prometheus.yml job -> kube-prometheus-stack values key whose serviceMonitor scrapes it.
CHART_SCRAPED = {"prometheus": "prometheus", "alertmanager": "alertmanager", "grafana": "grafana"}
# Jobs whose targets come from other charts; deploy/kubernetes/README.md says how to
# give them service_name there (no generated object: their Services are the charts').
OTHER_CHARTS = {
    "loki": "the Loki chart: monitoring.serviceMonitor.{enabled,labels,relabelings}",
    "tempo": "the Tempo chart has no relabelings value: add a ServiceMonitor of your own",
    "otel-collector": "the OpenTelemetry Collector chart or operator you deploy",
}
# Jobs of compose-only components (deploy/kubernetes/README.md, "oncall").
NOT_ON_KUBERNETES = {
    "oncall": "Alertmanager's receivers are chart values; runbook links use cluster.py",
}
SIDECAR_JOB = "sidecar"
SERVICES_JOB = "services"
# The target labels render.py gives a file_sd target that a ServiceMonitor sets otherwise.
_ENDPOINT_FIELDS = {"__metrics_path__": "path", "__scheme__": "scheme"}
# A Service's cluster address, as a services file names a metrics target on Kubernetes.
_SERVICE_ADDRESS = re.compile(
    r"^(?P<name>[a-z0-9]([-a-z0-9]*[a-z0-9])?)\.(?P<namespace>[a-z0-9]([-a-z0-9]*[a-z0-9])?)"
    rf"\.svc(\.{re.escape(cluster.CLUSTER_DOMAIN)})?:(?P<port>[0-9]{{1,5}})$"
)


class UnplacedJobError(Exception):
    """A prometheus.yml scrape job that no Kubernetes object or chart value covers."""


def check_every_job_placed() -> None:
    placed = {SIDECAR_JOB, SERVICES_JOB, *CHART_SCRAPED, *OTHER_CHARTS, *NOT_ON_KUBERNETES}
    missing = [job for job in sources.scrape_jobs() if job not in placed]
    if missing:
        raise UnplacedJobError(
            f"{sources.PROMETHEUS_CONFIG}: scrape jobs {missing} have no Kubernetes"
            " counterpart; add them to deploy/kubernetes/generator/monitors.py"
        )


def _replace(label: str, value: str) -> dict[str, str]:
    # A target label set by relabeling, exactly as a static or file_sd label sets it.
    return {"action": "replace", "targetLabel": label, "replacement": value}


def service_name_relabeling(job: str) -> list[dict[str, str]]:
    return [_replace("service_name", sources.job_service_name(job))]


def _endpoint(job_name: str, relabelings: list[dict[str, str]]) -> dict[str, Any]:
    config = sources.prometheus_config()
    job = sources.scrape_job(job_name)
    endpoint: dict[str, Any] = {
        "path": job.get("metrics_path", "/metrics"),
        "interval": job.get("scrape_interval", config["global"]["scrape_interval"]),
        "scrapeTimeout": job.get("scrape_timeout", config["global"]["scrape_timeout"]),
        "relabelings": relabelings,
    }
    if job.get("honor_labels", False):
        endpoint["honorLabels"] = True
    return endpoint


def _metadata(name: str, namespace: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": namespace,
        "labels": {**cluster.PART_OF, **cluster.PROMETHEUS_SELECTOR_LABELS},
    }


def sidecar_pod_monitor() -> dict[str, Any]:
    """Every pod with the sidecar attached, in any namespace, scraped on the sidecar's port."""
    key, value = cluster.SIDECAR_POD_LABEL
    endpoint = {
        "port": cluster.SIDECAR_PORT_NAME,
        **_endpoint(SIDECAR_JOB, service_name_relabeling(SIDECAR_JOB)),
    }
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": _metadata("obs-stack-sidecar", cluster.MONITORING_NAMESPACE),
        "spec": {
            "namespaceSelector": {"any": True},
            "selector": {"matchLabels": {key: value}},
            "podMetricsEndpoints": [endpoint],
        },
    }


def _kubernetes_service(
    where: str, target: str, candidates: list[dict[str, Any]]
) -> tuple[dict[str, Any], str]:
    """The Service a metrics target names, and the name of the port it names."""
    address = _SERVICE_ADDRESS.fullmatch(target)
    if address is None:
        raise sources.SourceError(
            f"{where}: {target!r} is not a Service's cluster address"
            f" <service>.<namespace>.svc:<port>; a ServiceMonitor scrapes every pod behind it"
        )
    name, namespace, port = address["name"], address["namespace"], int(address["port"])
    found = [
        service
        for service in candidates
        if (service["metadata"]["name"], service["metadata"].get("namespace")) == (name, namespace)
    ]
    if not found:
        raise sources.SourceError(
            f"{where}: {target!r} names no Service of this overlay ({namespace}/{name}); the"
            " ServiceMonitor selects that Service's labels and port name"
        )
    (service,) = found
    ports = [p for p in service["spec"].get("ports", []) if p.get("port") == port]
    if not ports or not ports[0].get("name"):
        raise sources.SourceError(
            f"{where}: Service {namespace}/{name} has no named port {port}; a ServiceMonitor"
            " selects a port by its name"
        )
    if not service["metadata"].get("labels"):
        raise sources.SourceError(
            f"{where}: Service {namespace}/{name} has no labels for a ServiceMonitor to select"
        )
    return service, ports[0]["name"]


def service_monitors(services_file: Path, candidates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One ServiceMonitor per service with a `metrics:` target in a services file: the
    labels render.py gives its file_sd target in compose, set by relabeling here."""
    render = sources.prometheus_render()
    services = sources.load_services(services_file)
    scraped = [(i, s) for i, s in enumerate(services.services) if s.metrics is not None]
    monitors = []
    for (index, service), group in zip(scraped, render.targets(services), strict=True):
        where = f"{services_file}: services[{index}] ({service.name}): metrics.target"
        (target,) = group["targets"]
        kubernetes_service, port = _kubernetes_service(where, target, candidates)
        labels = group["labels"]
        unknown = {key for key in labels if key.startswith("__")} - set(_ENDPOINT_FIELDS)
        if unknown:
            raise sources.SourceError(
                f"{where}: render.py sets {sorted(unknown)}, which no ServiceMonitor field"
                " carries; add them to deploy/kubernetes/generator/monitors.py"
            )
        relabelings = [_replace(k, v) for k, v in labels.items() if not k.startswith("__")]
        endpoint = {"port": port, **_endpoint(SERVICES_JOB, relabelings)}
        endpoint.update((field, labels[key]) for key, field in _ENDPOINT_FIELDS.items())
        metadata = kubernetes_service["metadata"]
        monitors.append(
            {
                "apiVersion": "monitoring.coreos.com/v1",
                "kind": "ServiceMonitor",
                "metadata": _metadata(service.name, metadata["namespace"]),
                "spec": {
                    "selector": {"matchLabels": dict(metadata["labels"])},
                    "endpoints": [endpoint],
                },
            }
        )
    return monitors
