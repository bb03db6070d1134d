"""A real HTTP/1.1 target on loopback whose answers, latency and hanging each test sets."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest


@dataclass
class Behaviour:
    """How the target answers one path."""

    status: int = 200
    body: bytes = b"ok"
    content_type: str = "text/plain"
    delay: float = 0.0
    hang: bool = False  # accept the request, never answer


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)


class TargetServer:
    """Speaks enough HTTP/1.1 (keep-alive, Content-Length) for httpx; runs on the test's loop."""

    def __init__(self) -> None:
        self.behaviours: dict[str, Behaviour] = {}
        self.requests: list[Request] = []
        self.connections = 0  # accepted so far: a probe reusing one would not add to it
        self.port = 0
        self._server: asyncio.Server | None = None
        self._release = asyncio.Event()

    def answer(self, path: str, **behaviour: object) -> str:
        """Set how `path` answers from now on; returns its URL."""
        self.behaviours[path] = Behaviour(**behaviour)  # type: ignore[arg-type]
        return self.url(path)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def count(self, path: str) -> int:
        return sum(1 for request in self.requests if request.path == path)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self._release.set()  # lets hanging handlers return so the server can close
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while request_line := await reader.readline():
                method, path, _ = request_line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests.append(Request(method, path, headers))
                behaviour = self.behaviours.get(path, Behaviour(404, b"no such path"))
                if behaviour.hang:
                    await self._release.wait()
                    return
                if behaviour.delay:
                    await asyncio.sleep(behaviour.delay)
                body = b"" if method == "HEAD" else behaviour.body
                writer.write(
                    f"HTTP/1.1 {behaviour.status} X\r\nContent-Type: {behaviour.content_type}\r\n"
                    f"Content-Length: {len(behaviour.body)}\r\n\r\n".encode("latin-1")
                    + body
                )
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


@pytest.fixture
async def target() -> AsyncIterator[TargetServer]:
    server = TargetServer()
    await server.start()
    yield server
    await server.stop()
