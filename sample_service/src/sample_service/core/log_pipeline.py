"""Log records leave the request path through a queue; one writer thread writes them.

- The logging thread (a request) only captures what exists only there: the message with
  its arguments, the active trace and span ids, the request id. It puts the record on a
  bounded queue (QueueHandler) and goes on: no JSON, no lock on a file, no write.
- The writer thread formats each record once and writes what has queued up with one
  write per destination (stdout, LOG_FILE), so a slow or stalled log volume stalls only
  that thread. Writes to stdout are cut at line boundaries into pieces of at most PIPE_BUF
  bytes, so the lines of several gunicorn workers sharing a pipe never interleave; the
  file is opened O_APPEND and each batch is one write.
- When the queue is full (the writer is stuck), records are dropped and counted
  (log_records_dropped_total), and the writer reports how many in a warning line when it
  catches up: nothing is lost silently.
- LOG_FILE is reopened when logrotate has moved it (checked once a batch).
- At exit, and at reconfiguration, what is queued is written (bounded by a timeout).
- A forked child (a gunicorn worker) starts with an empty queue and its own writer: the
  parent's pending records are the parent's to write.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import logging.handlers
import os
import queue
import select
import sys
import threading
from pathlib import Path
from typing import IO, Any

from opentelemetry import trace

from sample_service.core.request_context import request_id_var

QUEUE_SIZE = 10_000
BATCH_SIZE = 500
_STOP = object()


class ContextQueueHandler(logging.handlers.QueueHandler):
    """Enqueues records with the request's context attached, never blocking."""

    def __init__(self, pipeline: LogPipeline) -> None:
        super().__init__(pipeline.queue)
        self.pipeline = pipeline

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        # The record may be shared with other handlers: only attributes are added, and
        # msg/args are replaced by the equivalent rendered message.
        record.message = record.getMessage()
        record.msg, record.args = record.message, None
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            record.trace_id = format(span_context.trace_id, "032x")
            record.span_id = format(span_context.span_id, "016x")
        request_id = request_id_var.get()
        if request_id is not None:
            record.request_id = request_id
        return record

    def enqueue(self, record: logging.LogRecord) -> None:
        pending = self.pipeline.queue  # replaced in a forked child
        if pending.qsize() >= self.pipeline.queue_size:
            self.pipeline.count_drop()
            return
        pending.put_nowait(record)


class _AppendFile:
    """LOG_FILE, opened O_APPEND, reopened when it was moved or removed (logrotate)."""

    def __init__(self, path: str) -> None:
        self.path = path
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "ab", buffering=0)  # noqa: SIM115 (kept open on purpose)
        self._identity = self._stat_identity()

    def _stat_identity(self) -> tuple[int, int] | None:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return None
        return stat.st_dev, stat.st_ino

    def write(self, data: bytes) -> None:
        if self._stat_identity() != self._identity:
            self._file.close()
            self._file = open(self.path, "ab", buffering=0)  # noqa: SIM115
            self._identity = self._stat_identity()
        view = memoryview(data)
        while view:
            written = self._file.write(view)
            view = view[written or 0 :]

    def close(self) -> None:
        self._file.close()


