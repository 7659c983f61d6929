"""What to build: one `Recipe` per model, the single place its facts are written down.

A recipe joins what the upstream graph is (file, tensor names, origin, licence) with what the
agent needs to use it (normalisation, decoder parameters, labels, thresholds). The manifest is
generated from these, so the runtime never hard-codes a model fact of its own.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from models.build.fetch import HUMAN_MODELS, NpmSource
from models.build.labels import COCO80, FACE


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
    aliases: tuple[str, ...] = ()  # former names that still resolve to this model
    calibrate_method: str = "minmax"
    npm: NpmSource = HUMAN_MODELS  # the pinned npm package the TF.js graph comes in

    @property
    def output_names(self) -> tuple[str, ...]:
        """Our names for the model's outputs, in the order the agent reads them."""
        return tuple(ours for _, ours in self.outputs)

    def file_for(self, precision: str) -> str:
        """The ONNX file name of this model at `precision` in models/."""
        return f"{self.name}.{precision}.onnx"


# The shipped NanoDet is upstream's NanoDet-g (nanodet-g.yml: 3.79 M parameters, 128-channel
# heads, reg_max 10, 416 input, COCO mAP 22.9), not NanoDet-m (0.95 M, 20.6) as it was once
# called; "nanodet-m" stays an alias so existing configs and load_model calls keep working.
NANODET = Recipe(
    name="nanodet-g",
    aliases=("nanodet-m",),
    task="object-detection",
    upstream_file="nanodet",
    project="RangiLyu/nanodet",
    licence="Apache-2.0",
    input=InputSpec(
        name="images",
        shape=(1, 3, 416, 416),
        layout="NCHW",
        color="BGR",
        mean=(103.53, 116.28, 123.675),
        std=(57.375, 57.12, 58.395),
        resize="stretch",
    ),
    upstream_input="input_1:0",
    # Identity..Identity_2 are class scores for strides 8/16/32, Identity_3..5 the box bins.
    outputs=(
        ("Identity:0", "cls_s8"),
        ("Identity_3:0", "reg_s8"),
        ("Identity_1:0", "cls_s16"),
        ("Identity_4:0", "reg_s16"),
        ("Identity_2:0", "cls_s32"),
        ("Identity_5:0", "reg_s32"),
    ),
    decoder={
        "kind": "nanodet",
        "strides": [8, 16, 32],
        "grids": [[52, 52], [26, 26], [13, 13]],
        "reg_max": 10,
        "num_classes": 80,
        "scores_activated": True,
        "output_pairs": [["cls_s8", "reg_s8"], ["cls_s16", "reg_s16"], ["cls_s32", "reg_s32"]],
        # Measured on the hand-labelled vtest frames: offset 0.0 shifts every box half a
        # cell up-left (person P/R 0.58/0.63); 0.5, the GFL head's cell centre, gives 0.97/0.92.
        "center_offset": 0.5,
        "box_encoding": "distances l,t,r,b: softmax over reg_max+1 bins per side, expectation "
        "times stride, from the point ((x + center_offset) * s, (y + ...) * s)",
        "cell_order": "row-major (y, x)",
    },
    labels=COCO80,
    # 0.45: best person precision/recall balance on the labelled frames (docs/benchmarks.md).
    defaults={"score_threshold": 0.45, "nms_iou": 0.6},
    calibration="scenes",
    calibrate_method="percentile",
    notes="Class scores are already sigmoid-activated; box outputs are raw bin logits.",
)

BLAZEFACE_RGB = {"color": "RGB", "mean": (127.5, 127.5, 127.5), "std": (127.5, 127.5, 127.5)}
FACE_KEYPOINTS = [
    "right_eye",
    "left_eye",
    "nose_tip",
    "mouth_center",
    "right_ear_tragion",
    "left_ear_tragion",
]

BLAZEFACE_FULL = Recipe(
    name="blazeface-full",
    task="face-detection",
    upstream_file="facemesh-detection-full",
    project="google/mediapipe (BlazeFace full-range face detector)",
    licence="Apache-2.0",
    input=InputSpec(
        name="image",
        shape=(1, 192, 192, 3),
        layout="NHWC",
        resize="letterbox",
        **BLAZEFACE_RGB,  # type: ignore[arg-type]
    ),
    upstream_input="input",
    # Identity is the face head (logit channel first, then 16 regressors); the graph's
    # second "person" head is pruned away.
    outputs=(("Identity:0", "face"),),
    decoder={
        "kind": "blazeface",
        "input_hw": [192, 192],
        "anchor_layers": [[4, 1]],
        "anchor_offset": 0.5,
        "num_keypoints": 6,
        "score_clip": 100.0,
        "layout": "score_first",
        "keypoints": FACE_KEYPOINTS,
    },
    labels=FACE,
    defaults={"score_threshold": 0.5, "nms_iou": 0.3},
    calibration="face-images",
)

