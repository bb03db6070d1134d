"""Gunicorn settings for the container: `gunicorn -c python:sample_service.gunicorn_conf
sample_service.main:app`. Workers are uvicorn workers, their count is WEB_CONCURRENCY."""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path
from typing import Any

from sample_service.core.settings import load_settings

# One signing key for every worker: a token issued by one must verify on the others. With
# JWT_SECRET unset, the master picks a random key before forking (tokens then last until
# the next restart); set JWT_SECRET to keep them valid across restarts.
if not os.environ.get("JWT_SECRET"):
    os.environ["JWT_SECRET"] = secrets.token_urlsafe(32)
_settings = load_settings()  # invalid settings stop the master here, with a clear message

bind = f"{_settings.host}:{_settings.port}"
workers = _settings.web_concurrency
# uvicorn workers with the request-head limits of core/http_server.py.
worker_class = "sample_service.core.http_server.ServiceWorker"
# The heartbeat files must be on a writable tmpfs, even with a read-only root file system.
worker_tmp_dir = "/dev/shm" if Path("/dev/shm").is_dir() else None  # noqa: S108
accesslog = None  # the app writes its own JSON access record
graceful_timeout = 20
timeout = 60
keepalive = 5


def on_starting(server: Any) -> None:
    """In the master, before any worker: fresh multiprocess metrics, then migrations."""
    from sample_service.core.log_config import configure_logging
    from sample_service.db.migrate import upgrade_to_head

    configure_logging(_settings)
    multiproc_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if multiproc_dir:
        # Counters of a previous run must not leak into this one.
        shutil.rmtree(multiproc_dir, ignore_errors=True)
        Path(multiproc_dir).mkdir(parents=True, exist_ok=True)
    upgrade_to_head(_settings.database_url)


def child_exit(server: Any, worker: Any) -> None:
    """Drop a dead worker's live gauges (its counters and histograms stay in the totals)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]  # unannotated
