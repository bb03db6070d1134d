"""The named transforms the integration test applies to the committed config."""

from __future__ import annotations

import pytest
import yaml

from tests.integration.transforms import (
    compress_rule_time,
    fast_alertmanager_timings,
    format_duration,
    loopback_prometheus_config,
    parse_duration,
    scale_promql_durations,
)
from tests.prometheus.rules import PROMETHEUS_DIR, RULES_DIR


@pytest.mark.parametrize(
    ("text", "seconds"), [("5m", 300), ("1h30m", 5400), ("3d", 259200), ("500ms", 0.5)]
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "m5", "5 m", "1h-"])
def test_parse_duration_refuses_garbage(text: str) -> None:
    with pytest.raises(ValueError, match="not a Prometheus duration"):
        parse_duration(text)


def test_format_duration() -> None:
    assert [format_duration(s) for s in (60, 0.5, 4320, 0.0001)] == ["60s", "500ms", "4320s", "1ms"]


def test_ranges_subqueries_and_offsets_scale_with_a_floor() -> None:
    expr = "rate(a[5m]) / rate(b[1h] offset 5m) + max_over_time(c[1m:15s])"
    assert scale_promql_durations(expr, 60, 3) == (
        "rate(a[5s]) / rate(b[60s] offset 5s) + max_over_time(c[3s:250ms])"
    )


def test_compression_keeps_every_rule_name_label_and_threshold() -> None:
    for path in RULES_DIR.glob("*.rules.yml"):
        original = yaml.safe_load(path.read_text())
        compressed = compress_rule_time(original, 60, 3)
        for group, new_group in zip(original["groups"], compressed["groups"], strict=True):
            for rule, new in zip(group["rules"], new_group["rules"], strict=True):
                assert {k: v for k, v in new.items() if k not in ("expr", "for")} == {
                    k: v for k, v in rule.items() if k not in ("expr", "for")
                }
                # Same expression once durations are blanked out.
                blank = lambda e: scale_promql_durations(str(e), 1e12, 0)  # noqa: E731
                assert blank(new["expr"]) == blank(rule["expr"])
                if "for" in rule:
                    assert parse_duration(new["for"]) == parse_duration(rule["for"]) / 60


def test_loopback_config_keeps_job_settings_and_drops_absent_components() -> None:
    project = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    targets = {"sidecar": "127.0.0.1:1", "oncall": "127.0.0.1:2"}
    config = loopback_prometheus_config(
        project, targets, "127.0.0.1:3", "r", "1s", file_sd_jobs={"services"}
    )
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"sidecar", "oncall", "services"}
    assert jobs["sidecar"]["honor_labels"] is True
    assert jobs["sidecar"]["static_configs"][0]["labels"] == {"service_name": "sidecar"}
    assert jobs["oncall"]["static_configs"][0]["targets"] == ["127.0.0.1:2"]
    original = {job["job_name"]: job for job in project["scrape_configs"]}
    assert jobs["services"] == original["services"]
    assert config["otlp"] == project["otlp"]
    with pytest.raises(ValueError, match="no job named"):
        loopback_prometheus_config(project, {"nope": "x:1"}, "a:1", "r", "1s")
    with pytest.raises(ValueError, match="no job named"):
        loopback_prometheus_config(project, {}, "a:1", "r", "1s", file_sd_jobs={"nope"})


def test_fast_alertmanager_timings_touch_only_group_timings() -> None:
    committed = (PROMETHEUS_DIR.parent / "alertmanager" / "alertmanager.yml").read_text()
    original = yaml.safe_load(committed)
    fast = yaml.safe_load(fast_alertmanager_timings(committed, "1s", "2s"))
    assert fast["route"]["group_wait"] == "1s"
    assert all(child["group_interval"] == "2s" for child in fast["route"]["routes"])
    for key in ("receivers", "inhibit_rules", "templates"):
        assert fast[key] == original[key]
    strip = lambda r: {k: v for k, v in r.items() if k not in ("group_wait", "group_interval")}  # noqa: E731
    assert [strip(c) for c in fast["route"]["routes"]] == [
        strip(c) for c in original["route"]["routes"]
    ]