BLAZEFACE_BACK = Recipe(
    name="blazeface-back",
    task="face-detection",
    upstream_file="blazeface-back",
    project="google/mediapipe (BlazeFace back-camera face detector)",
    licence="Apache-2.0",
    input=InputSpec(
        name="image",
        shape=(1, 256, 256, 3),
        layout="NHWC",
        resize="letterbox",
        **BLAZEFACE_RGB,  # type: ignore[arg-type]
    ),
    upstream_input="input:0",
    outputs=(
        ("Identity:0", "scores_16"),
        ("Identity_2:0", "regressors_16"),
        ("Identity_1:0", "scores_32"),
        ("Identity_3:0", "regressors_32"),
    ),
    decoder={
        "kind": "blazeface",
        "input_hw": [256, 256],
        "anchor_layers": [[16, 2], [32, 6]],
        "anchor_offset": 0.5,
        "num_keypoints": 6,
        "score_clip": 100.0,
        "layout": "pairs",
        "keypoints": FACE_KEYPOINTS,
    },
    labels=FACE,
    defaults={"score_threshold": 0.5, "nms_iou": 0.3},
    calibration="face-images",
    # INT8 measured unusable: scores collapse to 3 levels and landmarks move by 16-30% of
    # the face width even with the heads kept in float (README); FP32 is only 0.6 MB.
    precisions=("fp32",),
    notes="FP32 only: INT8 moved landmarks by 16-30% of the face width. "
    "Keypoints (subject's view): right eye, left eye, nose tip, mouth centre, right and "
    "left ear tragion. Chosen by models/build/evaluate.py: found all 4 known faces in "
    "photos, head crops and at 20 px face width; on ~8 px CCTV faces scores stay below "
    "0.7 and false positives appear at the 0.5 default: raise the threshold there.",
)

FACEBOXES = Recipe(
    name="faceboxes",
    task="face-detection",
    upstream_file="faceboxes",
    project="FaceBoxes (TF object detection API export)",
    licence="unknown",
    input=InputSpec(
        name="image",
        shape=(1, 256, 256, 3),
        layout="NHWC",
        color="RGB",
        mean=(0.0, 0.0, 0.0),
        std=(1.0, 1.0, 1.0),
        resize="letterbox",
    ),
    upstream_input="image_tensor:0",
    outputs=(("boxes", "boxes"), ("scores", "scores"), ("num_boxes", "num_boxes")),
    decoder={"kind": "faceboxes", "box_format": "normalised ymin, xmin, ymax, xmax"},
    labels=FACE,
    defaults={"score_threshold": 0.5, "nms_iou": 0.3},
    calibration="face-images",
    precisions=("fp32",),
    dynamic_batch=False,
)


def _embedder(
    name: str,
    upstream: str,
    project: str,
    licence: str,
    *,
    size: int,
    upstream_input: str,
    output: str,
    dim: int,
) -> Recipe:
    """Embedders take BGR pixels centred on 127.5, unscaled.

    The convention that evaluate.py measured best (the upstream JSON does not record one).
    """
    return Recipe(
        name=name,
        task="face-embedding",
        upstream_file=upstream,
        project=project,
        licence=licence,
        input=InputSpec(
            name="face",
            shape=(1, size, size, 3),
            layout="NHWC",
            color="BGR",
            mean=(127.5, 127.5, 127.5),
            std=(1.0, 1.0, 1.0),
            resize="stretch",
        ),
        upstream_input=upstream_input,
        outputs=((output, "embedding"),),
        decoder={
            "kind": "embedding",
            "dim": dim,
            "alignment": "arcface-112",
            "alignment_size": size,
            "l2_normalise": True,
        },
        labels=(),
        defaults={"same_person_cosine": 0.65},
        calibration="aligned-faces:blazeface-back",
        notes="Input: a face aligned to the ArcFace 5-point template scaled to the input size "
        "(agent.faces.align). Output is not normalised by the model; L2-normalise it. "
        "Normalisation and the 0.65 same-person threshold come from evaluate.py "
        "(same-person min 0.88 vs different-person max 0.46 on the test faces).",
    )


