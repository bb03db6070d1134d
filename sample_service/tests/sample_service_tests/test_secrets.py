"""No request data in logs or Sentry: a secret sent in a request that fails in the
database reaches neither the log file nor the Sentry envelope at the local DSN; and the
before_send scrubber removes what a driver or library still puts in an error."""

from __future__ import annotations

import logging
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sentry_sdk
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sample_service.api.deps import get_session
from sample_service.core.log_config import configure_logging
from sample_service.core.scrubbing import SCRUBBED, scrub_sentry_event
from sample_service.core.settings import Settings

from sample_service_tests.receivers import SentryReceiver
from sample_service_tests.test_logging import flush_logs
from sample_service_tests.test_sentry import _events


@pytest.fixture
def receiver() -> Iterator[SentryReceiver]:
    with SentryReceiver() as server:
        yield server
    sentry_sdk.init(dsn=None)


def _dsn(receiver: SentryReceiver) -> str:
    return f"http://publickey@{receiver.url[7:]}/42"


def _envelopes(receiver: SentryReceiver) -> bytes:
    sentry_sdk.flush(timeout=10)
    return b"\n".join(body for _, _, body in receiver.requests)


@pytest.mark.usefixtures("restore_logging")
def test_a_secret_in_a_failing_update_reaches_neither_the_log_nor_sentry(
    tmp_path: Path,
    database_url: str,
    make_settings: Callable[..., Settings],
    make_client: Callable[..., TestClient],
    login: Callable[..., dict[str, str]],
    receiver: SentryReceiver,
) -> None:
    log_file = tmp_path / "service.log"
    configure_logging(make_settings(log_file=str(log_file)))
    client = make_client(sentry_dsn=_dsn(receiver))
    auth = login(client)
    item_id = client.post("/api/v1/items", json={"name": "n", "price": "1"}, headers=auth).json()[
        "id"
    ]
    # The database refuses every update: the statement fails with the request's values bound.
    with sqlite3.connect(database_url.removeprefix("sqlite+aiosqlite:///")) as db:
        db.execute(
            "CREATE TRIGGER refuse BEFORE UPDATE ON items BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )
    secret = f"BODYSECRET-{secrets.token_hex(8)}"
    response = client.patch(
        f"/api/v1/items/{item_id}",
        json={"description": secret},
        headers={**auth, "X-Request-ID": "req-secret"},
    )
    assert response.status_code == 500
    assert secret not in response.text

    flush_logs()
    log = log_file.read_text()
    # The failure itself was logged and reported, with its stack...
    assert "req-secret" in log
    assert "refused" in log
    assert "SQL parameters hidden due to hide_parameters=True" in log
    envelopes = _envelopes(receiver)
    [event] = [e for _, _, body in receiver.requests for e in _events(body)]
    assert event["tags"]["request_id"] == "req-secret"
    assert "refused" in str(event["exception"])
    # ...without the value bound to the statement.
    assert secret not in log
    assert secret.encode() not in envelopes


def _raise_with_secrets(app: FastAPI) -> None:
    async def leaky_session() -> None:
        # Sentry keeps the request's log records as breadcrumbs of its next event.
        logging.getLogger("sample_service.test").warning("a breadcrumb: password=LEAKED-CRUMB")
        # What a driver or library may still put in a message, despite hide_parameters.
        raise RuntimeError(
            "insert failed [parameters: ('LEAKED-PARAM', 'x')]\n"
            "DETAIL:  Failing row contains (7, LEAKED-ROW).\n"
            "auth: Bearer LEAKED-BEARER password=LEAKED-PASSWORD "
            "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.LEAKEDSIGNATURE"
        )

    app.dependency_overrides[get_session] = leaky_session


@pytest.mark.usefixtures("restore_logging")
def test_secrets_inside_an_exception_message_are_scrubbed_from_log_and_sentry(
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    make_client: Callable[..., TestClient],
    receiver: SentryReceiver,
) -> None:
    log_file = tmp_path / "service.log"
    configure_logging(make_settings(log_file=str(log_file)))
    client = make_client(customize=_raise_with_secrets, sentry_dsn=_dsn(receiver))
    assert client.get("/api/v1/items").status_code == 500

    flush_logs()
    log = log_file.read_text()
    envelopes = _envelopes(receiver).decode()
    [event] = [e for _, _, body in receiver.requests for e in _events(body)]
    assert "insert failed" in str(event["exception"])  # the event is there, scrubbed
    assert "insert failed" in log
    assert SCRUBBED in envelopes
    assert "a breadcrumb" in envelopes
    # The log keeps the application's own warning as written (it is the application's
    # message, not an error report); error reports are scrubbed.
    assert "LEAKED" not in log.replace("password=LEAKED-CRUMB", "")
    assert "LEAKED" not in envelopes


def test_the_scrubber_walks_exceptions_and_breadcrumbs() -> None:
    event = {
        "exception": {"values": [{"type": "E", "value": "x [parameters: ('SECRET1', 2)]"}]},
        "breadcrumbs": {"values": [{"message": "login", "data": {"q": "api_key=SECRET2"}}]},
        "logentry": {
            "message": "Authorization: Bearer SECRET3",
            "params": ["client_secret: 'SECRET4'"],
        },
    }
    scrubbed = scrub_sentry_event(event, {})
    text = str(scrubbed)
    assert "SECRET" not in text
    assert scrubbed["exception"]["values"][0]["type"] == "E"
    assert "login" in text
