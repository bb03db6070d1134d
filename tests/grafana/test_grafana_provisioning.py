"""Provisioning: datasources with the contract's UIDs and links, and the dashboard provider."""

from __future__ import annotations

import re

import yaml

from contract import current
from tests.grafana.model import (
    DATASOURCE_UIDS,
    GRAFANA,
    PROVISIONING,
    ROOT,
    datasource_provisioning,
)


def _by_uid() -> dict[str, dict]:
    return {ds["uid"]: ds for ds in datasource_provisioning()}


def _uid_references(node: object) -> list[str]:
    """Every value of a `datasourceUid` key anywhere in a datasource's settings."""
    if isinstance(node, dict):
        found = [str(v) for k, v in node.items() if k == "datasourceUid"]
        for value in node.values():
            found += _uid_references(value)
        return found
    if isinstance(node, list):
        return [uid for item in node for uid in _uid_references(item)]
    return []


def test_every_provisioning_file_parses() -> None:
    files = sorted(PROVISIONING.rglob("*.y*ml"))
    assert files, "no provisioning files"
    for path in files:
        document = yaml.safe_load(path.read_text())
        assert document["apiVersion"] == 1, path


def test_datasources_have_the_contract_uids_types_and_compose_urls() -> None:
    by_uid = _by_uid()
    assert set(by_uid) == DATASOURCE_UIDS
    # Compose service name and port of each datasource (the contract's key names the service).
    urls = {
        "prometheus": "http://prometheus:9090",
        "loki": "http://loki:3100",
        "tempo": "http://tempo:3200",
        "alertmanager": "http://alertmanager:9093",
    }
    contract = current()
    assert set(urls) == set(contract.grafana.datasources)
    for key, url in urls.items():
        datasource = contract.grafana.datasources[key]
        provisioned = by_uid[datasource.uid]
        assert (provisioned["type"], provisioned["url"]) == (datasource.type, url), key
    default = contract.datasource_uid("prometheus")
    assert [ds["uid"] for ds in by_uid.values() if ds.get("isDefault")] == [default]


def test_every_datasource_uid_referenced_in_provisioning_exists() -> None:
    by_uid = _by_uid()
    references = [(ds["uid"], ref) for ds in by_uid.values() for ref in _uid_references(ds)]
    assert references, "the datasources link to nothing"
    assert [pair for pair in references if pair[1] not in by_uid] == []


def test_prometheus_exemplars_open_traces_in_tempo() -> None:
    destinations = _by_uid()["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]
    assert {"name": "trace_id", "datasourceUid": "tempo"}.items() <= destinations[0].items()


def test_loki_trace_id_becomes_a_link_to_tempo() -> None:
    fields = _by_uid()["loki"]["jsonData"]["derivedFields"]
    trace = [f for f in fields if f["datasourceUid"] == "tempo"]
    assert len(trace) == 1
    # trace_id is structured metadata (the telemetry contract), matched by name, not parsed
    # from the line.
    assert (trace[0]["matcherType"], trace[0]["matcherRegex"]) == ("label", "trace_id")
    assert trace[0]["url"] == "$${__value.raw}"


def test_tempo_links_to_loki_logs_and_prometheus_metrics() -> None:
    settings = _by_uid()["tempo"]["jsonData"]
    logs = settings["tracesToLogsV2"]
    assert logs["datasourceUid"] == "loki"
    # The span's service selects the streams (Grafana writes the tag mapping as
    # service_name="..." for ${__tags}); no scan of every stream.
    assert logs["tags"] == [{"key": "service.name", "value": "service_name"}]
    assert logs["query"].startswith("{$${__tags}}")
    assert "=~" not in logs["query"]
    assert "${__trace.traceId}" in logs["query"]
    # Grafana 11 removed lokiSearch (Tempo's search by Loki): it would be ignored.
    assert "lokiSearch" not in settings
    metrics = settings["tracesToMetrics"]
    assert metrics["datasourceUid"] == "prometheus"
    assert {"key": "service.name", "value": "service_name"} in metrics["tags"]
    assert all("$$__tags" in q["query"] for q in metrics["queries"])
    assert settings["serviceMap"]["datasourceUid"] == "prometheus"


def test_alertmanager_speaks_the_prometheus_implementation() -> None:
    assert _by_uid()["alertmanager"]["jsonData"]["implementation"] == "prometheus"


def test_no_grafana_macro_is_eaten_by_environment_expansion() -> None:
    # Grafana expands $NAME and ${NAME} from its environment in provisioning files;
    # every $ here is meant for Grafana itself, so each must be the escaped $$.
    text = (PROVISIONING / "datasources" / "datasources.yaml").read_text()
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert re.findall(r"(?<!\$)\$(?!\$)", body.replace("$$", "")) == []
    assert "$$" in body


def test_dashboard_provider_loads_the_files_into_a_folder_without_ui_drift() -> None:
    providers = yaml.safe_load((PROVISIONING / "dashboards" / "dashboards.yaml").read_text())
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    assert provider["folder"]
    assert provider["allowUiUpdates"] is False
    assert provider["disableDeletion"] is True
    assert provider["updateIntervalSeconds"] > 0
    assert provider["options"]["path"]


def _compose_grafana() -> dict:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return compose["services"]["grafana"]


def test_compose_mounts_dashboards_and_provisioning_where_grafana_reads_them() -> None:
    providers = yaml.safe_load((PROVISIONING / "dashboards" / "dashboards.yaml").read_text())
    path = providers["providers"][0]["options"]["path"]
    mounts = {}
    for volume in _compose_grafana()["volumes"]:
        source, target, *_ = volume.split(":")
        mounts[target] = source
    assert (ROOT / mounts[path]).resolve() == GRAFANA / "dashboards"
    assert (ROOT / mounts["/etc/grafana/provisioning"]).resolve() == PROVISIONING


def test_rate_interval_basis_matches_the_prometheus_scrape_interval() -> None:
    # Grafana computes $__rate_interval from timeInterval (>= 4 scrape intervals); a
    # value shorter than the real scrape interval makes rates blink out.
    config = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text())
    scrape = config["global"]["scrape_interval"]
    assert _by_uid()["prometheus"]["jsonData"]["timeInterval"] == scrape
