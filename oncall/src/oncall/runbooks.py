"""docs/runbooks/ as HTML: one page per alert at /runbooks/<Alert>.md, an index at /runbooks/.

Only regular files directly in the directory whose names look like
`<Name>.md` are served, looked up by listing the directory, so no request
path can reach another file (no traversal, no symlink followed). Markdown is
rendered with markdown-it-py (CommonMark plus tables), raw HTML off and link
URLs validated, so a runbook cannot inject script. A page is rendered on the
first request after its file changed and then served from memory.
"""

from __future__ import annotations

import html
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from markdown_it import MarkdownIt

from oncall.pages import page

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,100}\.md$")
MAX_BYTES = 1024 * 1024
INDEX = "README.md"


@dataclass(frozen=True)
class _Rendered:
    key: tuple[int, int, int]
    body: str


class Runbooks:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        # js-default: CommonMark + tables and strikethrough, html off, no linkify.
        self._markdown = MarkdownIt("js-default")
        self._cache: dict[str, _Rendered] = {}

    def names(self) -> list[str]:
        """The runbook file names served, sorted (the index page not among them)."""
        try:
            entries = list(self.directory.iterdir())
        except OSError:
            return []
        return sorted(e.name for e in entries if NAME.match(e.name) and self._regular(e))

    def readable(self) -> bool:
        return bool(self.names())

    @staticmethod
    def _regular(path: Path) -> bool:
        try:
            info = path.lstat()
        except OSError:
            return False
        return stat.S_ISREG(info.st_mode) and info.st_size <= MAX_BYTES

    def render(self, name: str) -> str | None:
        """The HTML page of runbook `name` (e.g. "ServiceDown.md"), or None if there is none."""
        if not NAME.match(name) or name not in self.names():
            return None
        path = self.directory / name
        try:
            info = path.lstat()
            key = (info.st_ino, info.st_size, info.st_mtime_ns)
            cached = self._cache.get(name)
            if cached is not None and cached.key == key:
                return cached.body
            text = path.read_bytes()[:MAX_BYTES].decode("utf-8", errors="replace")
        except OSError:
            return None
        title = next(
            (line.lstrip("# ").strip() for line in text.splitlines() if line.startswith("# ")),
            name.removesuffix(".md"),
        )
        body = self._markdown.render(text)
        if name == INDEX:
            links = "".join(
                f'<li><a href="{html.escape(n)}">{html.escape(n.removesuffix(".md"))}</a></li>'
                for n in self.names()
                if n != INDEX
            )
            body += f"<h2>All runbooks</h2><ul>{links}</ul>"
        rendered = page(title, body, nav='<a href="/">Alert inbox</a> · <a href="./">Runbooks</a>')
        self._cache[name] = _Rendered(key, rendered)
        return rendered
