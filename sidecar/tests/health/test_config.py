"""The health config rejects bad checks with an error that names the field."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from sidecar.health.config import HealthConfig, HttpCheck, TcpCheck


def _http(**overrides: Any) -> dict[str, Any]:
    return {"name": "api", "service_name": "svc", "kind": "http", "url": "http://x/h"} | overrides


def test_default_has_no_checks() -> None:
    assert HealthConfig().checks == []


def test_both_kinds_and_defaults() -> None:
    config = HealthConfig.model_validate(
        {
            "checks": [
                _http(),
                {
                    "name": "db",
                    "service_name": "svc",
                    "kind": "tcp",
                    "host": "127.0.0.1",
                    "port": 5432,
                },
            ]
        }
    )
    http, tcp = config.checks
    assert isinstance(http, HttpCheck)
    assert isinstance(tcp, TcpCheck)
    assert (http.method, http.expected_status, http.critical) == ("GET", ["2xx"], True)
    assert (
        http.interval_seconds,
        http.timeout_seconds,
        http.failure_threshold,
        http.success_threshold,
    ) == (
        10.0,
        2.0,
        3,
        1,
    )


@pytest.mark.parametrize(
    ("check", "field", "words"),
    [
        (_http(url="ftp://x/"), "checks.0.http.url", "http"),
        (_http(url="not a url"), "checks.0.http.url", "URL"),
        (_http(method="BREW"), "checks.0.http.method", "BREW"),
        (_http(expected_status=[700]), "checks.0.http.expected_status", "700"),
        (_http(expected_status=["2xy"]), "checks.0.http.expected_status", "2xy"),
        (_http(json_path="status", expected_value="ok"), "checks.0.http.json_path", "$"),
        (_http(json_path="$.status"), "checks.0.http", "expected_value"),
        (_http(timeout_seconds=20), "checks.0.http", "timeout_seconds"),
        (_http(interval_seconds=0), "checks.0.http.interval_seconds", "greater than 0"),
        (_http(failure_threshold=0), "checks.0.http.failure_threshold", "1"),
        (_http(surprise=1), "checks.0.http.surprise", "Extra"),
        (
            {"name": "db", "service_name": "s", "kind": "tcp", "host": "h", "port": 0},
            "checks.0.tcp.port",
            "1",
        ),
        ({"name": "db", "service_name": "s", "host": "h", "port": 1}, "checks.0", "kind"),
    ],
)
def test_errors_name_the_field(check: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(ValidationError) as caught:
        HealthConfig.model_validate({"checks": [check]})
    text = str(caught.value)
    assert f"\n{field}\n" in text
    assert words in text


def test_duplicate_names_rejected() -> None:
    with pytest.raises(ValidationError, match="two checks are named 'api'"):
        HealthConfig.model_validate({"checks": [_http(), _http()]})


def test_status_classes_and_codes() -> None:
    check = HttpCheck.model_validate(_http(expected_status=["2xx", 503]))
    assert [check.accepts(code) for code in (200, 299, 301, 503, 500)] == [
        True,
        True,
        False,
        True,
        False,
    ]
