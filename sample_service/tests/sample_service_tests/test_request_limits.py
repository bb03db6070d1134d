"""Bounds on what a request can make the service hold: the body (413 before parsing), the
request head (431 from the server, before the app), and the 422 answer (at most 20
errors, long field names cut)."""

from __future__ import annotations

import contextlib
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from fastapi.testclient import TestClient

from sample_service_tests.test_processes import GUNICORN, _running, _service_env
from tests.support import free_port, wait_http

MIB = 1024 * 1024


def _register_body(size: int) -> bytes:
    """A registration body of exactly `size` bytes (its password far too long)."""
    template = '{"email":"a@example.com","full_name":"A","password":"%s"}'
    body = (template % ("x" * (size - len(template) + 2))).encode()
    assert len(body) == size
    return body


def test_a_body_over_the_limit_is_a_413_before_parsing(client: TestClient) -> None:
    body = _register_body(MIB + 1)
    response = client.post(
        "/api/v1/users", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    # Starlette's body limit answers in plain text (documented so in the OpenAPI schema).
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "Content Too Large"
    assert len(response.headers["X-Request-ID"]) == 32
    # Just under the limit, the body is parsed and validated (the password is too long).
    fits = client.post(
        "/api/v1/users",
        content=_register_body(MIB - 100),
        headers={"Content-Type": "application/json"},
    )
    assert fits.status_code == 422


def test_a_chunked_body_is_counted_as_it_arrives(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_body_bytes=1000)

    def chunks() -> Iterator[bytes]:  # no Content-Length: Transfer-Encoding: chunked
        yield b'{"name": "'
        for _ in range(50):
            yield b"y" * 100
        yield b'", "price": "1"}'

    response = client.post(
        "/api/v1/items", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


def test_a_422_lists_at_most_20_errors(client: TestClient) -> None:
    body = {"email": "a@example.com", "full_name": "A", "password": "long enough"}
    body.update({f"unknown_{n}": n for n in range(10_000)})
    response = client.post("/api/v1/users", json=body)
    assert response.status_code == 422
    answer = response.json()
    assert len(answer["detail"]) == 20
    assert answer["errors_omitted"] == 10_000 - 20
    assert len(response.content) < 5_000


def test_a_long_key_is_cut_in_the_422(client: TestClient) -> None:
    key = "k" * 500_000
    response = client.post(
        "/api/v1/users",
        json={"email": "a@example.com", "full_name": "A", "password": "long enough", key: 1},
    )
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["field"].startswith("kkk")
    assert len(error["field"]) <= 100
    assert len(response.content) < 1_000


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, psutil.Process]]:
    """`python -m sample_service` (uvicorn with the service's bounded protocol)."""
    tmp_path = tmp_path_factory.mktemp("served")
    port = free_port()
    env = _service_env(tmp_path, port, MAX_HEADER_COUNT="100", MAX_HEADER_BYTES="16384")
    with _running([sys.executable, "-m", "sample_service"], env, tmp_path) as process:
        wait_http(f"http://127.0.0.1:{port}/health/live")
        yield port, psutil.Process(process.pid)


def _raw(port: int, head: bytes, body: bytes = b"") -> bytes:
    """Send a raw request; the status line of the answer (the server may close early)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        # Refused before all was sent: the answer tells.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(head + body)
        answer = b""
        try:
            while b"\r\n" not in answer:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                answer += chunk
        except ConnectionResetError:
            pass
    return answer.split(b"\r\n", 1)[0]


def _get(headers: list[bytes]) -> bytes:
    return (
        b"GET /api/v1/items HTTP/1.1\r\nHost: x\r\n"
        + b"".join(h + b"\r\n" for h in headers)
        + b"\r\n"
    )


def test_within_the_limits_a_request_is_served(served: tuple[int, psutil.Process]) -> None:
    port, _ = served
    headers = [b"X-H%d: v" % n for n in range(98)]  # with Host: 99 fields
    assert _raw(port, _get(headers)) == b"HTTP/1.1 200 OK"


def test_too_many_header_fields_are_a_431(served: tuple[int, psutil.Process]) -> None:
    port, _ = served
    assert _raw(port, _get([b"X-H%d: v" % n for n in range(101)])) == (
        b"HTTP/1.1 431 Request Header Fields Too Large"
    )
    assert _raw(port, _get([b"X-H%d: v" % n for n in range(50_000)])).startswith(b"HTTP/1.1 431")


def test_a_head_over_the_size_limit_is_a_431(served: tuple[int, psutil.Process]) -> None:
    port, process = served
    assert _raw(port, _get([b"X-Big: " + b"v" * 20_000])).startswith(b"HTTP/1.1 431")
    before = process.memory_info().rss
    # 10 MB in one header value: refused while it arrives, never held whole.
    assert _raw(port, _get([b"X-Huge: " + b"v" * 10_000_000])).startswith(b"HTTP/1.1 431")
    assert process.memory_info().rss - before < 5 * MIB
    long_url = b"GET /api/v1/items?" + b"q" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    assert _raw(port, long_url).startswith(b"HTTP/1.1 431")
    # The server goes on serving.
    assert httpx.get(f"http://127.0.0.1:{port}/api/v1/items").status_code == 200


def test_gunicorn_workers_use_the_bounded_protocol(tmp_path: Path) -> None:
    port = free_port()
    env = _service_env(tmp_path, port, WEB_CONCURRENCY="1")
    with _running(GUNICORN, env, tmp_path):
        wait_http(f"http://127.0.0.1:{port}/health/live")
        assert _raw(port, _get([b"X-H%d: v" % n for n in range(101)])).startswith(b"HTTP/1.1 431")
        assert _raw(port, _get([])) == b"HTTP/1.1 200 OK"
