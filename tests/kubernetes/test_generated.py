"""The generated manifests: current, and carrying exactly what the compose stack runs on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.kubernetes.generator import __main__ as generator
from deploy.kubernetes.generator import cluster, grafana, monitors, sources
from deploy.kubernetes.generator.rules import SOURCE_ANNOTATION
from tests.kubernetes.manifests import BASE, DEPLOY, EXAMPLE, REPO, by_kind, load_documents, one

PROMETHEUS_CONFIG = yaml.safe_load((REPO / "prometheus" / "prometheus.yml").read_text())


def test_committed_manifests_are_current() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "deploy.kubernetes.generator", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_names_a_stale_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The same check against a copy where one generated file was edited by hand.
    for name in generator.OUTPUTS:
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text((DEPLOY / name).read_text())
    edited = tmp_path / "base" / "prometheus-rules.yaml"
    edited.write_text(edited.read_text().replace("for: 30s", "for: 5m", 1))
    monkeypatch.setattr(generator, "DEPLOY_DIR", tmp_path)
    assert generator.stale() == [edited]


def test_rules_are_exactly_the_loaded_rule_files() -> None:
    loaded = sorted(
        path
        for pattern in PROMETHEUS_CONFIG["rule_files"]
        for path in (REPO / "prometheus").glob(pattern)
    )
    assert loaded, "prometheus.yml loads no rule file"
    objects = by_kind(load_documents(BASE / "prometheus-rules.yaml"), "PrometheusRule")
    carried = {obj["metadata"]["annotations"][SOURCE_ANNOTATION]: obj for obj in objects}
    assert sorted(carried) == [str(path.relative_to(REPO)) for path in loaded]
    for path in loaded:
        source_groups = yaml.safe_load(path.read_text())["groups"]
        assert carried[str(path.relative_to(REPO))]["spec"]["groups"] == source_groups, path


def test_alert_sources_are_not_carried_besides_their_generated_rules() -> None:
    # prometheus/alerts/*.yml are the sources of rules/*.rules.yml; Prometheus loads only
    # the latter, so carrying both would evaluate every alert twice.
    carried = [
        obj["metadata"]["annotations"][SOURCE_ANNOTATION]
        for obj in load_documents(BASE / "prometheus-rules.yaml")
    ]
    assert carried
    assert not [source for source in carried if source.startswith("prometheus/alerts/")]


def test_dashboards_are_the_committed_json_with_the_sidecar_label_and_folder() -> None:
    maps = load_documents(BASE / "grafana-dashboards.yaml")
    files = sorted((REPO / "grafana" / "dashboards").glob("*.json"))
    assert len(maps) == len(files)
    provider = yaml.safe_load(
        (REPO / "grafana" / "provisioning" / "dashboards" / "dashboards.yaml").read_text()
    )["providers"][0]
    for config_map, path in zip(maps, files, strict=True):
        assert config_map["data"] == {path.name: path.read_text()}
        json.loads(config_map["data"][path.name])
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        annotations = config_map["metadata"]["annotations"]
        assert annotations["k8s-sidecar-target-directory"] == provider["folder"]


def _datasources() -> list[dict[str, Any]]:
    config_map = one(load_documents(BASE / "grafana-datasources.yaml"), "ConfigMap")
    assert config_map["metadata"]["labels"]["grafana_datasource"] == "1"
    # Grafana's datasource sidecar only searches Grafana's own namespace.
    assert config_map["metadata"]["namespace"] == cluster.MONITORING_NAMESPACE
    return yaml.safe_load(config_map["data"][grafana.DATASOURCES_KEY])["datasources"]


def test_datasources_keep_the_fixed_uids_and_point_into_the_cluster() -> None:
    source = yaml.safe_load(
        (REPO / "grafana" / "provisioning" / "datasources" / "datasources.yaml").read_text()
    )["datasources"]
    generated = _datasources()
    assert [ds["uid"] for ds in generated] == [ds["uid"] for ds in source]
    assert {ds["uid"] for ds in generated} >= {"prometheus", "loki", "tempo", "alertmanager"}
    for ds in generated:
        assert ".svc.cluster.local" in ds["url"], ds
    compose_hosts = {ds["url"].split("//")[1].split(":")[0] for ds in source}
    text = json.dumps(generated)
    for host in compose_hosts:
        assert f"//{host}:" not in text, host
        assert f"//{host}/" not in text, host


def test_datasources_differ_from_compose_only_in_url_and_loki_tenant() -> None:
    source = yaml.safe_load(
        (REPO / "grafana" / "provisioning" / "datasources" / "datasources.yaml").read_text()
    )["datasources"]
    for original, generated in zip(source, _datasources(), strict=True):
        generated = json.loads(json.dumps(generated))
        del generated["url"]
        expected = {key: value for key, value in original.items() if key != "url"}
        if original["uid"] == "loki":
            assert generated["jsonData"].pop("httpHeaderName1") == "X-Scope-OrgID"
            assert generated.pop("secureJsonData") == {"httpHeaderValue1": cluster.LOKI_TENANT}
        assert generated == expected


def test_scrape_interval_matches_the_datasource_time_interval() -> None:
    prometheus = next(ds for ds in _datasources() if ds["uid"] == "prometheus")
    values = yaml.safe_load((DEPLOY / "kube-prometheus-stack-values.yaml").read_text())
    spec = values["prometheus"]["prometheusSpec"]
    assert spec["scrapeInterval"] == prometheus["jsonData"]["timeInterval"]
    assert spec["scrapeInterval"] == PROMETHEUS_CONFIG["global"]["scrape_interval"]
    assert spec["evaluationInterval"] == PROMETHEUS_CONFIG["global"]["evaluation_interval"]


def _job(name: str) -> dict[str, Any]:
    return next(job for job in PROMETHEUS_CONFIG["scrape_configs"] if job["job_name"] == name)


def _relabeled_service_name(endpoint: dict[str, Any]) -> str:
    (relabel,) = [r for r in endpoint["relabelings"] if r["targetLabel"] == "service_name"]
    return relabel["replacement"]


def test_sidecar_pod_monitor_is_the_sidecar_job() -> None:
    job = _job("sidecar")
    monitor = one(load_documents(BASE / "sidecar-podmonitor.yaml"), "PodMonitor")
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["honorLabels"] is job["honor_labels"] is True
    assert _relabeled_service_name(endpoint) == job["static_configs"][0]["labels"]["service_name"]
    assert monitor["spec"]["namespaceSelector"] == {"any": True}


def test_sample_service_monitor_is_the_sample_service_job() -> None:
    job = _job("sample_service")
    monitor = one(load_documents(EXAMPLE / "servicemonitor.yaml"), "ServiceMonitor")
    (endpoint,) = monitor["spec"]["endpoints"]
    assert not job.get("honor_labels", False)
    assert "honorLabels" not in endpoint
    assert _relabeled_service_name(endpoint) == job["static_configs"][0]["labels"]["service_name"]
    assert endpoint["interval"] == PROMETHEUS_CONFIG["global"]["scrape_interval"]


def test_chart_self_monitors_get_their_service_name() -> None:
    values = yaml.safe_load((DEPLOY / "kube-prometheus-stack-values.yaml").read_text())
    for job, chart_key in monitors.CHART_SCRAPED.items():
        (relabel,) = values[chart_key]["serviceMonitor"]["relabelings"]
        assert relabel["replacement"] == _job(job)["static_configs"][0]["labels"]["service_name"]


def test_operator_objects_carry_the_prometheus_selector_label() -> None:
    for path in (
        BASE / "prometheus-rules.yaml",
        BASE / "sidecar-podmonitor.yaml",
        EXAMPLE / "servicemonitor.yaml",
    ):
        for obj in load_documents(path):
            assert obj["metadata"]["labels"]["release"] == cluster.KPS_RELEASE, path


# Generation refuses what it cannot translate, instead of writing something half right.
def test_a_scrape_job_without_a_kubernetes_home_stops_generation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sources, "scrape_jobs", lambda: [*_job_names(), "billing"])
    with pytest.raises(monitors.UnplacedJobError, match="billing"):
        generator.render_all()


def _job_names() -> list[str]:
    return [job["job_name"] for job in PROMETHEUS_CONFIG["scrape_configs"]]


def test_a_datasource_without_an_in_cluster_url_stops_generation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    provisioning = yaml.safe_load(sources.DATASOURCES.read_text())
    provisioning["datasources"].append(
        {"name": "Pyroscope", "type": "pyroscope", "uid": "pyroscope"}
    )
    monkeypatch.setattr(sources, "datasources", lambda: provisioning)
    with pytest.raises(sources.SourceError, match="pyroscope"):
        generator.render_all()


def test_an_unknown_prometheus_setting_stops_generation(monkeypatch: pytest.MonkeyPatch) -> None:
    config = yaml.safe_load(sources.PROMETHEUS_CONFIG.read_text())
    config["remote_write"] = [{"url": "http://mimir/api/v1/push"}]
    monkeypatch.setattr(sources, "prometheus_config", lambda: config)
    with pytest.raises(sources.SourceError, match="remote_write"):
        generator.render_all()


def test_cli_reports_an_untranslatable_source_with_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sources, "scrape_jobs", lambda: [*_job_names(), "billing"])
    assert generator.main(["--check"]) == 2
    assert "billing" in capsys.readouterr().err


def test_prometheus_flags_of_compose_carry_over() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    flags = compose["services"]["prometheus"]["command"]
    spec = yaml.safe_load((DEPLOY / "kube-prometheus-stack-values.yaml").read_text())["prometheus"][
        "prometheusSpec"
    ]
    assert spec["enableOTLPReceiver"] == ("--web.enable-otlp-receiver" in flags)
    features = [f.split("=", 1)[1] for f in flags if f.startswith("--enable-feature=")]
    assert spec.get("enableFeatures", []) == features
    exemplars = PROMETHEUS_CONFIG["storage"]["exemplars"]["max_exemplars"]
    assert spec["exemplars"] == {"maxSize": exemplars}
    otlp = PROMETHEUS_CONFIG["otlp"]
    assert spec["otlp"] == {
        "promoteResourceAttributes": otlp["promote_resource_attributes"],
        "translationStrategy": otlp["translation_strategy"],
    }


def test_an_unknown_prometheus_flag_stops_generation(monkeypatch: pytest.MonkeyPatch) -> None:
    flags = [*sources.prometheus_flags(), "--query.max-samples=1000"]
    monkeypatch.setattr(sources, "prometheus_flags", lambda: flags)
    with pytest.raises(sources.SourceError, match=r"query\.max-samples"):
        generator.render_all()
