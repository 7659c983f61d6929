"""Suite-wide switch to run every in-process model on a chosen backend.

Real-footage tests must hold on any CPU and backend (INT8 scores differ in the 3rd decimal
between AVX2, AVX-512 VNNI and OpenVINO's kernels). `OKO_TEST_BACKEND=openvino` (or
`onnxruntime`) makes every `auto` load in this process take that backend instead of the
CPU-vendor default, so the same tests exercise the other code path on this machine. It is
read here only: library code never sees it, and boxes started as subprocesses keep `auto`.
`OKO_TEST_PRECISION=fp32` likewise makes every load that asks for no precision (INT8 where
shipped) take FP32: the detector's unquantised scores, a third set of kernels.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from agent.inference import backend as inference_backend
from agent.inference.manifest import Manifest, ModelSpec

_SWITCH = "OKO_TEST_BACKEND"
_PRECISION = "OKO_TEST_PRECISION"


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


@pytest.fixture(scope="session", autouse=True)
def _test_precision() -> Iterator[None]:
    chosen = os.environ.get(_PRECISION, "").strip()
    if not chosen:
        yield
        return
    original = Manifest.best

    def best(self: Manifest, name: str, precision: str | None = None) -> ModelSpec:
        return original(self, name, precision or chosen)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Manifest, "best", best)
        yield
