"""The global handler: an unhandled error becomes a JSON 500 carrying the request id, is
logged with its stack, is counted in the metrics, and (see test_sentry) reaches Sentry."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sample_service.api.deps import get_session


class DatabaseExploded(RuntimeError):
    pass


async def _broken_session() -> None:
    raise DatabaseExploded("connection pool on fire")


def break_database(app: FastAPI) -> None:
    app.dependency_overrides[get_session] = _broken_session


def test_unhandled_error_is_a_json_500_with_request_id(
    make_client: Callable[..., TestClient], caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(customize=break_database)
    with caplog.at_level(logging.ERROR, logger="sample_service.errors"):
        response = client.get("/api/v1/items", headers={"X-Request-ID": "req-12345"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"detail": "internal error", "request_id": "req-12345"}
    assert response.headers["X-Request-ID"] == "req-12345"
    assert "connection pool on fire" not in response.text  # no internals leak to the caller

    [record] = [r for r in caplog.records if r.name == "sample_service.errors"]
    assert record.exc_info is not None
    assert record.exc_info[0] is DatabaseExploded
    assert record.levelno == logging.ERROR

    metrics = client.get("/metrics").text
    assert (
        'http_server_request_duration_seconds_count{http_request_method="GET",'
        'http_response_status_code="500",http_route="/api/v1/items"} 1.0'
    ) in metrics


def test_an_unsafe_request_id_is_replaced(client: TestClient) -> None:
    response = client.get("/api/v1/items/999", headers={"X-Request-ID": "bad id\nwith newline"})
    assert response.headers["X-Request-ID"] != "bad id\nwith newline"
    assert len(response.headers["X-Request-ID"]) == 32
