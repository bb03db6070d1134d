"""The services file loads into the model, and every bad file gets one clear error.

Each refusal names the service (by index and name) and the field, and comes as a
ServicesFileError: never a traceback, never a silently accepted value.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sidecar.health.config import HttpCheck, TcpCheck
from sidecar.services.loader import MAX_BYTES, ServicesFileError, load, parse

GOOD = """
services:
  - name: sample-service
    logs:
      - paths: [/var/log/sample-service/*.log]
    health:
      - {name: live, url: "http://sample_service:8000/health/live"}
      - {name: ready, url: "http://sample_service:8000/health/ready", critical: false}
    metrics: {target: "sample_service:8000", job: sample_service}
  - name: orders-api
    logs:
      - source: orders-access
        paths: [/var/log/attached/orders/access.log]
        format: text
        access_log:
          format: combined
          routes:
            - /orders/{id}
            - regex: ^/v[0-9]+/orders$
              route: /v{n}/orders
      - source: orders-app
        paths: [/var/log/attached/orders/app.log]
        format: text
    health:
      - {name: db, url: "tcp://orders-db:5432"}
    slo:
      availability: {objective: 0.995}
      latency: {objective: 0.99, threshold_seconds: 1}
      min_request_rate: 0.5
"""


def refusal(text: str) -> str:
    with pytest.raises(ServicesFileError) as caught:
        parse(text)
    return str(caught.value)


def test_a_good_file_loads_with_defaults_filled_in() -> None:
    sample, orders = parse(GOOD).services
    assert sample.slo.availability.objective == 0.999
    assert (sample.slo.latency.objective, sample.slo.latency.threshold_seconds) == (0.999, 0.5)
    assert (sample.slo.high_error_rate, sample.slo.high_latency_p99_seconds) == (0.05, 1.0)
    assert sample.slo.min_request_rate == 0.1
    assert sample.metrics is not None
    assert (sample.metrics.path, sample.metrics.scheme, sample.metrics.job) == (
        "/metrics",
        "http",
        "sample_service",
    )
    assert sample.source_names() == ["sample-service"]
    assert orders.source_names() == ["orders-access", "orders-app"]
    assert orders.metrics is None
    assert orders.slo.latency.threshold_seconds == 1.0
    assert orders.logs[0].access_log is not None
    assert orders.logs[0].access_log.format == "combined"


def test_health_entries_become_the_sidecar_s_own_checks() -> None:
    sample, orders = parse(GOOD).services
    live, ready = (check.sidecar_check(sample.name) for check in sample.health)
    assert isinstance(live, HttpCheck)
    assert (live.name, live.service_name, live.critical) == (
        "sample-service-live",
        "sample-service",
        True,
    )
    assert ready.critical is False
    (db,) = (check.sidecar_check(orders.name) for check in orders.health)
    assert isinstance(db, TcpCheck)
    assert (db.host, db.port, db.name) == ("orders-db", 5432, "orders-api-db")


@pytest.mark.parametrize("text", ["", "services: []", "# nothing yet\n"])
def test_an_empty_file_means_no_services(text: str) -> None:
    assert parse(text).services == []


@pytest.mark.parametrize(
    ("value", "what"),
    [
        ('http://x/\\"y', "a double quote"),
        ("http://x/'y", "a single quote"),
        ("http://x/`y", "a backquote"),
        ("http://x/\\ny", "U+000A"),
        ("http://x/\\ry", "U+000D"),
        ("http://x/\\ty", "U+0009"),
        ("http://x/\\u2028y", "U+2028"),
        ("http://x/\\x00y", "U+0000"),
    ],
)
def test_a_quote_or_line_break_in_a_value_is_refused_naming_service_and_field(
    value: str, what: str
) -> None:
    text = f'services:\n  - name: orders\n    health: [{{name: live, url: "{value}"}}]\n'
    message = refusal(text)
    assert "services[0] (orders): health[0].url: contains" in message
    assert what in message
    assert "quotes and line breaks are not allowed" in message


def test_a_quote_in_a_key_or_deep_in_a_route_is_found_too() -> None:
    message = refusal(
        "services:\n  - name: orders\n    logs:\n      - paths: [/a.log]\n"
        '        access_log: {format: json, routes: ["/o/{id}\'"]}\n'
    )
    assert "services[0] (orders): logs[0].access_log.routes[0]: contains a single quote" in message
    message = refusal('services:\n  - name: orders\n    "na\\"me": x\n')
    assert "services[0] (orders)" in message
    assert "a double quote" in message


def test_a_quote_in_the_service_name_itself_is_named_by_index() -> None:
    message = refusal('services:\n  - name: "or\\"ders"\n    metrics: {target: "x:1"}\n')
    assert message.startswith("services file: services[0]: name: contains a double quote")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "services:\n  - name: orders\n    health: [{name: live, url: 'ftp://x'}]\n",
            "services[0] (orders): health[0] (live): 'ftp://x' is not an absolute http",
        ),
        (
            "services:\n  - name: orders\n    health: [{name: live, url: 'tcp:db'}]\n",
            "services[0] (orders): health[0] (live): 'tcp:db': a tcp check is written tcp://host",
        ),
        (
            "services:\n  - name: orders\n"
            "    health: [{name: live, url: 'http://x/', timeout_seconds: 20}]\n",
            "services[0] (orders): health[0] (live): timeout_seconds (20.0) must not exceed",
        ),
        (
            "services:\n  - name: orders\n    logs: [{paths: [relative.log]}]\n",
            "services[0] (orders): logs[0].paths[0]: 'relative.log' is not an absolute path",
        ),
        (
            "services:\n  - name: orders\n    logs: [{paths: []}]\n",
            "services[0] (orders): logs[0].paths: List should have at least 1 item",
        ),
        (
            "services:\n  - name: orders\n    logs: [{paths: [/a], format: xml}]\n",
            "services[0] (orders): logs[0].format: Input should be 'json', 'text' or 'docker'",
        ),
        (
            "services:\n  - name: orders\n"
            "    logs: [{paths: [/a], access_log: {format: combined, routes: ['/x{']}}]\n",
            "services[0] (orders): logs[0].access_log.routes: route template '/x{' has a brace",
        ),
        (
            "services:\n  - name: orders\n"
            "    logs: [{paths: [/a], format: text, multiline: {start: '(unclosed'}}]\n",
            "services[0] (orders): logs[0].multiline.start: not a valid regular expression",
        ),
        (
            "services:\n  - name: orders\n"
            "    logs: [{paths: [/a], format: text, multiline: {start: '^ *'}}]\n",
            "services[0] (orders): logs[0].multiline.start: '^ *' matches an empty line",
        ),
        (
            "services:\n  - name: orders\n"
            "    logs: [{paths: [/a], multiline: {start: '^[0-9]'}}]\n",
            "services[0] (orders): logs[0]: multiline joins lines of a `format: text` source",
        ),
        (
            "services:\n  - name: orders\n    logs: [{paths: [/a], format: text,"
            " access_log: {format: combined}, multiline: {start: '^[0-9]'}}]\n",
            "services[0] (orders): logs[0]: multiline and access_log exclude each other",
        ),
        (
            "services:\n  - name: orders\n"
            "    logs: [{paths: [/a], format: text, multiline: {start: '^[0-9]', max_lines: 1}}]\n",
            "services[0] (orders): logs[0].multiline.max_lines: Input should be greater than",
        ),
        (
            "services:\n  - name: orders\n"
            "    logs: [{paths: [/a], format: text, text: {level_pattern: ERROR}}]\n",
            "services[0] (orders): logs[0].text.level_pattern: must have a named group",
        ),
        (
            "services:\n  - name: orders\n    metrics: {target: 'x:80'}\n    helth: []\n",
            "services[0] (orders): helth: unknown field",
        ),
        (
            "services:\n  - name: orders\n    metrics: {target: orders}\n",
            "services[0] (orders): metrics.target: 'orders' is not host:port",
        ),
        (
            "services:\n  - name: orders\n    metrics: {target: 'orders:99999'}\n",
            "services[0] (orders): metrics.target: 'orders:99999' is not host:port",
        ),
        (
            "services:\n  - name: orders\n    metrics: {target: 'orders:80', path: metrics}\n",
            "services[0] (orders): metrics.path: 'metrics' is not a URL path",
        ),
        (
            "services:\n  - name: orders\n    metrics: {target: 'x:80'}\n"
            "    slo: {latency: {threshold_seconds: 0.3}}\n",
            "services[0] (orders): slo.latency.threshold_seconds: 0.3 is not a bucket boundary",
        ),
        (
            "services:\n  - name: orders\n    metrics: {target: 'x:80'}\n"
            "    slo: {availability: {objective: 1.5}}\n",
            "services[0] (orders): slo.availability.objective: Input should be less than 1",
        ),
        (
            "services:\n  - name: orders\n    metrics: {target: 'x:80'}\n"
            "    slo: {availability: {objective: high}}\n",
            "services[0] (orders): slo.availability.objective: Input should be a valid number",
        ),
        (
            "services:\n  - name: orders\n    metrics: {target: 'x:80'}\n"
            "    slo: {min_request_rate: true}\n",
            "services[0] (orders): slo.min_request_rate: expected a number, not true/false",
        ),
        (
            "services:\n  - name: orders\n    metrics: {target: 'x:80'}\n"
            "    slo: {high_latency_p99_seconds: .nan}\n",
            "services[0] (orders): slo.high_latency_p99_seconds: expected a finite number",
        ),
        (
            "services:\n  - {name: 'bad name', metrics: {target: 'x:80'}}\n",
            "services[0] (bad name): name: 'bad name' is not a valid name",
        ),
        ("services:\n  - {name: orders}\n", "services[0] (orders): a service needs at least one"),
        ("services:\n  - {metrics: {target: 'x:80'}}\n", "services[0]: name: required field"),
        ("services: {}\n", "services: Input should be a valid list"),
        ("- a\n", "the top level must be a mapping"),
        ("servcies: []\n", "servcies: unknown field"),
    ],
)
def test_a_bad_value_is_refused_naming_service_and_field(text: str, expected: str) -> None:
    assert expected in refusal(text)


def test_repeated_names_are_refused() -> None:
    twice = (
        "services:\n  - {name: a, metrics: {target: 'x:1'}}\n"
        "  - {name: a, metrics: {target: 'y:1'}}\n"
    )
    assert "the service name 'a' is listed twice" in refusal(twice)
    sources = "services:\n  - {name: a, logs: [{paths: [/a]}, {paths: [/b]}]}\n"
    assert "services[0] (a): logs: source 'a' is used twice" in refusal(sources)
    shared = (
        "services:\n  - {name: a, logs: [{paths: [/a], source: app}]}\n"
        "  - {name: b, logs: [{paths: [/b], source: app}]}\n"
    )
    assert "the log source 'app' belongs to two services" in refusal(shared)
    checks = "services:\n  - {name: a, health: [{name: x, url: 'http://h/'}, {name: x, url: 'http://h/'}]}\n"
    assert "services[0] (a): health: the check name 'x' is used twice" in refusal(checks)
    clash = (
        "services:\n  - {name: a-b, health: [{name: c, url: 'http://h/'}]}\n"
        "  - {name: a, health: [{name: b-c, url: 'http://h/'}]}\n"
    )
    assert "would both be named 'a-b-c'" in refusal(clash)


def test_yaml_that_would_hide_a_mistake_or_explode_is_refused() -> None:
    assert "the key 'name' appears twice" in refusal(
        "services:\n  - name: a\n    name: b\n    metrics: {target: 'x:1'}\n"
    )
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    assert "aliases (*name) are not allowed" in refusal(bomb)
    assert "not valid YAML" in refusal("services: [\n")


def test_load_bounds_size_and_encoding(tmp_path: Path) -> None:
    path = tmp_path / "services.yaml"
    path.write_text(GOOD)
    assert [service.name for service in load(path).services] == ["sample-service", "orders-api"]
    path.write_bytes(b"services: []\n#" + b"x" * MAX_BYTES)
    with pytest.raises(ServicesFileError, match="larger than"):
        load(path)
    path.write_bytes(b"services: []\n# \xff\n")
    with pytest.raises(ServicesFileError, match="not UTF-8"):
        load(path)
    with pytest.raises(ServicesFileError, match="cannot read"):
        load(tmp_path / "missing.yaml")
