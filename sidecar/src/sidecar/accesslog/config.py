"""The `access_log:` block of a log source: how to read its lines as requests."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# A longer http_route is not a template; it is recorded as "unmatched".
MAX_ROUTE_LENGTH = 200
# `{name}` matches one path segment; `{name:path}` matches the rest of the path.
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(:path)?\}")


def template_regex(template: str) -> str:
    """The anchored regex a route template stands for; ValueError if it is not one."""
    if not template.startswith("/"):
        raise ValueError(f"route template {template!r} must start with '/'")
    if any("{" in text or "}" in text for text in _PLACEHOLDER.split(template)[::3]):
        raise ValueError(f"route template {template!r} has a brace that is not {{name}}")
    parts: list[str] = []
    position = 0
    for match in _PLACEHOLDER.finditer(template):
        parts.append(re.escape(template[position : match.start()]))
        parts.append(".+" if match.group(2) else "[^/]+")
        position = match.end()
    parts.append(re.escape(template[position:]))
    return "^" + "".join(parts) + "$"


class RegexRoute(BaseModel):
    """Paths matching `regex` (anchored at both ends) are recorded as `route`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    regex: str
    route: Annotated[str, Field(min_length=1)]

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from exc
        return value


class AccessLogConfig(BaseModel):
    """Marks a log source as an access log and bounds the routes it can produce."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # json: one object a line with the contract's access fields (contract/README.md).
    # combined: NCSA common/combined log format with the request time appended (nginx style).
    format: Literal["json", "combined"]
    # Tried in order, first match wins: a template such as "/users/{id}" or {regex, route}.
    routes: list[str | RegexRoute] = []
    # Unit of the appended request-time field: nginx $request_time is seconds, Apache %D is µs.
    request_time_unit: Literal["seconds", "milliseconds", "microseconds"] = "seconds"
    # Distinct http_route values a JSON source may bring in its own http_route field before
    # further new ones are recorded as "unmatched"; protects Prometheus from a service that
    # logs raw paths there.
    max_routes: Annotated[int, Field(ge=1)] = 100
    # Label sets (method, route, status) this source may create in all; later new ones
    # are recorded with http_route="unmatched" (and, if that is new too, as one overflow
    # series), so no log content can grow /metrics without bound.
    max_series: Annotated[int, Field(ge=10)] = 2000

    @field_validator("routes")
    @classmethod
    def _templates(cls, routes: list[str | RegexRoute]) -> list[str | RegexRoute]:
        for route in routes:
            if isinstance(route, str):
                template_regex(route)
            name = route if isinstance(route, str) else route.route
            if len(name) > MAX_ROUTE_LENGTH:
                raise ValueError(f"route {name[:40]!r}... is over {MAX_ROUTE_LENGTH} characters")
        return routes
