"""How one push attempt reads Loki's answers: status classes and Retry-After forms."""

from __future__ import annotations

import email.utils
import subprocess
import time

import pytest
from sidecar.shipping.encoding import encode_protobuf
from sidecar.shipping.loki_client import LokiClient, parse_retry_after

from sidecar.config import LokiConfig
from tests.support import require_binary
from tests.support.loki_double import LokiDouble

BODY = encode_protobuf([('{a="b"}', {"a": "b"}, [(1, "x", None)])])


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (400, "rejected"),
        (413, "rejected"),
        (429, "rate_limited"),
        (503, "server_error"),
        (401, "client_error"),
        (404, "client_error"),
    ],
)
async def test_each_status_class_has_its_outcome(status, outcome):
    with LokiDouble() as loki:
        loki.fail(status, body="no", retry_after="3")
        client = LokiClient(LokiConfig(url=loki.url))
        attempt, retry_after = await client.attempt(BODY)
        await client.close()
    assert (attempt.outcome, attempt.status, attempt.body, retry_after) == (
        outcome,
        status,
        "no",
        3.0,
    )
    assert loki.lines() == []


@pytest.mark.parametrize("value", ["soon", "-5", "1.5e3", "Mon, 99 Foo 2026 25:61:00 GMT"])
def test_a_retry_after_that_is_neither_seconds_nor_a_date_is_ignored(value):
    assert parse_retry_after(value) is None


def test_a_retry_after_date_is_the_seconds_until_it():
    when = email.utils.formatdate(time.time() + 120, usegmt=True)
    delay = parse_retry_after(f" {when} ")
    assert delay is not None
    assert 60 < delay <= 120


async def test_insecure_skip_verify_accepts_an_untrusted_certificate(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            require_binary("openssl", "apt-get install openssl"),
            *("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    loki = LokiDouble()
    loki.serve_tls(str(cert), str(key))
    with loki:
        client = LokiClient(LokiConfig(url=loki.url, tls={"insecure_skip_verify": True}))
        attempt, _ = await client.attempt(BODY)
        await client.close()
    assert attempt.outcome == "success"
    assert loki.lines() == ["x"]
