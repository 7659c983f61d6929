"""Regenerate the Python code for every `.proto` under `proto/oko/v1/`.

Run from the repository root: ``python -m proto.generate``. Generated files land beside
their `.proto` so imports read ``from proto.oko.v1 import events_pb2``; they are committed,
and CI reruns this and fails on ``git diff`` so the two never drift. The generator versions
are pinned in the ``dev`` extra (grpcio-tools, mypy-protobuf) because their output differs
between releases. mypy-protobuf writes the ``*_pb2_grpc.pyi`` stubs: protoc's own grpc output
is untyped, and without them every stub call and servicer would be unchecked.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto" / "oko" / "v1"


def main() -> int:
    """Regenerate every `*_pb2*.py*` beside its `.proto`; the exit code is protoc's."""
    from grpc_tools import protoc

    grpc_stubs = Path(sys.executable).parent / "protoc-gen-mypy_grpc"
    if not grpc_stubs.exists():
        print(f"{grpc_stubs} not found: install the dev extra (mypy-protobuf)", file=sys.stderr)
        return 1

    include = str(resources.files("grpc_tools") / "_proto")
    sources = sorted(str(p.relative_to(ROOT)) for p in PROTO_DIR.glob("*.proto"))
    for old in PROTO_DIR.glob("*_pb2*.py*"):
        old.unlink()
    args = [
        "grpc_tools.protoc",
        f"-I{ROOT}",
        f"-I{include}",
        f"--python_out={ROOT}",
        f"--pyi_out={ROOT}",
        f"--grpc_python_out={ROOT}",
        f"--plugin=protoc-gen-mypy_grpc={grpc_stubs}",
        f"--mypy_grpc_out={ROOT}",
        *sources,
    ]
    code = protoc.main(args)
    if code != 0:
        print(f"protoc failed with exit code {code}", file=sys.stderr)
        return int(code)
    print(f"generated {len(sources)} proto file(s) into {PROTO_DIR.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
