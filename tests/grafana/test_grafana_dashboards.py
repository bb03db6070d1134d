"""Dashboard structure: generated and current, the dashboard-linter rules, UIDs, links, LogQL.

The PromQL side of the linter (valid expressions, $__rate_interval in rates) needs
the real Prometheus parser and lives in test_grafana_promql.py.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
import yaml

from grafana.dashgen.contract import LOKI_STREAM_LABELS, LOKI_STRUCTURED_METADATA, STACK_TAG
from grafana.dashgen.dashboard import GRID_WIDTH
from grafana.dashgen.render import rendered, stale, write
from tests.grafana.grafana_schema import unknown_fields
from tests.grafana.model import (
    DASHBOARD_DIR,
    DASHBOARD_UIDS,
    ROOT,
    dashboards,
    datasource_kind,
    datasource_provisioning,
    panels,
    targets,
    variables,
)

# dashboard-linter's panel-units-rule list (Grafana's valueFormats categories),
# restricted to the categories a service dashboard can meaningfully use.
VALID_UNITS = {
    "none", "string", "short", "percent", "percentunit", "bytes", "decbytes", "bits",
    "Bps", "binBps", "bps", "pps", "ns", "µs", "ms", "s", "m", "h", "d", "dtdurations",
    "dtdurationms", "cps", "ops", "reqps", "rps", "wps", "iops", "cpm", "opm", "rpm",
    "bool", "bool_yes_no", "bool_on_off", "dateTimeAsIso", "dateTimeFromNow",
}  # fmt: skip

ALL_DASHBOARDS = sorted(DASHBOARD_UIDS)


def _panels_of(uid: str) -> list[dict]:
    return list(panels(dashboards()[uid]))


def test_committed_dashboards_are_exactly_what_the_generator_writes() -> None:
    problems = stale()
    assert problems == [], f"stale dashboards {problems}: run `python -m grafana.dashgen`"


def test_staleness_check_catches_a_hand_edit_and_an_orphan(tmp_path: Path) -> None:
    write(tmp_path)
    assert stale(tmp_path) == []
    edited = tmp_path / "obs-health.json"
    edited.write_text(edited.read_text().replace("Aggregate status", "Hand edited"))
    (tmp_path / "orphan.json").write_text("{}")
    assert stale(tmp_path) == ["obs-health.json", "orphan.json"]


def test_every_dashboard_file_parses_and_the_four_fixed_uids_exist() -> None:
    for path in DASHBOARD_DIR.glob("*.json"):
        json.loads(path.read_text())
    assert set(dashboards()) == DASHBOARD_UIDS
    assert set(rendered()) == {f"{uid}.json" for uid in DASHBOARD_UIDS}


@pytest.mark.parametrize("uid", ALL_DASHBOARDS)
def test_every_field_is_one_grafanas_schema_defines(uid: str) -> None:
    # A field Grafana does not know is silently ignored: the option meant is not set.
    assert unknown_fields(dashboards()[uid]) == []


def test_schema_check_names_a_misspelled_option_and_a_foreign_query_field() -> None:
    dashboard = copy.deepcopy(dashboards()["obs-health"])
    index, panel = next((i, p) for i, p in enumerate(dashboard["panels"]) if p["type"] == "stat")
    panel["options"]["colourMode"] = "background"
    panel["targets"][0]["maxLines"] = 100  # a Loki query field, on a Prometheus query
    assert sorted(unknown_fields(dashboard)) == [
        f"$.panels[{index}].options.colourMode",
        f"$.panels[{index}].targets[0].maxLines",
    ]


@pytest.mark.parametrize("uid", ALL_DASHBOARDS)
def test_panel_ids_and_query_ref_ids_are_unique(uid: str) -> None:
    # Grafana keys panels by id (links, view and edit URLs) and queries by refId.
    dashboard = dashboards()[uid]
    ids = [p["id"] for p in dashboard["panels"]]
    ids += [p["id"] for row in dashboard["panels"] for p in row.get("panels", [])]
    assert all(isinstance(i, int) and i > 0 for i in ids), ids
    assert len(ids) == len(set(ids)), ids
    for panel in panels(dashboard):
        refs = [t["refId"] for t in panel["targets"]]
        assert all(refs), panel["title"]
        assert len(refs) == len(set(refs)), panel["title"]


@pytest.mark.parametrize("uid", ALL_DASHBOARDS)
def test_panels_fit_the_grid_without_overlapping(uid: str) -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in dashboards()[uid]["panels"]:
        pos = panel["gridPos"]
        assert 0 <= pos["x"] < pos["x"] + pos["w"] <= GRID_WIDTH, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


@pytest.mark.parametrize("uid", ALL_DASHBOARDS)
def test_template_datasource_rule(uid: str) -> None:
    dashboard = dashboards()[uid]
    templated = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
    assert templated, "no datasource variable"
    provisioned = {ds["uid"]: ds["type"] for ds in datasource_provisioning()}
    for variable in templated:
        # The linter's naming: `datasource` when alone, else `<kind>_datasource`.
        allowed = {f"{variable['query']}_datasource"}
        if len(templated) == 1:
            allowed.add("datasource")
        assert variable["name"] in allowed
        assert provisioned[variable["current"]["value"]] == variable["query"]


@pytest.mark.parametrize("uid", ALL_DASHBOARDS)
def test_service_name_variable_refreshes_on_time_change(uid: str) -> None:
    variable = variables(dashboards()[uid])["service_name"]
    assert variable["type"] == "query"
    assert re.fullmatch(r"label_values\(\w+, service_name\)", variable["definition"])
    assert variable["refresh"] == 2  # dashboard-linter template-on-time-change-reload-rule


@pytest.mark.parametrize("uid", ALL_DASHBOARDS)
def test_panel_datasource_rule_every_reference_resolves_to_a_provisioned_uid(uid: str) -> None:
    dashboard = dashboards()[uid]
    provisioned_kinds = {ds["type"] for ds in datasource_provisioning()}
    refs = [p["datasource"] for p in panels(dashboard)]
    refs += [t["datasource"] for p in panels(dashboard) for t in p["targets"]]
    refs += [v["datasource"] for v in dashboard["templating"]["list"] if "datasource" in v]
    for ref in refs:
        # Panels must go through the datasource variable, never a hard-coded UID.
        assert ref["uid"].startswith("${"), ref
        assert datasource_kind(dashboard, ref) == ref["type"]
        assert ref["type"] in provisioned_kinds


@pytest.mark.parametrize("uid", ALL_DASHBOARDS)
def test_every_panel_has_a_title_a_description_and_a_valid_unit(uid: str) -> None:
    for panel in _panels_of(uid):
        assert panel["title"].strip(), panel
        assert len(panel["description"].strip()) >= 20, panel["title"]
        assert panel["fieldConfig"]["defaults"]["unit"] in VALID_UNITS, panel["title"]
        assert panel["targets"], f"{panel['title']} has no query"  # panel-no-targets-rule


@pytest.mark.parametrize("uid", ALL_DASHBOARDS)
def test_dashboards_are_not_editable_in_the_ui(uid: str) -> None:
    assert dashboards()[uid]["editable"] is False  # dashboard-linter uneditable rule


def test_every_dashboard_links_to_all_the_others() -> None:
    boards = dashboards()
    for uid, dashboard in boards.items():
        tagged = {
            other
            for link in dashboard["links"]
            if link["type"] == "dashboards" and link["includeVars"] and link["keepTime"]
            for other, target in boards.items()
            if set(link["tags"]) <= set(target["tags"])
        }
        assert tagged >= DASHBOARD_UIDS - {uid}, uid
        assert STACK_TAG in dashboard["tags"]


def test_panel_links_point_at_existing_dashboards_and_keep_the_service() -> None:
    linked = 0
    for dashboard in dashboards().values():
        for panel in panels(dashboard):
            for link in panel.get("links", []):
                target = re.fullmatch(r"/d/([\w-]+)\?(.*)", link["url"])
                assert target is not None, link
                assert target.group(1) in DASHBOARD_UIDS, link
                assert "${service_name:queryparam}" in target.group(2), link
                linked += 1
    assert linked >= 4


def test_no_query_selects_or_groups_by_job() -> None:
    # Services are chosen by service_name only (the telemetry contract); a job matcher would
    # miss OTLP-pushed and access-log-derived series.
    assert [str(t) for t in targets() if re.search(r"\bjob\b", t.expr)] == []


# --- LogQL: no Loki here, so check structure against what the sidecar ships. ---

STREAM_SELECTOR = re.compile(r"\{(?P<body>[^{}]*)\}")
MATCHER = re.compile(r'\s*(?P<label>\w+)\s*(?P<op>=~|!~|!=|=)\s*"(?P<value>(?:[^"\\]|\\.)*)"\s*')
LABEL_FILTER = re.compile(r'\|\s*(?P<label>\w+)\s*(?:=~|!~|!=|=)\s*"')


def _logql_targets() -> list:
    return targets("loki")


def test_there_are_loki_panels_for_volume_errors_and_trace() -> None:
    titles = {t.panel for t in _logql_targets()}
    assert {"Log volume by level (Loki)", "Error logs", "Logs of trace $trace_id"} <= titles


@pytest.mark.parametrize("target", _logql_targets(), ids=str)
def test_logql_selects_only_stream_labels_the_sidecar_sets(target) -> None:
    selectors = STREAM_SELECTOR.findall(target.expr)
    assert len(selectors) == 1, target
    matchers = [m for m in selectors[0].split(",") if m.strip()]
    parsed = [MATCHER.fullmatch(m) for m in matchers]
    assert all(parsed), f"unparsable matcher in {target}"
    labels = {m["label"] for m in parsed if m}
    assert labels <= set(LOKI_STREAM_LABELS), target
    # Loki refuses a selector whose every matcher matches the empty string.
    assert any((m["op"] == "=" and m["value"]) or m["value"] in {".+"} for m in parsed if m)


@pytest.mark.parametrize("target", _logql_targets(), ids=str)
def test_logql_filters_only_on_structured_metadata_and_uses_auto_ranges(target) -> None:
    filtered = set(LABEL_FILTER.findall(target.expr))
    assert filtered <= set(LOKI_STRUCTURED_METADATA) | set(LOKI_STREAM_LABELS), target
    # dashboard-linter target-logql-auto-rule: range aggregations use $__auto.
    ranges = re.findall(r"\[([^\]]+)\]", target.expr)
    assert all(r.strip() == "$__auto" for r in ranges), target
    assert target.expr.count("(") == target.expr.count(")")
    assert target.expr.count("{") == target.expr.count("}")


def test_trace_logs_filter_like_the_tempo_trace_to_logs_query() -> None:
    # "From the trace its logs": Tempo's link and the dashboard panel keep the same
    # lines of a stream. The panel has only a trace ID and reads every service; Tempo's
    # link knows the span's service and reads that one ({${__tags}}).
    (tempo,) = [ds for ds in datasource_provisioning() if ds["uid"] == "tempo"]
    tempo_query = tempo["jsonData"]["tracesToLogsV2"]["query"].replace(
        "$${__trace.traceId}", "$trace_id"
    )
    (panel,) = [t for t in _logql_targets() if t.panel == "Logs of trace $trace_id"]
    assert tempo_query.startswith("{$${__tags}} ")
    assert panel.expr.startswith('{service_name=~".+"} ')
    assert panel.expr.endswith(' | trace_id = "$trace_id"')
    assert tempo_query.endswith(' | trace_id = "$trace_id"')


def _alert_dashboard_urls() -> list[str]:
    urls = []
    for path in sorted((ROOT / "prometheus" / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    urls.append(rule["annotations"]["dashboard_url"])
    return urls


def test_alert_dashboard_urls_open_an_existing_dashboard_with_its_variables() -> None:
    # Alerts link here (prometheus/generate.py: Grafana at http://127.0.0.1:3000); a renamed UID
    # or variable would leave every notification with a dead link.
    urls = _alert_dashboard_urls()
    assert urls, "no alert rules found"
    boards = dashboards()
    for url in urls:
        match = re.fullmatch(r"http://127\.0\.0\.1:3000/d/([\w-]+)\?(.*)", url)
        assert match is not None, url
        assert match[1] in boards, url
        params = {part.split("=", 1)[0] for part in match[2].split("&")}
        names = {f"var-{name}" for name in variables(boards[match[1]])}
        assert params <= names, url
