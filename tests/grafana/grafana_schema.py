"""Grafana's dashboard schema, through grafana-foundation-sdk's generated types.

The SDK's models are generated from Grafana's own schemas: the classic (v1)
dashboard kind, each panel plugin's options and field config, each datasource's
query. Reading a dashboard into them keeps every field those schemas define and
drops the rest, so a field the round trip loses or changes is one Grafana does not
know: a misspelled option, a field the panel plugin does not have, a query field of
another datasource.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

with warnings.catch_warnings():
    # The SDK flags its v1 types as superseded by dashboard v2, which Grafana 13 does
    # not provision from files; v1 is the schema of the files we provision.
    warnings.simplefilter("ignore", DeprecationWarning)
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.cog.plugins import register_default_plugins
    from grafana_foundation_sdk.models.dashboard import Dashboard

# Panel options and field config are read by plugin type only once the plugins are known.
register_default_plugins()


def unknown_fields(dashboard: dict[str, Any]) -> list[str]:
    """JSON paths of the fields Grafana's schema does not define, or reads as another value."""
    known = json.loads(json.dumps(Dashboard.from_json(dashboard), cls=JSONEncoder))
    out: list[str] = []
    _compare(dashboard, known, "$", out)
    return out


def _compare(ours: Any, known: Any, path: str, out: list[str]) -> None:
    if isinstance(ours, dict) and isinstance(known, dict):
        for key, value in ours.items():
            if key in known:
                _compare(value, known[key], f"{path}.{key}", out)
            else:
                out.append(f"{path}.{key}")
    elif isinstance(ours, list) and isinstance(known, list) and len(ours) == len(known):
        for index, (one, other) in enumerate(zip(ours, known, strict=True)):
            _compare(one, other, f"{path}[{index}]", out)
    elif ours != known:
        out.append(f"{path}: {ours!r} read as {known!r}")
