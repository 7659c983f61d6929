"""Face detector recall and precision vs face width, on the hand-checked face labels.

Labels: ``tests/data/labels/faces/`` (how they were made: docs/faces.md). A detection matches
a labelled face when its centre lies inside the labelled box and its width is within a factor
of two of the label's: the detectors draw boxes to different conventions (BlazeFace's is
squarer and lower), so IoU would punish the convention, not the detection. Each label is
matched at most once; unmatched detections are false positives on exhaustively labelled
images only.

Two protocols, both on the Solvay photo at its four resolutions (faces 11-60 px wide):

The 640x440 version is also downscaled here by 0.75 and 0.6 (area averaging) for 8-12 px
faces, the size of faces at CCTV distance.

- ``head crops``: a square crop centred on each labelled face, 3x its width (what the faces
  analytic cuts from a person box), as one batch; both detectors letterbox crops into their
  own canvas. Recall of the crop's own face; false positives are detections matching no
  label at all (a neighbour's face in the crop is a true face, not a false one).
- ``frame``: the whole photo at native scale (CenterFace only: its height and width are free;
  BlazeFace's 256x256 letterbox of a whole group photo sees 3-12 px faces and is not a fair
  use of it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
LABELS = ROOT / "tests" / "data" / "labels" / "faces"
SOLVAY_DIR = Path("/usr/share/visp-images-data/ViSP-images/Solvay")
SOLVAY_REF_WH = (2126, 1463)
#: Face-width bins in source pixels, as (low, high).
#: Extra downscales of the 640x440 version (faces 13-20 px there -> 8-15 px).
DOWNSCALES = (0.75, 0.6)
BINS = ((8, 12), (12, 16), (16, 24), (24, 48), (48, 10_000))


@dataclass(frozen=True)
class LabelledImage:
    """One image and its labelled face boxes (source pixels)."""

    name: str
    path: Path
    boxes: np.ndarray
    exhaustive: bool
    scale: float = 1.0

    def load(self) -> np.ndarray:
        """The image (BGR), downscaled by ``scale`` with area averaging when below 1."""
        import cv2

        image = cv2.imread(str(self.path))
        if image is None:
            raise FileNotFoundError(f"cannot read {self.path} (install visp-images-data?)")
        if self.scale != 1.0:
            image = cv2.resize(
                image, None, fx=self.scale, fy=self.scale, interpolation=cv2.INTER_AREA
            )
        return image


def solvay_images() -> list[LabelledImage]:
    """The Solvay photo at each resolution, labels scaled from the 2126x1463 version."""
    doc = json.loads((LABELS / "solvay.json").read_text())
    ref = np.array([f["box"] for f in doc["faces"]], np.float32)
    out = []
    for res in doc["resolutions"]:
        width, height = (int(v) for v in res.split("x"))
        scale = np.array([width / SOLVAY_REF_WH[0], height / SOLVAY_REF_WH[1]] * 2, np.float32)
        path = SOLVAY_DIR / f"Solvay_conference_1927_Version2_{res}.png"
        out.append(LabelledImage(f"solvay-{res}", path, ref * scale, bool(doc["exhaustive"])))
    # CCTV-sized faces (8-12 px): the smallest version downscaled further, here.
    small = out[0]
    for factor in DOWNSCALES:
        out.append(
            LabelledImage(
                f"{small.name}-x{factor}",
                small.path,
                small.boxes * factor,
                small.exhaustive,
                factor,
            )
        )
    return out


def solvay_eyes(width: int, height: int) -> np.ndarray:
    """(29, 2, 2) labelled eye points (image-left eye first) scaled to one resolution."""
    doc = json.loads((LABELS / "solvay.json").read_text())
    eyes = np.array([[f["left_eye"], f["right_eye"]] for f in doc["faces"]], np.float32)
    return eyes * np.array([width / SOLVAY_REF_WH[0], height / SOLVAY_REF_WH[1]], np.float32)


def photo_images() -> list[LabelledImage]:
    """The portraits in tests/data with their labelled faces."""
    doc = json.loads((LABELS / "photos.json").read_text())
    return [
        LabelledImage(
            name,
            ROOT / "tests" / "data" / name,
            np.array([f["box"] for f in item["faces"]], np.float32),
            bool(item["exhaustive"]),
        )
        for name, item in doc["images"].items()
    ]


def match(truth: np.ndarray, found: np.ndarray) -> tuple[np.ndarray, int]:
    """(per-label matched flag, unmatched detections); detections best first, greedy."""
    hit = np.zeros(len(truth), bool)
    extra = 0
    widths = truth[:, 2] - truth[:, 0]
    for box in np.asarray(found, np.float32).reshape(-1, 4):
        cx, cy, width = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, box[2] - box[0]
        ok = (
            ~hit
            & (truth[:, 0] <= cx)
            & (cx <= truth[:, 2])
            & (truth[:, 1] <= cy)
            & (cy <= truth[:, 3])
            & (width >= widths / 2)
            & (width <= widths * 2)
        )
        if ok.any():
            hit[int(np.flatnonzero(ok)[0])] = True
        else:
            extra += 1
    return hit, extra


@dataclass
class Tally:
    """Matched / labelled per width bin, and false positives."""

    found: np.ndarray = field(default_factory=lambda: np.zeros(len(BINS), np.int64))
    total: np.ndarray = field(default_factory=lambda: np.zeros(len(BINS), np.int64))
    false_positives: int = 0
    detections: int = 0
    eye_errors: list[float] = field(default_factory=list)

    def add(self, truth: np.ndarray, hit: np.ndarray, extra: int, counted: bool) -> None:
        widths = truth[:, 2] - truth[:, 0]
        for i, (low, high) in enumerate(BINS):
            inside = (widths >= low) & (widths < high)
            self.total[i] += int(inside.sum())
            self.found[i] += int((inside & hit).sum())
        if counted:
            self.false_positives += extra
            self.detections += int(hit.sum()) + extra

    @property
    def precision(self) -> float:
        return 1.0 - self.false_positives / self.detections if self.detections else float("nan")


def head_crops(image: np.ndarray, boxes: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Square crops 3x each face's width centred on it; (crops, their x1 y1 offsets)."""
    height, width = image.shape[:2]
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    half = 1.5 * (boxes[:, 2] - boxes[:, 0])
    x1 = np.clip(np.rint(cx - half), 0, width - 1).astype(int)
    y1 = np.clip(np.rint(cy - half), 0, height - 1).astype(int)
    x2 = np.clip(np.rint(cx + half), 1, width).astype(int)
    y2 = np.clip(np.rint(cy + half), 1, height).astype(int)
    crops = [image[b:d, a:c] for a, b, c, d in zip(x1, y1, x2, y2, strict=True)]
    return crops, np.stack([x1, y1], axis=1).astype(np.float32)


def format_table(rows: dict[str, Tally]) -> list[str]:
    """Markdown rows: recall per width bin (found/labelled) and precision."""
    heads = [f"{lo}-{hi} px" if hi < 10_000 else f">= {lo} px" for lo, hi in BINS]
    lines = [
        "| detector / protocol | "
        + " | ".join(heads)
        + " | precision (FP) | eye error, median / p90 (inter-eye distances) |",
        "|---|" + "---|" * len(BINS) + "---|---|",
    ]
    for name, tally in rows.items():
        cells = [
            f"{f}/{t} ({f / t:.0%})" if t else "-"
            for f, t in zip(tally.found.tolist(), tally.total.tolist(), strict=True)
        ]
        eyes = (
            f"{np.median(tally.eye_errors):.2f} / {np.percentile(tally.eye_errors, 90):.2f}"
            if tally.eye_errors
            else "-"
        )
        lines.append(
            f"| {name} | "
            + " | ".join(cells)
            + f" | {tally.precision:.3f} ({tally.false_positives}) | {eyes} |"
        )
    return lines
