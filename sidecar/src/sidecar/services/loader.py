"""Read and validate the services file; every error names the service and the field.

The file is hostile input as far as this loader is concerned: it is bounded in
size, must be UTF-8 YAML without aliases (an alias bomb would make validation
walk billions of nodes) or repeated keys (the second `name:` would silently
win), and no string in it may carry a quote or a line break. Anything else
wrong is a pydantic error, reworded as `services[1] (orders-api): health[0].url: ...`.
A caller gets either a valid `ServicesFile` or one `ServicesFileError`, never
a traceback.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from sidecar.services.model import ServicesFile

MAX_BYTES = 1024 * 1024
# Quotes break out of the PromQL, YAML and label strings the values end up in;
# line breaks (including the Unicode ones YAML and browsers honour) and other
# control characters forge log lines and headers.
FORBIDDEN = re.compile(r"[\"'`\x00-\x1f\x7f\x85\u2028\u2029]")
_FORBIDDEN_NAMES = {'"': "a double quote", "'": "a single quote", "`": "a backquote"}
# Pydantic's wording for the errors a person editing the file makes most.
_MESSAGES = {
    "extra_forbidden": "unknown field (a typo, or a field of another block?)",
    "missing": "required field is missing",
}
_NAME_RULE = "letters, digits, '.', '_' and '-' only, at most 63, starting with a letter or digit"


class ServicesFileError(ValueError):
    """The services file cannot be used; the message names where and why."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases and repeated mapping keys."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            # The pure-Python parser of SafeLoader marks its events with yaml.Mark.
            mark: yaml.Mark | None = self.peek_event().start_mark  # type: ignore[no-untyped-call]  # unannotated in types-PyYAML
            raise yaml.constructor.ConstructorError(
                None, None, "aliases (*name) are not allowed in the services file", mark
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} appears twice in one mapping", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _UniqueKeyLoader.construct_mapping
)


def _describe_character(text: str) -> str:
    char = FORBIDDEN.search(text)
    assert char is not None
    found = char.group()
    return _FORBIDDEN_NAMES.get(found, f"the control character U+{ord(found):04X}")


def _strings(value: Any, where: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], str]]:
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key, (*where, key))
            yield from _strings(item, (*where, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*where, index))


def _service_label(raw: Any, index: int) -> str:
    services = raw.get("services") if isinstance(raw, dict) else None
    entry = services[index] if isinstance(services, list) and index < len(services) else None
    name = entry.get("name") if isinstance(entry, dict) else None
    if isinstance(name, str) and name and not FORBIDDEN.search(name) and len(name) <= 63:
        return f"services[{index}] ({name})"
    return f"services[{index}]"


def _location(raw: Any, loc: tuple[Any, ...]) -> str:
    """`services[1] (orders-api): logs[0].paths` for a pydantic/walker location."""
    if len(loc) >= 2 and loc[0] == "services" and isinstance(loc[1], int):
        head, rest = _service_label(raw, loc[1]), loc[2:]
    else:
        head, rest = "", loc
    field = ""
    for part in rest:
        field += f"[{part}]" if isinstance(part, int) else f".{part}" if field else str(part)
    if head and field:
        return f"{head}: {field}"
    return head or field or "(top level)"


def parse(text: str, origin: str = "services file") -> ServicesFile:
    """Validate the text of a services file; ServicesFileError names what is wrong."""
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ServicesFileError(f"{origin}: not valid YAML: {exc}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ServicesFileError(f"{origin}: the top level must be a mapping with `services:`")
    for where, value in _strings(raw, ()):
        if FORBIDDEN.search(value):
            raise ServicesFileError(
                f"{origin}: {_location(raw, where)}: contains {_describe_character(value)}; "
                "quotes and line breaks are not allowed in the services file"
            )
    try:
        return ServicesFile.model_validate(raw)
    except ValidationError as exc:
        lines = [f"{origin}: invalid"]
        for error in exc.errors(include_url=False):
            # Union members add their type name to the location; it only adds noise.
            loc = tuple(part for part in error["loc"] if part not in ("str", "RegexRoute"))
            message = _MESSAGES.get(error["type"]) or str(error["msg"])
            if error["type"] == "string_pattern_mismatch":
                message = f"{error['input']!r} is not a valid name ({_NAME_RULE})"
            message = message.removeprefix("Value error, ")
            lines.append(f"  {_location(raw, loc)}: {message}")
        raise ServicesFileError("\n".join(lines)) from None


def read(path: Path) -> bytes:
    """The bytes of the services file at `path` (at most MAX_BYTES)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ServicesFileError(f"{path}: cannot read: {exc.strerror}") from None
    if len(data) > MAX_BYTES:
        raise ServicesFileError(f"{path}: larger than {MAX_BYTES} bytes")
    return data


def parse_bytes(data: bytes, origin: str) -> ServicesFile:
    """Validate the bytes of a services file (as `read` returns them)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ServicesFileError(f"{origin}: not UTF-8 (byte {exc.start})") from None
    return parse(text, origin)


def load(path: Path) -> ServicesFile:
    """Read and validate the services file at `path`."""
    return parse_bytes(read(path), str(path))
