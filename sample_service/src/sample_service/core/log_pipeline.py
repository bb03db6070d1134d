"""Log records leave the request path through a queue; one writer thread writes them.

- The logging thread (a request) formats its record into its JSON line (where the
  request's trace and request ids are current) and appends the line to a bounded queue
  (QueueHandler). It never takes a lock on a file and never waits on a write.
- The writer thread wakes every WRITE_INTERVAL seconds (not at every record, which would
  hand the GIL back and forth with the request thread at each line) and writes what has
  queued up with one write per destination: stdout, and LOG_FILE. A slow or stalled log
  volume stalls only that thread. Writes to stdout are cut at line boundaries into pieces
  of at most PIPE_BUF bytes, so the lines of several gunicorn workers sharing a pipe never
  interleave; the file is opened O_APPEND and each batch is one write.
- When the queue is full (the writer is stuck), lines are dropped and counted
  (log_records_dropped_total), and the writer reports how many in a warning line when it
  catches up: nothing is lost silently.
- LOG_FILE is reopened when logrotate has moved it (checked once a batch).
- At exit, and at reconfiguration, what is queued is written (bounded by a timeout).
- A forked child (a gunicorn worker) starts with an empty queue and its own writer: the
  parent's pending lines are the parent's to write.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import logging.handlers
import os
import select
import sys
import threading
from collections import deque
from pathlib import Path
from typing import IO, Any

QUEUE_SIZE = 10_000
WRITE_INTERVAL = 0.05


class ContextQueueHandler(logging.handlers.QueueHandler):
    """Formats each record in the logging thread and queues its line, never blocking."""

    def __init__(self, pipeline: LogPipeline) -> None:
        super().__init__(pipeline.queue)  # type: ignore[arg-type]  # a deque: see enqueue()
        self.pipeline = pipeline

    def prepare(self, record: logging.LogRecord) -> str:
        return self.format(record)

    def enqueue(self, line: str) -> None:  # type: ignore[override]  # queues lines, not records
        pending = self.pipeline.queue  # replaced in a forked child
        if len(pending) >= self.pipeline.queue_size:
            self.pipeline.count_drop()
            return
        pending.append(line)

    def close(self) -> None:
        self.pipeline.stop()
        super().close()


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
        # deque.append and popleft are atomic: no lock, no wake-up per line.
        self.queue: deque[str | threading.Event] = deque()
        self.dropped = 0
        self._unreported_drops = 0
        self._drop_lock = threading.Lock()
        self.drop_counter: Any = None  # a prometheus Counter, set by the app's metrics
        self._wake = threading.Event()
        self._stopping = False
        self._thread = self._start_writer()

    def _start_writer(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, name="log-writer", daemon=True)
        thread.start()
        return thread

    def after_fork_in_child(self) -> None:
        self.queue = deque()
        self._drop_lock = threading.Lock()
        self._wake = threading.Event()
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
        self.queue.append(written)
        self._wake.set()
        return written.wait(timeout) if self._thread.is_alive() else False

    def stop(self, timeout: float = 5.0) -> None:
        """Write what is queued, then end the writer."""
        if self._thread.is_alive():
            self._stopping = True
            self._wake.set()
            self._thread.join(timeout)
        if self.file is not None:
            self.file.close()

    def _run(self) -> None:
        while True:
            self._wake.wait(WRITE_INTERVAL)
            self._wake.clear()
            stopping = self._stopping
            lines: list[str] = []
            written: list[threading.Event] = []
            for _ in range(len(self.queue)):
                item = self.queue.popleft()
                if isinstance(item, threading.Event):
                    written.append(item)
                else:
                    lines.append(item)
            lines.extend(self._drop_report())
            self._write(lines)
            for event in written:  # flush() waits for it
                event.set()
            if stopping:
                return

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
    handler = ContextQueueHandler(pipeline)
    handler.setFormatter(pipeline.formatter)
    return handler


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
