"""Logs, traces and the links Grafana draws between them, on the real Loki and Tempo.

The live stack (tests/grafana/live_stack.py) runs the sample service exporting its
traces straight to Tempo and the sidecar shipping its log lines to Loki. Against it:

- every LogQL query of the dashboards returns data, as every PromQL one does;
- the Loki datasource's derived field names the structured metadata Loki really
  stores, and its value opens the trace in Tempo (logs -> trace);
- the Tempo datasource's traces-to-logs query, interpolated the way Grafana does for a
  span, returns that trace's lines from Loki, selected by the span's service
  (trace -> logs);
- the spans follow the stable HTTP and database conventions;
- Tempo's metrics-generator fills the service-graph and span-metrics series the Tempo
  datasource's service map reads from Prometheus.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx
import pytest

from tests.grafana.live_stack import ACCESS_LOG_SERVICE, SERVICE, LiveStack
from tests.grafana.model import datasource_provisioning, substitute, targets
from tests.support.loki import LogEntry, now_ns
from tests.support.tempo import Span

pytestmark = pytest.mark.integration

SECOND = 1_000_000_000
WAIT_SECONDS = 90
# Grafana's $__auto is its automatic step; any step that fits the window shows the volume.
AUTO = "10s"


def _datasource(uid: str) -> dict[str, Any]:
    (datasource,) = [ds for ds in datasource_provisioning() if ds["uid"] == uid]
    return dict(datasource["jsonData"])


def _as_grafana_reads_it(text: str) -> str:
    """Grafana expands environment variables in provisioning files; $$ is a literal $."""
    return text.replace("$$", "$")


def _wait(what: str, probe: Any) -> Any:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        result = probe()
        if result or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert result, f"{what}: nothing after {WAIT_SECONDS}s"
    return result


def _recent(live: LiveStack, query: str) -> list[LogEntry]:
    return live.loki.query_range(query, now_ns() - 600 * SECOND, now_ns())


def _traced_item_line(live: LiveStack) -> LogEntry:
    """A line the service logged inside a traced request to /api/v1/items."""

    def probe() -> LogEntry | None:
        query = f'{{service_name="{SERVICE}"}} | trace_id != "" |= "/api/v1/items"'
        entries = _recent(live, query)
        return entries[-1] if entries else None

    entry: LogEntry = _wait("a traced line in Loki", probe)
    return entry


@pytest.fixture(scope="module")
def traced(live: LiveStack) -> tuple[LogEntry, list[Span]]:
    """A log line read from Loki and the trace its trace_id opens in Tempo."""
    entry = _traced_item_line(live)

    def with_the_line_span() -> list[Span]:
        # Spans of one trace may reach Tempo in separate exports: wait for the span
        # the line was written in (the request's server span).
        spans = live.tempo.trace(entry.metadata["trace_id"]) or []
        return spans if entry.metadata["span_id"] in {s.span_id for s in spans} else []

    spans: list[Span] = _wait("the span of the traced line in Tempo", with_the_line_span)
    return entry, spans


@pytest.mark.parametrize("target", targets("loki"), ids=str)
def test_every_loki_panel_query_returns_data(
    live: LiveStack, traced: tuple[LogEntry, list[Span]], target: Any
) -> None:
    entry, _ = traced
    values = {"service_name": SERVICE, "trace_id": entry.metadata["trace_id"], "__auto": AUTO}
    expr = substitute(target.expr, values)

    def probe() -> int:
        start, end = now_ns() - 600 * SECOND, now_ns()
        if expr.lstrip().startswith("{"):
            return len(live.loki.query_range(expr, start, end))
        matrix = live.loki.metric_query_range(expr, start, end, step_seconds=10)
        return sum(len(series["values"]) for series in matrix)

    assert _wait(str(target), probe) > 0


def test_the_derived_field_names_the_stored_trace_id_and_opens_the_trace(
    live: LiveStack, traced: tuple[LogEntry, list[Span]]
) -> None:
    entry, spans = traced
    (field,) = _datasource("loki")["derivedFields"]
    # matcherType "label": Grafana matches the regex against label and structured
    # metadata names, and links the value.
    assert field["matcherType"] == "label"
    names = [name for name in entry.metadata if re.fullmatch(field["matcherRegex"], name)]
    assert names == ["trace_id"]
    assert field["datasourceUid"] == "tempo"
    assert _as_grafana_reads_it(field["url"]) == "${__value.raw}"
    trace_id = entry.metadata[names[0]]
    assert {span.trace_id for span in spans} == {trace_id}
    # The line was written inside one of the trace's spans.
    assert entry.metadata["span_id"] in {span.span_id for span in spans}


def _duration_ns(text: str) -> int:
    match = re.fullmatch(r"(-?)(\d+)([smh])", text)
    assert match, f"unexpected time shift {text!r}"
    sign = -1 if match.group(1) else 1
    return sign * int(match.group(2)) * {"s": 1, "m": 60, "h": 3600}[match.group(3)] * SECOND


def _interpolate(template: str, tags: list[dict[str, str]], span: Span, trace_id: str) -> str:
    """Grafana's traces-to-logs variables for one span: ${__tags} is `label="value"` for
    each mapped tag the span (or its resource) has, ${__trace.traceId} the trace's id."""
    attributes = {**span.resource, **span.attributes}
    matchers = [
        f'{tag.get("value") or tag["key"]}="{attributes[tag["key"]]}"'
        for tag in tags
        if tag["key"] in attributes
    ]
    values = {
        "${__tags}": ", ".join(matchers),
        "${__trace.traceId}": trace_id,
        "${__span.traceId}": trace_id,
        "${__span.spanId}": span.span_id,
    }
    for variable, value in values.items():
        template = template.replace(variable, value)
    assert "${" not in template, f"a variable this test does not know: {template}"
    return template


