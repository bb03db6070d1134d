"""ConfigMaps that kube-prometheus-stack's Grafana sidecars load: dashboards and datasources."""

from __future__ import annotations

import copy
from typing import Any

from contract import current
from deploy.kubernetes.generator import cluster, sources
from deploy.kubernetes.generator.render import dump

_CONTRACT = current()
LOKI_UID = _CONTRACT.datasource_uid("loki")
# Datasource UID (fixed by the telemetry contract) -> where that service lives in the cluster.
DATASOURCE_URLS = {
    _CONTRACT.datasource_uid("prometheus"): cluster.PROMETHEUS_URL,
    LOKI_UID: cluster.LOKI_URL,
    _CONTRACT.datasource_uid("tempo"): cluster.TEMPO_URL,
    _CONTRACT.datasource_uid("alertmanager"): cluster.ALERTMANAGER_URL,
}
DATASOURCES_KEY = "obs-stack-datasources.yaml"


def dashboard_config_maps() -> list[dict[str, Any]]:
    """One ConfigMap per dashboard (each far below the 1 MiB object limit), JSON as committed."""
    key, value = cluster.DASHBOARD_LABEL
    folder = sources.dashboard_folder()
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": f"grafana-dashboard-{path.stem}",
                "namespace": cluster.MONITORING_NAMESPACE,
                "labels": {**cluster.PART_OF, key: value},
                "annotations": {cluster.DASHBOARD_FOLDER_ANNOTATION: folder},
            },
            "data": {path.name: path.read_text(encoding="utf-8")},
        }
        for path in sources.dashboards()
    ]


def cluster_datasources() -> dict[str, Any]:
    """The compose provisioning file with in-cluster URLs and Loki's tenant header."""
    provisioning = copy.deepcopy(sources.datasources())
    for datasource in provisioning["datasources"]:
        uid = datasource.get("uid")
        if uid not in DATASOURCE_URLS:
            raise sources.SourceError(
                f"{sources.DATASOURCES}: datasource uid {uid!r} has no in-cluster URL;"
                " add it to DATASOURCE_URLS in deploy/kubernetes/generator/grafana.py"
            )
        datasource["url"] = DATASOURCE_URLS[uid]
        if uid == LOKI_UID:
            json_data = datasource.setdefault("jsonData", {})
            json_data["httpHeaderName1"] = "X-Scope-OrgID"
            datasource.setdefault("secureJsonData", {})["httpHeaderValue1"] = cluster.LOKI_TENANT
    return provisioning


def datasource_config_map() -> dict[str, Any]:
    key, value = cluster.DATASOURCE_LABEL
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            # The datasource sidecar searches Grafana's own namespace only.
            "name": "grafana-datasources-obs-stack",
            "namespace": cluster.MONITORING_NAMESPACE,
            "labels": {**cluster.PART_OF, key: value},
        },
        "data": {DATASOURCES_KEY: dump(cluster_datasources())},
    }
