"""The HTTP server's request-head limits: header count and size, enforced while parsing.

uvicorn's httptools protocol has no limit on the request line or the headers (a 10 MB
header and 50,000 headers were accepted), and gunicorn's `limit_request_*` settings do
not reach uvicorn workers. BoundedHttpToolsProtocol answers 431 and closes the
connection as soon as a request head has more than `max_header_count` header fields, or
its request line and fields exceed `max_header_bytes`; the app never sees the request.
The byte count is exact in the parser's callbacks; so that a single endless header
cannot grow inside the parser before its callback fires, a head still incomplete after
more than `max_header_bytes` received is refused too (memory: at most the limit plus one
read, 256 KiB).

`python -m sample_service` passes `bounded_protocol(...)` to uvicorn; gunicorn uses
ServiceWorker (gunicorn_conf.py).
"""

from __future__ import annotations

import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn_worker import UvicornWorker  # type: ignore[import-untyped]  # ships no types

logger = logging.getLogger("sample_service.http")

_TOO_LARGE = b"Request Header Fields Too Large"


class _HeadTooLargeError(Exception):
    """Raised in a parser callback to stop parsing; answered with 431."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    max_header_count = 100
    max_header_bytes = 16 * 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reading_head = True
        self._head_received = 0  # bytes received while a head is incomplete (coarse)
        self._head_bytes = 0  # exact size of the current head's line and fields
        self._head_fields = 0
        self._too_large = False

    def data_received(self, data: bytes) -> None:
        if self._too_large:
            return
        if self._reading_head:
            if self._head_received > self.max_header_bytes:
                self._refuse("bytes")
                return
            self._head_received += len(data)
        super().data_received(data)

    def on_message_begin(self) -> None:
        self._reading_head = True
        self._head_bytes = 0
        self._head_fields = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count(len(url), fields=0)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value), fields=1)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._head_received = 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._reading_head = True
        super().on_message_complete()

    def _count(self, size: int, fields: int) -> None:
        self._head_bytes += size
        self._head_fields += fields
        if self._head_fields > self.max_header_count:
            self._too_large = True
            raise _HeadTooLargeError("fields")
        if self._head_bytes > self.max_header_bytes:
            self._too_large = True
            raise _HeadTooLargeError("bytes")

    def send_400_response(self, msg: str) -> None:
        # uvicorn answers any exception raised in a parser callback with a 400; ours are 431.
        if self._too_large:
            self._refuse("fields" if self._head_fields > self.max_header_count else "bytes")
        else:
            super().send_400_response(msg)

    def _refuse(self, what: str) -> None:
        self._too_large = True
        logger.warning(
            "request head over the limit (%s): answered 431",
            what,
            extra={
                "max_header_count": self.max_header_count,
                "max_header_bytes": self.max_header_bytes,
            },
        )
        if self.cycle is None or self.cycle.response_complete:
            self.transport.write(
                b"".join(
                    [
                        STATUS_LINE[431],
                        b"content-type: text/plain; charset=utf-8\r\n",
                        b"content-length: %d\r\n" % len(_TOO_LARGE),
                        b"connection: close\r\n\r\n",
                        _TOO_LARGE,
                    ]
                )
            )
        self.transport.close()


def bounded_protocol(max_header_count: int, max_header_bytes: int) -> type[HttpToolsProtocol]:
    """The protocol class with these limits, for uvicorn's `http=`."""
    return type(
        "BoundedHttpToolsProtocol",
        (BoundedHttpToolsProtocol,),
        {"max_header_count": max_header_count, "max_header_bytes": max_header_bytes},
    )


class ServiceWorker(UvicornWorker):  # type: ignore[misc]  # UvicornWorker is untyped (Any)
    """gunicorn's uvicorn worker serving with the bounded protocol (limits from settings)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from sample_service.core.settings import get_settings

        settings = get_settings()
        self.CONFIG_KWARGS = {
            "loop": "auto",
            "http": bounded_protocol(settings.max_header_count, settings.max_header_bytes),
        }
        super().__init__(*args, **kwargs)
