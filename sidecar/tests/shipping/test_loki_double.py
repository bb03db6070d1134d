"""The Loki double itself: the tests above are only as strict as it is."""

from __future__ import annotations

import gzip
import json

import cramjam
import httpx
import pytest
from sidecar.shipping.encoding import encode_json, encode_protobuf

from tests.support.loki_double import HOUR_NS, LokiDouble

LABELS = {"service_name": "svc", "level": "info", "source": "app"}
RENDERED = '{level="info", service_name="svc", source="app"}'


def _push(loki: LokiDouble, entries, labels: str = RENDERED, encoding: str = "protobuf"):  # type: ignore[no-untyped-def]
    encode = encode_protobuf if encoding == "protobuf" else encode_json
    entries = [entry if len(entry) == 3 else (*entry, None) for entry in entries]
    body = encode([(labels, LABELS, entries)])
    headers = {"Content-Type": body.content_type}
    if body.content_encoding:
        headers["Content-Encoding"] = body.content_encoding
    return httpx.post(loki.url, content=body.content, headers=headers)


@pytest.fixture
def double():  # type: ignore[no-untyped-def]
    with LokiDouble() as loki:
        yield loki


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_decodes_both_encodings_with_metadata(double, encoding):
    response = _push(double, [(5, "hello", (("trace_id", "abc"),))], encoding=encoding)
    assert response.status_code == 204
    [(labels, entries)] = double.streams().items()
    assert json.loads(json.dumps(labels)) == labels
    assert (entries[0].ts, entries[0].line, entries[0].metadata) == (
        5,
        "hello",
        (("trace_id", "abc"),),
    )


def test_refuses_bad_label_names(double):
    response = _push(double, [(1, "x")], labels='{1bad="v"}')
    assert response.status_code == 400
    assert response.text.startswith("couldn't parse labels: ")  # real Loki's words
    assert double.streams() == {}


def test_refuses_long_lines_but_keeps_the_rest(double):
    double.max_line_size = 10
    response = _push(double, [(1, "short"), (2, "far too long a line")])
    assert response.status_code == 400
    assert response.text.startswith("max entry size '10' bytes exceeded for stream")
    assert double.lines() == ["short"]


def test_ordered_refuses_older_entries_and_collapses_identical_ones(double):
    double.ordered = True
    assert _push(double, [(10, "a"), (20, "b")]).status_code == 204
    assert _push(double, [(10, "a"), (20, "b")]).status_code == 204  # identical: collapsed
    assert double.collapsed == 2
    response = _push(double, [(15, "late")])
    assert response.status_code == 400
    assert "entry out of order" in response.text
    assert "total ignored: 1 out of 1" in response.text
    assert double.lines() == ["a", "b"]


def test_unordered_accepts_within_the_window_only(double):
    now = 10 * HOUR_NS
    assert _push(double, [(now, "new"), (now - 60, "a bit older")]).status_code == 204
    response = _push(double, [(now - 2 * HOUR_NS, "too old")])
    assert response.status_code == 400
    assert "too far behind" in response.text


def test_answers_on_command(double):
    double.fail(429, retry_after="3", count=1)
    first = _push(double, [(1, "x")])
    assert (first.status_code, first.headers["Retry-After"]) == (429, "3")
    double.fail(500)
    assert _push(double, [(1, "x")]).status_code == 500
    double.fail(400, body="bad thing")
    refused = _push(double, [(1, "x")])
    assert (refused.status_code, refused.text) == (400, "bad thing")
    double.fail(None)
    assert _push(double, [(1, "x")]).status_code == 204
    assert double.lines() == ["x"]


def test_rejects_undecodable_bodies(double):
    garbage = httpx.post(
        double.url, content=b"not snappy", headers={"Content-Type": "application/x-protobuf"}
    )
    assert garbage.status_code == 400
    raw_json = httpx.post(
        double.url,
        content=gzip.compress(b'{"streams": [{"values": []}]}'),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert raw_json.status_code == 400
    snappy_ok = bytes(cramjam.snappy.compress_raw(b""))
    empty = httpx.post(
        double.url, content=snappy_ok, headers={"Content-Type": "application/x-protobuf"}
    )
    assert empty.status_code == 204
