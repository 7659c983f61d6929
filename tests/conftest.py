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


@pytest.fixture(scope="session", autouse=True)
def _test_kernels() -> Iterator[None]:
    """Apply OKO_TEST_BACKEND / OKO_TEST_PRECISION for the whole session (unset: no change)."""
    backend = os.environ.get("OKO_TEST_BACKEND", "").strip()
    precision = os.environ.get("OKO_TEST_PRECISION", "").strip()
    resolve_original, best_original = inference_backend.resolve_backend, Manifest.best
    if backend:
        resolve_original(backend)  # an unknown or uninstalled backend fails the run, by name

    def resolve(name: str) -> str:
        return resolve_original(backend if name == "auto" else name)

    def best(self: Manifest, name: str, wanted: str | None = None) -> ModelSpec:
        return best_original(self, name, wanted or precision)

    with pytest.MonkeyPatch.context() as patch:
        if backend:
            patch.setattr(inference_backend, "resolve_backend", resolve)
        if precision:
            patch.setattr(Manifest, "best", best)
        yield
