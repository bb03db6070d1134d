"""The generated manifests: current, and carrying exactly what the compose stack runs on."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.kubernetes.generator import __main__ as generator
from deploy.kubernetes.generator import cluster, grafana, monitors, overlay, rules, sources
from deploy.kubernetes.generator.rules import SOURCE_ANNOTATION
from tests.kubernetes.manifests import BASE, DEPLOY, EXAMPLE, REPO, by_kind, load_documents, one
from tests.prometheus.rules import render, rendered

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


@pytest.mark.parametrize(
    ("name", "text", "edit"),
    [
        ("base/prometheus-rules.yaml", "severity: critical", "severity: warning"),
        (f"{overlay.NAME}/slo-objectives.yaml", "vector(0.999)", "vector(0.99)"),
    ],
)
def test_check_names_a_stale_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, text: str, edit: str
) -> None:
    # The same check against a copy where one generated file was edited by hand.
    for output in generator.OUTPUTS:
        target = tmp_path / output
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text((DEPLOY / output).read_text())
    edited = tmp_path / name
    assert text in edited.read_text()
    edited.write_text(edited.read_text().replace(text, edit, 1))
    monkeypatch.setattr(generator, "DEPLOY_DIR", tmp_path)
    assert generator.stale() == [edited]


def _carried_rules() -> dict[str, dict[str, Any]]:
    """Source annotation -> PrometheusRule, for the base's and the example's."""
    objects = [
        *load_documents(BASE / "prometheus-rules.yaml"),
        *load_documents(EXAMPLE / "slo-objectives.yaml"),
    ]
    rules = by_kind(objects, "PrometheusRule")
    carried = {obj["metadata"]["annotations"][SOURCE_ANNOTATION]: obj for obj in rules}
    assert len(carried) == len(rules), "two PrometheusRules name the same source"
    return carried


def test_rules_are_what_prometheus_loads_in_compose(tmp_path: Path) -> None:
    # What the stack-config service writes for the example's services file, with the
    # cluster's link bases, in the layout compose mounts (tests/prometheus does the same);
    # prometheus.yml's own rule_files globs then say which files Prometheus loads.
    services_file = overlay.SERVICES_FILE
    render.write(
        tmp_path / "stack-config",
        rendered(services_file, cluster.RUNBOOK_BASE_URL, cluster.GRAFANA_URL),
    )
    loaded = sorted(
        path for pattern in PROMETHEUS_CONFIG["rule_files"] for path in tmp_path.glob(pattern)
    )
    assert len(loaded) == len(list((REPO / "prometheus" / "rules").glob("*.rules.yml"))) + 1
    sources_of = {path: f"prometheus/rules/{path.name}" for path in loaded}
    sources_of[tmp_path / "stack-config" / render.OBJECTIVES_FILE] = str(
        services_file.relative_to(REPO)
    )
    carried = _carried_rules()
    assert sorted(carried) == sorted(sources_of.values())
    for path in loaded:
        groups = yaml.safe_load(path.read_text())["groups"]
        assert carried[sources_of[path]]["spec"]["groups"] == groups, path
    objectives = carried[str(services_file.relative_to(REPO))]
    assert objectives["metadata"]["namespace"] == cluster.SAMPLE_NAMESPACE
    assert objectives["spec"]["groups"][0]["rules"], "the example's services have no objectives"


def test_rules_differ_from_the_committed_ones_only_in_their_link_bases() -> None:
    dashboards = {
        json.loads(path.read_text())["uid"]
        for path in (REPO / "grafana" / "dashboards").glob("*.json")
    }
    alerts = 0
    for source, obj in _carried_rules().items():
        if not source.startswith("prometheus/rules/"):
            continue
        committed = yaml.safe_load((REPO / source).read_text())["groups"]
        carried = obj["spec"]["groups"]
        for group, original in zip(carried, committed, strict=True):
            for rule, rule_original in zip(group["rules"], original["rules"], strict=True):
                if "alert" not in rule:
                    assert rule == rule_original
                    continue
                alerts += 1
                annotations = rule["annotations"]
                runbook = annotations.pop("runbook_url")
                assert runbook == f"{cluster.RUNBOOK_BASE_URL}/{rule['alert']}.md"
                assert (REPO / "docs" / "runbooks" / f"{rule['alert']}.md").is_file(), runbook
                link = annotations.pop("dashboard_url")
                assert link.startswith(f"{cluster.GRAFANA_URL}/d/"), link
                assert link.removeprefix(f"{cluster.GRAFANA_URL}/d/").split("?")[0] in dashboards
                for key in ("runbook_url", "dashboard_url"):
                    rule_original["annotations"].pop(key)
                assert rule == rule_original
    assert alerts


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


def test_chart_self_monitors_get_their_service_name() -> None:
    values = yaml.safe_load((DEPLOY / "kube-prometheus-stack-values.yaml").read_text())
    for job, chart_key in monitors.CHART_SCRAPED.items():
        (relabel,) = values[chart_key]["serviceMonitor"]["relabelings"]
        assert relabel["replacement"] == _job(job)["static_configs"][0]["labels"]["service_name"]


def test_operator_objects_carry_the_prometheus_selector_label() -> None:
    for path in (
        BASE / "prometheus-rules.yaml",
        BASE / "sidecar-podmonitor.yaml",
        EXAMPLE / "servicemonitors.yaml",
        EXAMPLE / "slo-objectives.yaml",
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


def test_every_scrape_job_has_a_row_in_the_readme() -> None:
    # deploy/kubernetes/README.md says where each job went; a new job needs its row.
    text = (DEPLOY / "README.md").read_text()
    section = text.split("## Scrape jobs and `service_name`", 1)[1].split("\n## ", 1)[0]
    first_cells = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    named = {job for cell in first_cells for job in re.findall(r"`([^`]+)`", cell)}
    assert set(_job_names()) <= named, set(_job_names()) - named


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
    # Compose polls its rendered rule files; the operator's config-reloader reloads instead.
    assert "auto-reload-config" in features
    assert spec.get("enableFeatures", []) == [f for f in features if f != "auto-reload-config"]
    exemplars = PROMETHEUS_CONFIG["storage"]["exemplars"]["max_exemplars"]
    assert spec["exemplars"] == {"maxSize": exemplars}
    otlp = PROMETHEUS_CONFIG["otlp"]
    assert spec["otlp"] == {
        "promoteResourceAttributes": otlp["promote_resource_attributes"],
        "translationStrategy": otlp["translation_strategy"],
    }


def test_a_rule_file_prometheus_would_not_find_stops_generation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = yaml.safe_load(sources.PROMETHEUS_CONFIG.read_text())
    config["rule_files"].append("rules/extra/*.yml")
    monkeypatch.setattr(sources, "prometheus_config", lambda: config)
    with pytest.raises(sources.SourceError, match=r"rules/extra/\*\.yml"):
        generator.render_all()


def test_rules_follow_prometheus_yml_rule_files(monkeypatch: pytest.MonkeyPatch) -> None:
    # Loading fewer of render.py's files carries fewer; without the objectives, none.
    config = yaml.safe_load(sources.PROMETHEUS_CONFIG.read_text())
    config["rule_files"] = ["stack-config/prometheus/rules/health.rules.yml"]
    monkeypatch.setattr(sources, "prometheus_config", lambda: config)
    assert [r["metadata"]["name"] for r in rules.prometheus_rules()] == ["obs-stack-health"]
    assert rules.objectives_rule(overlay.SERVICES_FILE, cluster.SAMPLE_NAMESPACE) == []


@pytest.mark.parametrize("setting", ["RUNBOOK_BASE_URL", "GRAFANA_URL"])
def test_a_malformed_link_base_stops_generation(
    monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    monkeypatch.setattr(cluster, setting, "runbooks.example.com/x")
    with pytest.raises(sources.SourceError, match=f"cluster.{setting}"):
        generator.render_all()


def test_an_unknown_prometheus_flag_stops_generation(monkeypatch: pytest.MonkeyPatch) -> None:
    flags = [*sources.prometheus_flags(), "--query.max-samples=1000"]
    monkeypatch.setattr(sources, "prometheus_flags", lambda: flags)
    with pytest.raises(sources.SourceError, match=r"query\.max-samples"):
        generator.render_all()
