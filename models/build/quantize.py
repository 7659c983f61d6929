"""Static INT8 quantisation (QDQ, per-channel weights) calibrated on real images.

QDQ keeps the graph readable by both ONNX Runtime and OpenVINO. Activations are unsigned and
weights signed with full range, the combination ONNX Runtime recommends for x86 CPUs with
VNNI, which edge boxes of this class have. `agreement` measures what INT8 costs against FP32
on held-out real inputs, so the build can decide to ship FP32 instead.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import (
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from models.build.calibration import TensorReader
from models.build.recipes import Recipe

log = logging.getLogger(__name__)

METHOD = "onnxruntime static QDQ, per-channel int8 weights, uint8 activations"
_METHODS = {
    "minmax": CalibrationMethod.MinMax,
    "percentile": CalibrationMethod.Percentile,
    "entropy": CalibrationMethod.Entropy,
}


def quantize(fp32: Path, dst: Path, recipe: Recipe, calibration: list[np.ndarray]) -> Path:
    """Write the INT8 twin of ``fp32`` calibrated on ``calibration`` (each (1, ...) float32)."""
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(dst),
            TensorReader(recipe.input.name, calibration),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            reduce_range=False,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=_METHODS[recipe.calibrate_method],
            nodes_to_exclude=list(recipe.exclude_from_quant) or None,
        )
    log.info("quantised %s -> %s", fp32.name, dst.name)
    return dst


@dataclass(frozen=True)
class Agreement:
    """How closely INT8 outputs follow FP32 on held-out real inputs, per output."""

    cosine: dict[str, float]
    max_abs: dict[str, float]

    @property
    def worst_cosine(self) -> float:
        """The lowest cosine over outputs: the figure compared with the recipe's minimum."""
        return min(self.cosine.values())


def agreement(fp32: Path, int8: Path, recipe: Recipe, inputs: list[np.ndarray]) -> Agreement:
    """Cosine similarity of flattened outputs (worst over inputs) and their max |difference|."""
    ref = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"])
    low = ort.InferenceSession(str(int8), providers=["CPUExecutionProvider"])
    cosine = dict.fromkeys(recipe.output_names, 1.0)
    max_abs = dict.fromkeys(recipe.output_names, 0.0)
    for x in inputs:
        feeds = {recipe.input.name: x}
        for name, a, b in zip(
            recipe.output_names, ref.run(None, feeds), low.run(None, feeds), strict=True
        ):
            a64, b64 = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
            denom = float(np.linalg.norm(a64) * np.linalg.norm(b64)) or 1.0
            cosine[name] = min(cosine[name], float(a64 @ b64) / denom)
            max_abs[name] = max(max_abs[name], float(np.abs(a64 - b64).max()))
    return Agreement(cosine=cosine, max_abs=max_abs)
