"""Push request bodies: protobuf + snappy (Loki's native push) or JSON + gzip."""

from __future__ import annotations

import gzip
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import cramjam
import orjson

from sidecar.shipping.proto import push_pb2

# (timestamp ns, line, structured metadata or None, ...): extra items are ignored.
EntryData = tuple[Any, ...]
Streams = Sequence[tuple[str, dict[str, str], Sequence[EntryData]]]


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
