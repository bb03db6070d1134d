"""A small JSON path subset for health checks: `$.a.b[0]['c d']`.

Only member and index steps: enough to point at one value in a health body,
and simple enough to validate completely when the config is loaded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_\-]*)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")

Step = str | int


class JsonPathError(ValueError):
    """The path does not resolve in the given document."""


def parse_json_path(path: str) -> tuple[Step, ...]:
    """The steps of `path`; ValueError says where the syntax breaks."""
    if not path.startswith("$"):
        raise ValueError("a JSON path starts with '$', e.g. $.status or $.checks[0].status")
    steps: list[Step] = []
    position = 1
    while position < len(path):
        match = _STEP.match(path, position)
        if match is None:
            raise ValueError(f"unexpected {path[position:]!r} at offset {position} in {path!r}")
        name, index, quoted, double_quoted = match.groups()
        if index is not None:
            steps.append(int(index))
        else:
            steps.append(next(s for s in (name, quoted, double_quoted) if s is not None))
        position = match.end()
    return tuple(steps)


def resolve(document: Any, steps: tuple[Step, ...]) -> Any:
    """The value at `steps` inside `document`; JsonPathError names the missing step."""
    value = document
    for depth, step in enumerate(steps):
        if isinstance(step, int):
            if isinstance(value, Sequence) and not isinstance(value, str) and step < len(value):
                value = value[step]
                continue
        elif isinstance(value, Mapping) and step in value:
            value = value[step]
            continue
        raise JsonPathError(f"no {step!r} at step {depth + 1}")
    return value
