"""End to end against the Loki double: what arrives, with which labels and timestamps."""

from __future__ import annotations

import base64

import pytest

from tests.support.loki_double import parse_labels

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"


def _only_stream(loki, level: str = "info"):  # type: ignore[no-untyped-def]
    streams = {k: v for k, v in loki.streams().items() if parse_labels(k)["level"] == level}
    assert len(streams) == 1, loki.streams().keys()
    return next(iter(streams.items()))


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
async def test_json_lines_arrive_with_labels_metadata_and_record_timestamp(harness, encoding):
    (harness.logs / "app.log").write_text(
        harness.json_line(
            1, trace_id="4bf92f3577b34da6a3ce929d0e0e4736", span_id="00f067aa0ba902b7"
        )
        + harness.json_line(2, level="ERROR")
    )
    config = harness.config(
        loki={"encoding": encoding}, sources=[{**_source(harness), "labels": {"env": "test"}}]
    )
    async with harness.running(config) as sidecar:
        await harness.eventually(lambda: len(harness.loki.lines()) == 2, what="2 lines")
        labels, entries = _only_stream(harness.loki, "info")
        assert parse_labels(labels) == {
            "env": "test",
            "level": "info",
            "service_name": "svc",
            "source": "app",
        }
        # 2026-11-25T10:00:01.001Z, from the record, not the read time.
        assert entries[0].ts == 1795600801_001_000_000
        assert dict(entries[0].metadata) == {"trace_id": TRACE, "span_id": SPAN}
        assert "trace_id" not in parse_labels(labels)
        _, errors = _only_stream(harness.loki, "error")
        assert errors[0].line.endswith('"level":"ERROR","message":"line 2"}')
        await harness.eventually(
            lambda: harness.metric(sidecar, "sidecar_log_lines_shipped_total") == 2
        )
        assert harness.metric(sidecar, "sidecar_log_lines_read_total") == 2
        assert harness.metric(sidecar, "sidecar_log_messages_total", level="error") == 1
        assert harness.metric(sidecar, "sidecar_log_ship_requests_total", outcome="success") >= 1
        assert harness.metric(sidecar, "sidecar_log_ship_duration_seconds_count") >= 1
        # Newest acknowledged entry: line 2, 2026-11-25T10:00:02.002Z.
        assert harness.metric(
            sidecar, "sidecar_log_last_shipped_timestamp_seconds"
        ) == pytest.approx(1795600802.002)
        assert harness.metric(sidecar, "sidecar_log_spool_bytes") == 0
    request = harness.loki.requests[0]
    expected_type = "application/x-protobuf" if encoding == "protobuf" else "application/json"
    assert request.headers["Content-Type"] == expected_type


def _source(harness, **extra):  # type: ignore[no-untyped-def]
    return {
        "name": "app",
        "service_name": "svc",
        "paths": [str(harness.logs / "*.log*")],
        **extra,
    }


async def test_tenant_and_basic_auth_headers(harness):
    (harness.logs / "app.log").write_text(harness.json_line(1))
    config = harness.config(
        loki={"tenant_id": "team-a", "basic_auth": {"username": "u", "password": "p"}}
    )
    async with harness.running(config):
        await harness.eventually(lambda: harness.loki.lines(), what="a line")
    headers = harness.loki.requests[0].headers
    assert headers["X-Scope-OrgID"] == "team-a"
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"u:p").decode()


async def test_bearer_token_header(harness):
    (harness.logs / "app.log").write_text(harness.json_line(1))
    async with harness.running(harness.config(loki={"bearer_token": "s3cret"})):
        await harness.eventually(lambda: harness.loki.lines(), what="a line")
    assert harness.loki.requests[0].headers["Authorization"] == "Bearer s3cret"
    assert "X-Scope-OrgID" not in harness.loki.requests[0].headers


async def test_plain_text_with_level_and_timestamp_patterns(harness):
    (harness.logs / "web.log").write_text(
        "[25/Nov/2026:10:00:05 +0100] WARN disk almost full\nno level, no time here\n"
    )
    source = _source(
        harness,
        format="text",
        text={
            "level_pattern": r"\b(?P<level>INFO|WARN|ERROR)\b",
            "timestamp_pattern": r"\[(?P<timestamp>[^\]]+)\]",
            "timestamp_format": "%d/%b/%Y:%H:%M:%S %z",
        },
    )
    async with harness.running(harness.config(sources=[source])) as sidecar:
        await harness.eventually(lambda: len(harness.loki.lines()) == 2, what="2 lines")
        assert harness.metric(sidecar, "sidecar_log_lines_malformed_total", reason="not_json") == 0
    _, warn = _only_stream(harness.loki, "warn")
    assert warn[0].ts == 1795597205 * 10**9  # 09:00:05 UTC
    _, unknown = _only_stream(harness.loki, "unknown")
    assert unknown[0].line == "no level, no time here"


async def test_docker_json_file_inner_json_and_docker_time(harness):
    (harness.logs / "c-json.log").write_text(
        '{"log":"{\\"level\\":\\"error\\",\\"message\\":\\"boom\\"}\\n","stream":"stdout",'
        '"time":"2026-11-25T10:00:00.5Z"}\n'
        '{"log":"plain text\\n","stream":"stderr","time":"2026-11-25T10:00:01.25Z"}\n'
    )
    async with harness.running(harness.config(sources=[_source(harness, format="docker")])):
        await harness.eventually(lambda: len(harness.loki.lines()) == 2, what="2 lines")
    _, errors = _only_stream(harness.loki, "error")
    assert errors[0].line == '{"level":"error","message":"boom"}'
    assert errors[0].ts == 1795600800_500_000_000
    _, plain = _only_stream(harness.loki, "unknown")
    assert (plain[0].line, plain[0].ts) == ("plain text", 1795600801_250_000_000)


async def test_entries_of_a_stream_are_sent_in_timestamp_order(harness):
    harness.loki.ordered = True
    # Written out of order within one batch; an ordered Loki refuses anything older.
    lines = [harness.json_line(n) for n in (5, 3, 9, 1, 7)]
    (harness.logs / "app.log").write_text("".join(lines))
    async with harness.running(harness.config(loki={"batch_max_wait_seconds": 0.3})):
        await harness.eventually(lambda: len(harness.loki.lines()) == 5, what="5 lines")
    _, entries = _only_stream(harness.loki)
    assert [e.ts for e in entries] == sorted(e.ts for e in entries)
    assert not harness.loki.refused