class LogPipeline:
    def __init__(
        self,
        formatter: logging.Formatter,
        stream: IO[str],
        log_file: str | None,
        queue_size: int = QUEUE_SIZE,
    ) -> None:
        self.formatter = formatter
        self.stream = stream
        self.file = _AppendFile(log_file) if log_file else None
        self.queue_size = queue_size
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.dropped = 0
        self._unreported_drops = 0
        self._drop_lock = threading.Lock()
        self.drop_counter: Any = None  # a prometheus Counter, set by the app's metrics
        self._thread = self._start_writer()

    def _start_writer(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, name="log-writer", daemon=True)
        thread.start()
        return thread

    def after_fork_in_child(self) -> None:
        self.queue = queue.SimpleQueue()
        self._drop_lock = threading.Lock()
        self._thread = self._start_writer()

    def count_drop(self) -> None:
        with self._drop_lock:
            self.dropped += 1
            self._unreported_drops += 1
        if self.drop_counter is not None:
            self.drop_counter.inc()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until what was queued before this call is written; False on timeout."""
        written = threading.Event()
        self.queue.put(written)
        return written.wait(timeout) if self._thread.is_alive() else False

    def stop(self, timeout: float = 5.0) -> None:
        """Write what is queued, then end the writer."""
        if self._thread.is_alive():
            self.queue.put(_STOP)
            self._thread.join(timeout)
        if self.file is not None:
            self.file.close()

    def _run(self) -> None:
        while True:
            batch = [self.queue.get()]
            while len(batch) < BATCH_SIZE:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            stop = any(item is _STOP for item in batch)
            lines = [self._format(r) for r in batch if isinstance(r, logging.LogRecord)]
            lines.extend(self._drop_report())
            self._write(lines)
            for item in batch:
                if isinstance(item, threading.Event):  # flush() waits for it
                    item.set()
            if stop:
                return

    def _format(self, record: logging.LogRecord) -> str:
        try:
            return self.formatter.format(record)
        except Exception:  # a record that cannot be formatted must not stop the writer
            return self.formatter.format(
                logging.makeLogRecord(
                    {
                        "name": "sample_service.logging",
                        "levelno": logging.ERROR,
                        "levelname": "ERROR",
                        "msg": f"unformattable log record from {record.name}",
                    }
                )
            )

    def _drop_report(self) -> list[str]:
        with self._drop_lock:
            dropped, self._unreported_drops = self._unreported_drops, 0
        if not dropped:
            return []
        record = logging.makeLogRecord(
            {
                "name": "sample_service.logging",
                "levelno": logging.WARNING,
                "levelname": "WARNING",
                "msg": f"dropped {dropped} log records: the log writer fell behind",
                "dropped_records": dropped,
            }
        )
        return [self.formatter.format(record)]

    def _write(self, lines: list[str]) -> None:
        if not lines:
            return
        try:
            for chunk in _chunks(lines, select.PIPE_BUF):
                self.stream.write(chunk)
            self.stream.flush()
        except Exception as error:  # stdout gone: keep writing the file
            _report_write_error("stdout", error)
        if self.file is not None:
            try:
                self.file.write(("\n".join(lines) + "\n").encode("utf-8", "replace"))
            except Exception as error:  # a full or failing volume: keep stdout going
                _report_write_error(self.file.path, error)


def _chunks(lines: list[str], limit: int) -> list[str]:
    """Newline-terminated pieces of whole lines, each at most `limit` bytes unless a single
    line is longer (then it goes alone)."""
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for line in lines:
        length = len(line.encode("utf-8", "replace")) + 1
        if current and size + length > limit:
            chunks.append("\n".join(current) + "\n")
            current, size = [], 0
        current.append(line)
        size += length
    if current:
        chunks.append("\n".join(current) + "\n")
    return chunks


def _report_write_error(destination: str, error: BaseException) -> None:
    # If stderr is gone too, there is nowhere left to say it.
    with contextlib.suppress(Exception):
        sys.stderr.write(f"log writer: cannot write to {destination}: {type(error).__name__}\n")


_current: LogPipeline | None = None


def install(pipeline: LogPipeline) -> ContextQueueHandler:
    """Make `pipeline` the process's log pipeline, stopping (and draining) the previous one."""
    global _current
    previous, _current = _current, pipeline
    if previous is not None:
        previous.stop()
    return ContextQueueHandler(pipeline)


def current() -> LogPipeline | None:
    return _current


def _stop_current() -> None:
    if _current is not None:
        _current.stop()


def _after_fork_in_child() -> None:
    if _current is not None:
        _current.after_fork_in_child()


atexit.register(_stop_current)
os.register_at_fork(after_in_child=_after_fork_in_child)
