"""One run of one check: an HTTP request or a TCP connect, judged and timed.

A probe never raises for anything the target does: every failure becomes a
`fail` result whose `error` says why, and the timeout is enforced here with
asyncio.timeout, so it also bounds DNS lookups and slow bodies.

HTTP runs go straight to an httpx transport with a request built once per check:
`AsyncClient` would merge URLs, headers and cookies, follow its redirect and hook
machinery and build a new request on every run, about a tenth of a probe's CPU.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from sidecar.health.config import HttpCheck, TcpCheck
from sidecar.health.healthjson import (
    MalformedHealthBody,
    Status,
    is_health_json,
    parse_health_body,
)
from sidecar.health.jsonpath import JsonPathError, parse_json_path, resolve

# A health answer is small; a larger body is a misconfigured URL, not something to buffer.
MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class ProbeResult:
    """What one run found. `error` is set whenever the status is not pass."""

    status: Status
    duration: float
    error: str | None = None
    sub_checks: dict[str, list[dict[str, Any]]] | None = None


# What httpx.AsyncClient would send, except `Connection: close`: every run opens a fresh
# connection (see HttpTarget), so the target may as well know it need not keep it.
_DEFAULT_HEADERS = {
    "Accept": "*/*",
    "Accept-Encoding": "gzip, deflate",
    "Connection": "close",
    "User-Agent": f"python-httpx/{httpx.__version__}",
}


@dataclass(frozen=True)
class HttpTarget:
    """What every run of one HTTP check reuses: a transport and the request it sends.

    The transport keeps no idle connection, so each run opens a fresh one, as kubelet
    does: a stale pooled socket never fails a healthy target, and a target that stops
    accepting connections is noticed.
    """

    transport: httpx.AsyncBaseTransport
    request: httpx.Request


def build_request(check: HttpCheck) -> httpx.Request:
    """The request every run of `check` sends (its headers override the defaults)."""
    headers = httpx.Headers(_DEFAULT_HEADERS)
    headers.update(check.headers)
    timeout = check.timeout_seconds
    # httpcore's own timeouts, as AsyncClient would pass them; asyncio.timeout in
    # run_probe bounds the run as a whole.
    extensions = {
        "timeout": {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
    }
    return httpx.Request(check.method, check.url, headers=headers, extensions=extensions)


class _Failed(Exception):
    """A judged failure inside a probe, carrying what the target did report so far."""

    def __init__(self, reason: str, sub_checks: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.sub_checks = sub_checks


async def run_probe(http: HttpTarget | None, check: HttpCheck | TcpCheck) -> ProbeResult:
    """Run `check` once within its timeout (`http` is needed for HTTP checks only)."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(check.timeout_seconds):
            if isinstance(check, HttpCheck):
                assert http is not None, "an HTTP check needs its HttpTarget"
                status, error, sub_checks = await _probe_http(http, check)
            else:
                await _probe_tcp(check)
                status, error, sub_checks = "pass", None, None
    except _Failed as failure:
        status, error, sub_checks = "fail", str(failure), failure.sub_checks
    except (TimeoutError, httpx.TimeoutException):
        status, error, sub_checks = "fail", f"timed out after {check.timeout_seconds:g} s", None
    except (httpx.HTTPError, OSError) as exc:
        status, error, sub_checks = "fail", describe_connect_error(exc, check), None
    return ProbeResult(status, time.perf_counter() - started, error, sub_checks)


def describe_connect_error(exc: BaseException, check: HttpCheck | TcpCheck) -> str:
    """A one-line reason that names DNS failures and refused connections as such."""
    target = _target(check)
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, socket.gaierror):
            return f"DNS lookup failed for {target}: {cause.strerror or cause}"
        if isinstance(cause, ConnectionRefusedError):
            return f"connection refused by {target}"
        cause = cause.__cause__ or cause.__context__
    return f"{type(exc).__name__} talking to {target}: {exc or 'no detail'}"


def _target(check: HttpCheck | TcpCheck) -> str:
    if isinstance(check, TcpCheck):
        return f"{check.host}:{check.port}"
    url = httpx.URL(check.url)
    return f"{url.host}:{url.port or (443 if url.scheme == 'https' else 80)}"


async def _probe_tcp(check: TcpCheck) -> None:
    _, writer = await asyncio.open_connection(check.host, check.port)
    writer.close()
    # The connect is what was asked; a reset while closing does not change the answer.
    with contextlib.suppress(OSError):
        await writer.wait_closed()


async def _probe_http(
    http: HttpTarget, check: HttpCheck
) -> tuple[Status, str | None, dict[str, Any] | None]:
    response = await http.transport.handle_async_request(http.request)
    try:
        body = await _read_capped(response)
    finally:
        await response.aclose()
    status: Status = "pass"
    reason: str | None = None
    sub_checks: dict[str, Any] | None = None
    document: Any = None
    if is_health_json(response.headers.get("content-type")):
        try:
            health = parse_health_body(body)
        except MalformedHealthBody as exc:
            raise _Failed(f"malformed application/health+json: {exc}") from exc
        status, document, sub_checks = health.status, health.document, health.checks or None
        if status != "pass":
            reason = f"target reports {status}" + (f": {health.output}" if health.output else "")
    if not check.accepts(response.status_code):
        expected = ", ".join(str(s) for s in check.expected_status)
        detail = f" ({reason})" if reason else ""
        raise _Failed(f"HTTP {response.status_code}, expected {expected}{detail}", sub_checks)
    if check.json_path is not None:
        _check_json_value(check, body if document is None else None, document, sub_checks)
    if status == "fail":
        raise _Failed(reason or "target reports fail", sub_checks)
    return status, reason, sub_checks


def _check_json_value(
    check: HttpCheck, body: bytes | None, document: Any, sub_checks: dict[str, Any] | None
) -> None:
    assert check.json_path is not None
    if body is not None:
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise _Failed(f"body is not JSON, so {check.json_path} cannot be read ({exc})") from exc
    try:
        value = resolve(document, parse_json_path(check.json_path))
    except JsonPathError as exc:
        raise _Failed(f"{check.json_path} not found in body: {exc}", sub_checks) from exc
    if not _same_json(value, check.expected_value):
        raise _Failed(
            f"{check.json_path} is {value!r}, expected {check.expected_value!r}", sub_checks
        )


def _same_json(actual: Any, expected: Any) -> bool:
    # Python says True == 1; JSON does not, and neither should a health check.
    if isinstance(actual, bool) or isinstance(expected, bool):
        return type(actual) is type(expected) and actual == expected
    return bool(actual == expected)


async def _read_capped(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _Failed(f"body larger than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
