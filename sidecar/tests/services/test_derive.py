"""The sidecar's sources and checks follow from the services file (derive.py).

What the file lists becomes exactly the sources and checks the sidecar runs, beside
those of its own config; a clash or a value the sidecar cannot take is refused naming
the service and the field.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sidecar.cli import main
from sidecar.services.derive import with_services
from sidecar.services.loader import ServicesFileError, parse

from sidecar.config import SidecarConfig

FILE = """
services:
  - name: orders-api
    logs:
      - source: orders-access
        paths: [/var/log/attached/orders/access.log]
        format: text
        access_log: {format: combined, routes: ['/orders/{id}']}
      - source: orders-app
        paths: [/var/log/attached/orders/app.log, /var/log/attached/orders/app.log.1]
        format: text
        text: {level_pattern: ' (?P<level>[A-Z]+) '}
        multiline: {start: '^[0-9]{4}-', max_lines: 50, flush_seconds: 1}
    health:
      - {name: live, url: 'http://orders:8080/healthz', interval_seconds: 5}
      - {name: db, url: 'tcp://orders-db:5432', critical: false}
  - name: billing
    logs:
      - paths: [/var/log/attached/billing/*.log]
    metrics: {target: 'billing:9000'}
"""


def _own(**extra: object) -> SidecarConfig:
    return SidecarConfig(
        sources=[{"name": "inbox", "service_name": "oncall", "paths": ["/var/log/oncall/*.log"]}],
        health={
            "checks": [{"name": "own", "kind": "http", "service_name": "x", "url": "http://x/"}]
        },
        **extra,
    )


def test_every_log_and_health_entry_becomes_a_source_and_a_check_beside_the_own_ones() -> None:
    config = with_services(_own(), parse(FILE), "services.yaml")
    assert [(s.name, s.service_name) for s in config.sources] == [
        ("inbox", "oncall"),
        ("orders-access", "orders-api"),
        ("orders-app", "orders-api"),
        ("billing", "billing"),
    ]
    _, access, app, billing = config.sources
    assert access.format == "text"
    assert access.access_log is not None
    assert access.access_log.routes == ["/orders/{id}"]
    assert app.paths == ["/var/log/attached/orders/app.log", "/var/log/attached/orders/app.log.1"]
    assert app.text.level_pattern == " (?P<level>[A-Z]+) "
    assert app.multiline is not None
    assert (app.multiline.start, app.multiline.max_lines, app.multiline.flush_seconds) == (
        "^[0-9]{4}-",
        50,
        1.0,
    )
    assert (billing.paths, billing.format) == (["/var/log/attached/billing/*.log"], "json")
    names = [(c.name, c.service_name, c.kind, c.critical) for c in config.health.checks]
    assert names == [
        ("own", "x", "http", True),
        ("orders-api-live", "orders-api", "http", True),
        ("orders-api-db", "orders-api", "tcp", False),
    ]
    # The sidecar's own sections are untouched.
    assert config.loki == _own().loki
    assert config.shipping == _own().shipping


def test_a_sidecar_can_watch_some_services_of_the_file() -> None:
    config = with_services(
        _own(services_file={"path": "/s.yaml", "services": ["billing"]}), parse(FILE), "s.yaml"
    )
    assert [s.name for s in config.sources] == ["inbox", "billing"]
    assert [c.name for c in config.health.checks] == ["own"]
    with pytest.raises(ServicesFileError) as caught:
        with_services(
            _own(services_file={"path": "/s.yaml", "services": ["shipping"]}), parse(FILE), "s.yaml"
        )
    assert "services_file.services names 'shipping', which the file does not list" in str(
        caught.value
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "services:\n  - {name: a, logs: [{source: inbox, paths: [/x]}]}\n",
            "s.yaml: services[0] (a): logs[0]: the source name 'inbox' is one of the sidecar "
            "config's own sources",
        ),
        (
            "services:\n  - {name: a, logs: [{paths: [/x], format: text,"
            " multiline: {start: '^[0-9]', max_bytes: 300000}}]}\n",
            "s.yaml: services[0] (a): logs[0].multiline.max_bytes: 300000 exceeds the sidecar's "
            "shipping.max_line_bytes (262144)",
        ),
    ],
)
def test_what_the_sidecar_cannot_run_is_refused_naming_service_and_field(
    text: str, message: str
) -> None:
    with pytest.raises(ServicesFileError) as caught:
        with_services(_own(), parse(text), "s.yaml")
    assert message in str(caught.value)


def test_an_own_check_name_taken_by_the_file_is_refused() -> None:
    own = SidecarConfig(
        health={
            "checks": [{"name": "a-live", "kind": "http", "service_name": "a", "url": "http://a/"}]
        }
    )
    text = "services:\n  - {name: a, health: [{name: live, url: 'http://a/'}]}\n"
    with pytest.raises(ServicesFileError) as caught:
        with_services(own, parse(text), "s.yaml")
    assert "s.yaml: services[0] (a): health[0] (live): the check name 'a-live'" in str(caught.value)


def test_check_config_validates_the_services_file_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    services = tmp_path / "services.yaml"
    services.write_text(FILE)
    config = tmp_path / "sidecar.yaml"
    config.write_text(f"services_file: {{path: {services}}}\n")
    assert main(["check-config", "--config", str(config)]) == 0
    assert "ok (3 sources, 2 checks)" in capsys.readouterr().out
    services.write_text(FILE.replace("'tcp://orders-db:5432'", "'tcp:orders-db'"))
    assert main(["check-config", "--config", str(config)]) == 2
    assert "services[0] (orders-api): health[1] (db): " in capsys.readouterr().err
    assert main(["run", "--config", str(config)]) == 2
    assert "services[0] (orders-api): health[1] (db): " in capsys.readouterr().err
