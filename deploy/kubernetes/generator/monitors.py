"""ServiceMonitor / PodMonitor objects and chart relabelings from prometheus.yml's scrape jobs.

Each job of prometheus.yml sets `service_name` as a target label; on Kubernetes the
same label is set by a relabeling with the same value, and the job's interval,
timeout, path and honor_labels carry over. Every job has a home below, so a job
added to prometheus.yml fails generation until it is given one.
"""

from __future__ import annotations

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
SIDECAR_JOB = "sidecar"
SAMPLE_JOB = "sample_service"


class UnplacedJobError(Exception):
    """A prometheus.yml scrape job that no Kubernetes object or chart value covers."""


def check_every_job_placed() -> None:
    placed = {SIDECAR_JOB, SAMPLE_JOB, *CHART_SCRAPED, *OTHER_CHARTS}
    missing = [job for job in sources.scrape_jobs() if job not in placed]
    if missing:
        raise UnplacedJobError(
            f"{sources.PROMETHEUS_CONFIG}: scrape jobs {missing} have no Kubernetes"
            " counterpart; add them to deploy/kubernetes/generator/monitors.py"
        )


def service_name_relabeling(job: str) -> list[dict[str, str]]:
    # A target label set by relabeling, exactly as static_configs labels set it.
    return [
        {
            "action": "replace",
            "targetLabel": "service_name",
            "replacement": sources.job_service_name(job),
        }
    ]


def _endpoint(job_name: str, port: str) -> dict[str, Any]:
    config = sources.prometheus_config()
    job = sources.scrape_job(job_name)
    endpoint: dict[str, Any] = {
        "port": port,
        "path": job.get("metrics_path", "/metrics"),
        "interval": job.get("scrape_interval", config["global"]["scrape_interval"]),
        "scrapeTimeout": job.get("scrape_timeout", config["global"]["scrape_timeout"]),
        "relabelings": service_name_relabeling(job_name),
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
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": _metadata("obs-stack-sidecar", cluster.MONITORING_NAMESPACE),
        "spec": {
            "namespaceSelector": {"any": True},
            "selector": {"matchLabels": {key: value}},
            "podMetricsEndpoints": [_endpoint(SIDECAR_JOB, cluster.SIDECAR_PORT_NAME)],
        },
    }


def sample_service_monitor() -> dict[str, Any]:
    key, value = cluster.SAMPLE_APP_LABEL
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": _metadata(value, cluster.SAMPLE_NAMESPACE),
        "spec": {
            "selector": {"matchLabels": {key: value}},
            "endpoints": [_endpoint(SAMPLE_JOB, cluster.SAMPLE_PORT_NAME)],
        },
    }
