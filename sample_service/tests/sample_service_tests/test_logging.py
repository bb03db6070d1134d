"""JSON logs: the telemetry contract's fields, one access record per request, trace ids equal to the
exported span's, stdout and LOG_FILE."""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sample_service.core import log_pipeline
from sample_service.core.log_config import configure_logging
from sample_service.core.settings import Settings

RFC3339_MS_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def _records(path: Path) -> list[dict[str, Any]]:
    flush_logs()
    return [json.loads(line) for line in path.read_text().splitlines()]


def flush_logs() -> None:
    """Wait for the log writer thread to write what is queued."""
    pipeline = log_pipeline.current()
    assert pipeline is not None
    assert pipeline.flush(timeout=10), "the log writer did not catch up in 10 s"


@pytest.mark.usefixtures("restore_logging")
def test_access_record_fields_and_trace_ids(
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    make_client: Callable[..., TestClient],
    tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
    capsys: pytest.CaptureFixture[str],
) -> None:
    log_file = tmp_path / "logs" / "service.log"
    configure_logging(make_settings(log_file=str(log_file), service_name="shop-api"))
    client = make_client(tracer_provider=tracer_provider, service_name="shop-api")

    response = client.get("/api/v1/items?limit=5", headers={"X-Request-ID": "req-abc"})
    assert response.status_code == 200

    access = [r for r in _records(log_file) if r["logger"] == "sample_service.access"]
    assert len(access) == 1, "exactly one access record per request"
    record = access[0]
    assert RFC3339_MS_UTC.match(record["timestamp"])
    assert record["level"] == "info"
    assert record["service_name"] == "shop-api"
    assert record["request_id"] == "req-abc"
    assert record["message"] == "GET /api/v1/items 200"
    assert record["http_request_method"] == "GET"
    assert record["http_route"] == "/api/v1/items"
    assert record["url_path"] == "/api/v1/items"
    assert record["http_response_status_code"] == 200
    assert isinstance(record["duration_seconds"], float)
    assert record["duration_seconds"] > 0
    assert record["client_address"] == "testclient"

    [server_span] = [s for s in span_exporter.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert record["trace_id"] == format(server_span.context.trace_id, "032x")
    assert record["span_id"] == format(server_span.context.span_id, "016x")

    # The same JSON lines go to stdout.
    flush_logs()
    stdout_records = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    assert any(r.get("request_id") == "req-abc" for r in stdout_records)


@pytest.mark.usefixtures("restore_logging")
def test_error_record_carries_the_stack(
    tmp_path: Path, make_settings: Callable[..., Settings], make_client: Callable[..., TestClient]
) -> None:
    from sample_service_tests.test_errors import break_database

    log_file = tmp_path / "service.log"
    configure_logging(make_settings(log_file=str(log_file)))
    client = make_client(customize=break_database)
    client.get("/api/v1/items", headers={"X-Request-ID": "req-boom"})
    records = _records(log_file)
    [error] = [r for r in records if r["logger"] == "sample_service.errors"]
    assert error["level"] == "error"
    assert error["request_id"] == "req-boom"
    assert "Traceback" in error["exc_info"]
    assert "DatabaseExploded" in error["exc_info"]
    [access] = [r for r in records if r["logger"] == "sample_service.access"]
    assert (access["level"], access["http_response_status_code"]) == ("error", 500)


@pytest.mark.usefixtures("restore_logging")
def test_no_trace_ids_without_a_span(
    tmp_path: Path, make_settings: Callable[..., Settings], make_client: Callable[..., TestClient]
) -> None:
    log_file = tmp_path / "service.log"
    configure_logging(make_settings(log_file=str(log_file)))
    make_client().get("/api/v1/items")
    [access] = [r for r in _records(log_file) if r["logger"] == "sample_service.access"]
    assert "trace_id" not in access
    assert "span_id" not in access
    assert len(access["request_id"]) == 32


@pytest.fixture
def stalled_log_file(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """LOG_FILE on a volume that stops answering: every write blocks until the event is set."""
    resume = threading.Event()
    write = log_pipeline._AppendFile.write

    def stalled(self: log_pipeline._AppendFile, data: bytes) -> None:
        assert resume.wait(30), "the test never resumed the log volume"
        write(self, data)

    monkeypatch.setattr(log_pipeline._AppendFile, "write", stalled)
    yield resume
    resume.set()


@pytest.mark.usefixtures("restore_logging")
def test_a_stalled_log_volume_does_not_stall_requests(
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    make_client: Callable[..., TestClient],
    stalled_log_file: threading.Event,
) -> None:
    log_file = tmp_path / "service.log"
    configure_logging(make_settings(log_file=str(log_file)))
    client = make_client()
    # The writer thread is stuck in a write; requests keep being answered meanwhile.
    responses = [client.get("/api/v1/items", headers={"X-Request-ID": f"r{n}"}) for n in range(20)]
    assert [r.status_code for r in responses] == [200] * 20
    assert not stalled_log_file.is_set()
    stalled_log_file.set()
    ids = {
        r.get("request_id") for r in _records(log_file) if r["logger"] == "sample_service.access"
    }
    assert {f"r{n}" for n in range(20)} <= ids  # nothing lost once the volume answers


class _Counting(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


@pytest.mark.usefixtures("restore_logging")
def test_records_past_the_queue_bound_are_counted_and_reported(
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    make_client: Callable[..., TestClient],
    stalled_log_file: threading.Event,
) -> None:
    log_file = tmp_path / "service.log"
    configure_logging(make_settings(log_file=str(log_file)))
    pipeline = log_pipeline.current()
    assert pipeline is not None
    pipeline.queue_size = 5
    emitted = _Counting()
    logging.getLogger().addHandler(emitted)
    client = make_client()
    for _ in range(30):
        assert client.get("/api/v1/items").status_code == 200
    dropped = pipeline.dropped
    assert dropped > 0
    metrics = client.get("/metrics").text
    assert f"log_records_dropped_total {float(dropped)}" in metrics
    stalled_log_file.set()
    records = _records(log_file)
    # Each report covers the drops since the one before (the writer may have reported
    # some before it stalled).
    reports = [r for r in records if r["logger"] == "sample_service.logging"]
    assert reports
    assert {r["level"] for r in reports} == {"warning"}
    assert sum(r["dropped_records"] for r in reports) == pipeline.dropped
    last = reports[-1]
    assert last["message"] == (
        f"dropped {last['dropped_records']} log records: the log writer fell behind"
    )
    # Every record was either written or counted as dropped.
    assert len(records) - len(reports) + pipeline.dropped == emitted.count


def test_stdout_pieces_are_whole_lines_within_pipe_buf() -> None:
    """Several gunicorn workers share one stdout pipe: a write of at most PIPE_BUF bytes is
    atomic there, so no worker's line is cut by another's."""
    lines = [f"line {n} " + "x" * 300 for n in range(100)]
    chunks = log_pipeline._chunks(lines, 4096)
    assert "".join(chunks) == "\n".join(lines) + "\n"
    assert all(len(chunk.encode()) <= 4096 for chunk in chunks)
    assert all(chunk.endswith("\n") for chunk in chunks)
    long_line = "y" * 10_000
    assert log_pipeline._chunks(["a", long_line, "b"], 4096) == ["a\n", long_line + "\n", "b\n"]
