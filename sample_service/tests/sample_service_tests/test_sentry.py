"""With SENTRY_DSN set, an unhandled error reaches Sentry, tagged with its request id and
without personal data; without it, the SDK stays inert."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sentry_sdk
from fastapi.testclient import TestClient

from sample_service_tests.receivers import SentryReceiver
from sample_service_tests.test_errors import break_database


def _events(body: bytes) -> list[dict[str, Any]]:
    """The event items of a Sentry envelope (header line, then item header + payload pairs)."""
    lines = body.split(b"\n")
    events = []
    index = 1
    while index < len(lines) and lines[index]:
        item_header = json.loads(lines[index])
        payload = lines[index + 1]
        if item_header.get("type") == "event":
            events.append(json.loads(payload))
        index += 2
    return events


@pytest.fixture
def sentry_off_afterwards() -> Iterator[None]:
    yield
    sentry_sdk.init(dsn=None)


@pytest.mark.usefixtures("sentry_off_afterwards")
def test_unhandled_error_reaches_sentry(make_client: Callable[..., TestClient]) -> None:
    with SentryReceiver() as receiver:
        client = make_client(
            customize=break_database, sentry_dsn=f"http://publickey@{receiver.url[7:]}/42"
        )
        response = client.get(
            "/api/v1/items",
            headers={
                "X-Request-ID": "req-sentry",
                "Authorization": "Bearer secret-token",
                "Cookie": "session=cookie-secret",
            },
        )
        assert response.status_code == 500
        sentry_sdk.flush(timeout=10)
        requests = receiver.requests

    assert requests, "no envelope reached the DSN's endpoint"
    assert all(path == "/api/42/envelope/" for path, _, _ in requests)
    [event] = [event for _, _, body in requests for event in _events(body)]
    [exception] = event["exception"]["values"]
    assert exception["type"] == "DatabaseExploded"
    assert event["tags"]["request_id"] == "req-sentry"
    assert event["tags"]["service_name"] == "sample-service"
    raw = json.dumps(event)
    assert "secret-token" not in raw
    assert "cookie-secret" not in raw
    assert "ip_address" not in json.dumps(event.get("user", {}))


@pytest.mark.usefixtures("sentry_off_afterwards")
def test_sentry_is_inert_without_a_dsn(make_client: Callable[..., TestClient]) -> None:
    sentry_sdk.init(dsn=None)
    make_client()
    assert sentry_sdk.get_client().dsn is None
    assert sentry_sdk.get_client().transport is None
