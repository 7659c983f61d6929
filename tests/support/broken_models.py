"""Deliberately broken, yet valid, model variants for rollout and delivery tests.

`zeroed_outputs` makes a real ONNX detector whose every output is multiplied by zero: the
graph loads on both backends, has the original input, output names and shapes, runs at the
original speed, and detects nothing. It is what a bad retraining or a broken export looks
like from a box: no crash, no error, just a model that suddenly sees nothing, which only a
detection-quality gate can catch.

`reshaped_input` makes a valid ONNX file whose input is declared with another size than its
manifest entry says (a "wrong-shape" artifact a box must refuse before running it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper


def zeroed_outputs(src: Path, dst: Path) -> Path:
    """Write `src` with each graph output multiplied by 0 to `dst`; returns `dst`."""
    model = onnx.load(str(src))
    graph = model.graph
    zero = numpy_helper.from_array(np.zeros((), np.float32), name="oko_broken_zero")
    graph.initializer.append(zero)
    for output in graph.output:
        raw = f"{output.name}__before_zero"
        for node in graph.node:
            node.output[:] = [raw if name == output.name else name for name in node.output]
        graph.node.append(
            helper.make_node("Mul", [raw, zero.name], [output.name], name=f"zero_{output.name}")
        )
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))
    return dst


def reshaped_input(src: Path, dst: Path, height: int, width: int) -> Path:
    """Write `src` with its image input declared as N x C x `height` x `width`."""
    model = onnx.load(str(src))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_value = height
    dims[3].dim_value = width
    onnx.save(model, str(dst))
    return dst


def distinct_copy(src: Path, dst: Path, note: str) -> Path:
    """`src` with another doc string: the same model, other bytes (another sha256)."""
    model = onnx.load(str(src))
    model.doc_string = note
    onnx.save(model, str(dst))
    return dst
