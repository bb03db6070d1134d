"""Push request bodies: protobuf + snappy (Loki's native push) or JSON + gzip.

Guarantee of `encode_isolating`: encoding cannot stall a source. If a batch does not
encode, each entry is tried on its own; the ones that fail are returned apart (to be
counted as dropped and acknowledged) and the rest are encoded.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import cramjam
import orjson

from sidecar.shipping.entries import Metadata
from sidecar.shipping.proto import push_pb2

# (timestamp ns, line, structured metadata or None, ...): extra items are ignored.
EntryData = tuple[int, str, Metadata | None, *tuple[object, ...]]
Streams = Sequence[tuple[str, dict[str, str], Sequence[EntryData]]]
E = TypeVar("E", bound=EntryData)


@dataclass(frozen=True, slots=True)
class Body:
    content: bytes
    content_type: str
    content_encoding: str | None


def encode_protobuf(streams: Streams) -> Body:
    request = push_pb2.PushRequest()
    for rendered, _labels, entries in streams:
        stream = request.streams.add()
        stream.labels = rendered
        add = stream.entries.add
        for item in entries:
            ts, line, meta = item[0], item[1], item[2]
            entry = add(line=line)
            stamp = entry.timestamp
            stamp.seconds, stamp.nanos = divmod(ts, 1_000_000_000)
            if meta:
                pairs = entry.structuredMetadata
                for name, value in meta:
                    pairs.add(name=name, value=value)
    # Loki expects snappy's block format, not the framed stream format.
    content = bytes(cramjam.snappy.compress_raw(request.SerializeToString()))
    return Body(content, "application/x-protobuf", None)


def encode_json(streams: Streams) -> Body:
    payload = {
        "streams": [
            {
                "stream": labels,
                "values": [
                    [str(item[0]), item[1], dict(item[2])] if item[2] else [str(item[0]), item[1]]
                    for item in entries
                ],
            }
            for _rendered, labels, entries in streams
        ]
    }
    content = gzip.compress(orjson.dumps(payload), compresslevel=1)
    return Body(content, "application/json", "gzip")


ENCODERS: dict[str, Callable[[Streams], Body]] = {
    "protobuf": encode_protobuf,
    "json": encode_json,
}


def encode_isolating(
    encode: Callable[[Streams], Body], streams: Sequence[tuple[str, dict[str, str], Sequence[E]]]
) -> tuple[Body | None, list[E], list[E], Exception | None]:
    """The body, the entries in it, the entries that could not be encoded, and the
    first error (None when the batch encoded whole)."""
    try:
        return encode(streams), [e for _, _, entries in streams for e in entries], [], None
    except Exception as exc:  # an entry the encoder cannot take: find it, keep the rest
        first_error = exc
    good_streams: list[tuple[str, dict[str, str], list[E]]] = []
    good: list[E] = []
    bad: list[E] = []
    for rendered, labels, entries in streams:
        kept: list[E] = []
        for entry in entries:
            try:
                encode([(rendered, labels, [entry])])
            except Exception:
                bad.append(entry)
            else:
                kept.append(entry)
        if kept:
            good_streams.append((rendered, labels, kept))
            good.extend(kept)
    return (encode(good_streams) if good_streams else None), good, bad, first_error
