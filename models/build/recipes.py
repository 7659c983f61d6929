"""What to build: one `Recipe` per model, the single place its facts are written down.

A recipe joins what the upstream graph is (file, tensor names, origin, licence) with what the
agent needs to use it (normalisation, decoder parameters, labels, thresholds). The manifest is
generated from these, so the runtime never hard-codes a model fact of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from models.build.labels import COCO80


@dataclass(frozen=True)
class InputSpec:
    """The model input as the agent must feed it: x = (pixel - mean) / std per channel."""

    name: str
    shape: tuple[int, ...]
    layout: str
    color: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    resize: str


@dataclass(frozen=True)
class Recipe:
    """How to turn one upstream TF.js graph into shipped ONNX files and a manifest entry.

    ``outputs`` maps upstream output tensor names to our names, in the order decoders expect.
    ``precisions`` lists what ships; INT8 is dropped where it measurably loses accuracy.
    """

    name: str
    task: str
    upstream_file: str
    project: str
    licence: str
    input: InputSpec
    upstream_input: str
    outputs: tuple[tuple[str, str], ...]
    decoder: dict[str, Any]
    labels: tuple[str, ...]
    defaults: dict[str, float]
    calibration: str
    precisions: tuple[str, ...] = ("fp32", "int8")
    version: str = "1.0.0"
    dynamic_batch: bool = True
    notes: str = ""
    exclude_from_quant: tuple[str, ...] = field(default_factory=tuple)
    min_int8_cosine: float = 0.95

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(ours for _, ours in self.outputs)

    def file_for(self, precision: str) -> str:
        return f"{self.name}.{precision}.onnx"


NANODET = Recipe(
    name="nanodet-m",
    task="object-detection",
    upstream_file="nanodet",
    project="RangiLyu/nanodet",
    licence="Apache-2.0",
    input=InputSpec(
        name="images", shape=(1, 3, 416, 416), layout="NCHW", color="BGR",
        mean=(103.53, 116.28, 123.675), std=(57.375, 57.12, 58.395), resize="stretch",
    ),
    upstream_input="input_1:0",
    # Identity..Identity_2 are class scores for strides 8/16/32, Identity_3..5 the box bins.
    outputs=(
        ("Identity:0", "cls_s8"), ("Identity_3:0", "reg_s8"),
        ("Identity_1:0", "cls_s16"), ("Identity_4:0", "reg_s16"),
        ("Identity_2:0", "cls_s32"), ("Identity_5:0", "reg_s32"),
    ),
    decoder={
        "kind": "nanodet",
        "strides": [8, 16, 32],
        "grids": [[52, 52], [26, 26], [13, 13]],
        "reg_max": 10,
        "num_classes": 80,
        "scores_activated": True,
        "output_pairs": [["cls_s8", "reg_s8"], ["cls_s16", "reg_s16"], ["cls_s32", "reg_s32"]],
        "center_offset": 0.0,
        "box_encoding": "distances l,t,r,b: softmax over reg_max+1 bins per side, expectation "
                        "times stride, from the point ((x + center_offset) * s, (y + ...) * s)",
        "cell_order": "row-major (y, x)",
    },
    labels=COCO80,
    defaults={"score_threshold": 0.35, "nms_iou": 0.6},
    calibration="vtest-frames",
    notes="Class scores are already sigmoid-activated; box outputs are raw bin logits.",
)

RECIPES: dict[str, Recipe] = {r.name: r for r in (NANODET,)}
