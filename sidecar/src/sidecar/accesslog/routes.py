"""Bounding http_route: paths become configured templates, everything else one value."""

from __future__ import annotations

import re

from sidecar import telemetry_contract as contract
from sidecar.accesslog.config import MAX_ROUTE_LENGTH, RegexRoute, template_regex

# Every path that no configured route matches is recorded under this one route; the same
# value the sample service uses (the contract's), so dashboards and alerts see one value
# whichever source the telemetry came from.
UNMATCHED_ROUTE = contract.UNMATCHED_ROUTE
ROUTE_TOO_LONG = "route_too_long"
MAX_ROUTES = "max_routes"


class RouteMapper:
    """Maps a request to a bounded set of http_route values."""

    def __init__(self, routes: list[str | RegexRoute], max_routes: int) -> None:
        self._patterns = [
            (re.compile(template_regex(route)), route)
            if isinstance(route, str)
            else (re.compile(route.regex), route.route)
            for route in routes
        ]
        self._max_routes = max_routes
        self._record_routes: set[str] = set()

    def for_path(self, target: str) -> str:
        """The route of a raw request target (query string and fragment ignored)."""
        path = target.split("?", 1)[0].split("#", 1)[0]
        for pattern, route in self._patterns:
            if pattern.fullmatch(path):
                return route
        return UNMATCHED_ROUTE

    def for_record_route(self, route: str) -> tuple[str, str | None]:
        """A route template the service logged itself, admitted up to max_routes of them;
        with why it was not admitted, if it was not."""
        if route in self._record_routes:
            return route, None
        if len(route) > MAX_ROUTE_LENGTH:
            return UNMATCHED_ROUTE, ROUTE_TOO_LONG
        if len(self._record_routes) >= self._max_routes:
            return UNMATCHED_ROUTE, MAX_ROUTES
        self._record_routes.add(route)
        return route, None
