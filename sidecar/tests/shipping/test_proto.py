"""The committed push_pb2.py is what grpcio-tools generates from the committed push.proto."""

from __future__ import annotations

from pathlib import Path

from grpc_tools import protoc

PROTO_DIR = Path(__file__).resolve().parents[2] / "src" / "sidecar" / "shipping" / "proto"


def test_generated_code_matches_the_proto(tmp_path):
    status = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{PROTO_DIR}",
            f"-I{Path(protoc.__file__).parent / '_proto'}",
            f"--python_out={tmp_path}",
            f"--pyi_out={tmp_path}",
            str(PROTO_DIR / "push.proto"),
        ]
    )
    assert status == 0
    for name in ("push_pb2.py", "push_pb2.pyi"):
        assert (tmp_path / name).read_text() == (PROTO_DIR / name).read_text(), name