MOBILEFACENET = _embedder(
    "mobilefacenet",
    "mobilefacenet",
    "MobileFaceNet (TF port)",
    "unknown",
    size=112,
    upstream_input="img_inputs:0",
    output="embeddings:0",
    dim=192,
)
MOBILEFACE = _embedder(
    "mobileface",
    "mobileface",
    "becauseofAI/MobileFace",
    "unverified",
    size=112,
    upstream_input="data:0",
    output="batchnorm0/add_1:0",
    dim=256,
)
# INT8 reached only 0.91-0.92 cosine to FP32 on the held-out person (MinMax, Entropy and
# Percentile calibration alike), short of the 0.98 the embedding contract needs.
FACERES = dataclasses.replace(
    _embedder(
        "faceres",
        "faceres",
        "HSE-asavchenko/HSE_FaceRec_tf",
        "unverified: not recorded in the npm package (MIT wrapper); check "
        "HSE-asavchenko/HSE_FaceRec_tf before commercial use",
        size=224,
        upstream_input="input_1:0",
        output="global_pooling/Mean",
        dim=1024,
    ),
    precisions=("fp32",),
)
FACERES = dataclasses.replace(
    FACERES,
    notes="FP32 only: static INT8 gave 0.92 cosine to FP32 "
    "on a held-out face (< 0.98). " + FACERES.notes,
)

YOLOV5_NPM = NpmSource("yolov5", "1.0.11", "dist/src/model_s")
YOLOV5_LICENCE = "GPL-3.0 / AGPL-3.0 (Ultralytics YOLOv5 weights; the npm wrapper is MIT)"

# YOLOv5s v6 as exported by Ultralytics' own TF/TF.js exporter (tf_detect head): 640x640
# NHWC RGB in [0, 1], one output of 25200 = 3 anchors x (80^2 + 40^2 + 20^2) rows of
# (cx, cy, w, h, objectness, 80 class scores), all already sigmoid-decoded in the graph.
# The exporter divides the boxes by the input size; `box_scale` says so (checked by the
# build's own output on vtest, tests/extra_models).
YOLOV5S = Recipe(
    name="yolov5s",
    task="object-detection",
    upstream_file="model",
    project="ultralytics/yolov5 (YOLOv5s v6, TF.js export packaged by npm yolov5@1.0.11)",
    licence=YOLOV5_LICENCE,
    input=InputSpec(
        name="images",
        shape=(1, 640, 640, 3),
        layout="NHWC",
        color="RGB",
        mean=(0.0, 0.0, 0.0),
        std=(255.0, 255.0, 255.0),
        resize="letterbox",
    ),
    # tf2onnx names the ONNX input after the placeholder and the output after the graph
    # signature's key (tf_detect), not the tensor (Identity:0).
    upstream_input="input_1",
    outputs=(("tf_detect", "detections"),),
    decoder={
        "kind": "yolov5",
        "num_classes": 80,
        "rows": 25200,
        "box_format": "cx, cy, w, h",
        "box_scale": "input",
        "score": "objectness x class score (both already sigmoid)",
    },
    labels=COCO80,
    defaults={"score_threshold": 0.3, "nms_iou": 0.45},
    calibration="scenes",
    calibrate_method="percentile",
    npm=YOLOV5_NPM,
    notes="Optional extra, never shipped: weights GPL-3.0/AGPL-3.0 (Ultralytics). Built by "
    "`make models EXTRA=yolov5s` into models/extra/. Scores are objectness x class.",
)

#: Everything `evaluate` measures; only `RECIPES` ship.
CANDIDATES: dict[str, Recipe] = {
    r.name: r
    for r in (
        NANODET,
        BLAZEFACE_FULL,
        BLAZEFACE_BACK,
        FACEBOXES,
        MOBILEFACENET,
        MOBILEFACE,
        FACERES,
    )
}
RECIPES: dict[str, Recipe] = {r.name: r for r in (NANODET, BLAZEFACE_BACK, FACERES)}

#: Built only on request (``--extra``), never committed nor baked into an image: the
#: licence of their weights does not allow shipping them with Oko (models/README.md).
EXTRAS: dict[str, Recipe] = {r.name: r for r in (YOLOV5S,)}
