"""Removes secrets from the text of error reports: Sentry events and logged exceptions.

The first line of defence is not to put secrets into errors at all (the engine runs with
hide_parameters=True, so SQLAlchemy stops appending bound values to its messages); this is
the second, for what a driver, a library or a future change puts there anyway:
- SQLAlchemy's `[parameters: ...]` (values bound to a failed statement);
- PostgreSQL's `DETAIL:` lines, which quote the failing row or key;
- bearer tokens and JWTs;
- the value of anything named like a password, secret, token, API key or authorization.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

SCRUBBED = "[scrubbed]"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\[parameters: [^\n]*"), f"[parameters: {SCRUBBED}]"),
    (re.compile(r"(DETAIL:\s*)[^\n]*"), rf"\g<1>{SCRUBBED}"),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]+"), rf"\g<1>{SCRUBBED}"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), SCRUBBED),
    (
        re.compile(
            r"""(?ix)
            (["']?[a-z_-]*(?:password|passwd|secret|token|api[_-]?key|authorization)["']?
             \s*[:=]\s*)
            ("[^"]*"|'[^']*'|[^\s,;)}\]]+)
            """
        ),
        rf"\g<1>{SCRUBBED}",
    ),
)


def scrub_text(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def scrub(value: Any) -> Any:
    """`value` with every string in it scrubbed (dicts and lists walked, in place)."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        for key, item in value.items():
            value[key] = scrub(item)
    elif isinstance(value, list):
        value[:] = [scrub(item) for item in value]
    elif isinstance(value, tuple):
        return tuple(scrub(item) for item in value)
    return value


_Event = TypeVar("_Event")


def scrub_sentry_event(event: _Event, hint: object) -> _Event:
    """sentry_sdk `before_send` (an Event) and `before_breadcrumb` (a Breadcrumb): the
    whole of it, exception messages and breadcrumbs included, scrubbed."""
    result: _Event = scrub(event)
    return result
