"""Suite-wide switch to run every in-process model on a chosen backend.

Real-footage tests must hold on any CPU and backend (INT8 scores differ in the 3rd decimal
between AVX2, AVX-512 VNNI and OpenVINO's kernels). `OKO_TEST_BACKEND=openvino` (or
`onnxruntime`) makes every `auto` load in this process take that backend instead of the
CPU-vendor default, so the same tests exercise the other code path on this machine. It is
read here only: library code never sees it, and boxes started as subprocesses keep `auto`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from agent.inference import backend as inference_backend

_SWITCH = "OKO_TEST_BACKEND"


@pytest.fixture(scope="session", autouse=True)
def _test_backend() -> Iterator[None]:
    chosen = os.environ.get(_SWITCH, "").strip()
    if not chosen:
        yield
        return
    original = inference_backend.resolve_backend
    original(chosen)  # an unknown or uninstalled backend fails the run here, by name

    def resolve(name: str) -> str:
        return original(chosen if name == "auto" else name)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(inference_backend, "resolve_backend", resolve)
        yield
