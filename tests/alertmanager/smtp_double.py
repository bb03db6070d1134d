"""Stands in for an SMTP relay (RFC 5321, no TLS, no AUTH) that records each message.

It answers the commands a mail client sends for one delivery (EHLO/HELO, MAIL,
RCPT, DATA, RSET, NOOP, QUIT) with the standard reply codes, un-dot-stuffs the
DATA section and keeps the raw message; anything else gets 502.
"""

from __future__ import annotations

import socketserver
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def _reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self._reply("220 smtp-double ESMTP")
        sender, recipients = "", []
        while raw := self.rfile.readline():
            command = raw.decode(errors="replace").strip()
            verb = command.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self._reply("250-smtp-double" if verb == "EHLO" else "250 smtp-double")
                if verb == "EHLO":
                    self._reply("250 8BITMIME")
            elif verb == "MAIL":
                sender, recipients = command[10:].strip("<> "), []
                self._reply("250 OK")
            elif verb == "RCPT":
                recipients.append(command[8:].strip("<> "))
                self._reply("250 OK")
            elif verb == "DATA":
                self._reply("354 End data with <CR><LF>.<CR><LF>")
                lines = []
                while (line := self.rfile.readline()) not in (b".\r\n", b".\n", b""):
                    lines.append(line[1:] if line.startswith(b"..") else line)
                self.server.record(sender, recipients, b"".join(lines))
                self._reply("250 OK queued")
            elif verb in ("RSET", "NOOP"):
                self._reply("250 OK")
            elif verb == "QUIT":
                self._reply("221 Bye")
                return
            else:
                self._reply("502 Command not implemented")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.messages: list[dict[str, Any]] = []

    def record(self, sender: str, recipients: list[str], data: bytes) -> None:
        with self.lock:
            self.messages.append({"from": sender, "to": recipients, "data": data})


class SmtpDouble:
    """`with SmtpDouble() as smtp: ... smtp.address ... smtp.messages()`."""

    def __init__(self) -> None:
        self._server = _Server()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def messages(self) -> list[EmailMessage]:
        with self._server.lock:
            raw = [message["data"] for message in self._server.messages]
        return [message_from_bytes(data, policy=policy.default) for data in raw]

    def __enter__(self) -> SmtpDouble:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