def test_traces_to_logs_returns_the_trace_lines_of_the_span_service(
    live: LiveStack, traced: tuple[LogEntry, list[Span]]
) -> None:
    entry, spans = traced
    trace_id = entry.metadata["trace_id"]
    options = _datasource("tempo")["tracesToLogsV2"]
    assert options["datasourceUid"] == "loki"
    assert options["customQuery"] is True
    template = _as_grafana_reads_it(options["query"])
    (server,) = [s for s in spans if s.kind == "SPAN_KIND_SERVER"]

    query = _interpolate(template, options["tags"], server, trace_id)

    assert query.startswith(f'{{service_name="{SERVICE}"}}'), query
    # The window Grafana opens: the span's start and end, shifted as configured.
    start = server.start_ns + _duration_ns(options["spanStartTimeShift"])
    end = server.end_ns + _duration_ns(options["spanEndTimeShift"])
    lines = live.loki.query_range(query, start, end)
    assert entry.line in {e.line for e in lines}
    assert {e.metadata["trace_id"] for e in lines} == {trace_id}
    assert {e.labels["service_name"] for e in lines} == {SERVICE}
    # The sidecar ships the same file as a second service's access log: scanning every
    # stream would have returned those lines too, the span's service selects them out.
    everywhere = _recent(live, f'{{service_name=~".+"}} | trace_id = "{trace_id}"')
    assert {e.labels["service_name"] for e in everywhere} == {SERVICE, ACCESS_LOG_SERVICE}


def test_spans_follow_the_stable_http_and_database_conventions(live: LiveStack) -> None:
    # A trace with database spans (a cached read has none), found by TraceQL.
    traceql = f'{{ resource.service.name = "{SERVICE}" && span.db.system.name = "sqlite" }}'

    def search() -> list[dict[str, Any]]:
        now = time.time_ns() // SECOND
        return live.tempo.search(traceql, now - 600, now + 60)

    (found, *_) = _wait(f"a trace matching {traceql}", search)

    def complete() -> list[Span]:
        # Spans of one trace may reach Tempo in separate exports: wait for its root.
        spans = live.tempo.trace(found["traceID"]) or []
        return spans if any(s.kind == "SPAN_KIND_SERVER" for s in spans) else []

    spans: list[Span] = _wait("the trace's server span", complete)
    (server,) = [s for s in spans if s.kind == "SPAN_KIND_SERVER"]
    assert server.attributes["http.request.method"]
    assert server.attributes["http.route"].startswith("/")
    assert server.service_name == SERVICE
    database = [s for s in spans if "db.system.name" in s.attributes]
    assert database, f"no database span in {[s.name for s in spans]}"
    for span in database:
        assert span.attributes["db.system.name"] == "sqlite"
        assert span.attributes["db.operation.name"] == span.name
        assert not {"db.system", "db.name", "db.statement"} & set(span.attributes)
        assert "/" not in span.name, span.name


def _series(live: LiveStack, expr: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{live.prometheus.url}/api/v1/query", params={"query": expr}, timeout=10)
    assert response.status_code == 200, response.text
    result: list[dict[str, Any]] = response.json()["data"]["result"]
    return result


@pytest.mark.parametrize(
    "expr",
    [
        # The service map's edges: callers of the service (a client Tempo never sees is
        # "user") and the database it calls, named by tempo.yaml's database_name_attributes.
        f'traces_service_graph_request_total{{client="user", server="{SERVICE}"}}',
        f'traces_service_graph_request_total{{client="{SERVICE}", server="sqlite"}}',
        f'traces_service_graph_request_failed_total{{server="{SERVICE}"}}',
        f'traces_service_graph_request_server_seconds_bucket{{server="{SERVICE}"}}',
        # Span metrics: the service map's rates and the RED table.
        f'traces_spanmetrics_calls_total{{service="{SERVICE}", span_kind="SPAN_KIND_SERVER"}}',
        f'traces_spanmetrics_latency_bucket{{service="{SERVICE}"}}',
    ],
)
def test_tempo_metrics_generator_feeds_the_service_map(live: LiveStack, expr: str) -> None:
    assert _datasource("tempo")["serviceMap"]["datasourceUid"] == "prometheus"
    assert _wait(expr, lambda: _series(live, expr))


def test_the_trace_lines_are_the_json_records_the_service_wrote(
    traced: tuple[LogEntry, list[Span]],
) -> None:
    entry, _ = traced
    record = json.loads(entry.line)
    assert record["trace_id"] == entry.metadata["trace_id"]
    assert record["service_name"] == SERVICE
