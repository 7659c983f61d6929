"""Make abandoned-object evaluation clips from real footage, deterministically.

    python scripts/make_abandoned_clip.py SCENARIO OUT.avi [--scale 1.25]

There is no public left-luggage clip on these machines, so the clips are built from
tests/data/vtest.avi (real CCTV) and a real bag cut out of the same footage: the black
holdall lying on the gravel island behind the traffic cone (frame 160, 38x26 pixels around
x=396..434, y=160..186), separated from the gravel by its dark pixels (grey < 70, dilated
1 px, feathered). It is pasted, at `--scale`, into a stretch of frames:

    left       frames 100-299: put down at frame 110 beside the man waiting behind the sign
               (x~400), who walks off at ~150; the bag stays -> an alert is expected
    picked_up  frames 100-199: put down at 110, gone at 140 while the man still stands
               there (he picked it up) -> no alert
    carried    frames 224-291: carried at knee height beside the man in black walking left
               along the road (his foot path, read off the tracker's boxes) -> no alert

Everything is computed from the source frames and constants below: the same vtest.avi
gives byte-identical clips. Output is MJPEG (quality 95) at the source's 10 fps, and a
`.json` beside it with the scenario, the frame range and the bag's box in every frame.
docs/abandoned-eval.md says how the clips were made and what the detector made of them.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
VTEST = ROOT / "tests" / "data" / "vtest.avi"
BAG_FRAME, BAG_BOX = 160, (396, 160, 434, 186)  # x1, y1, x2, y2 in vtest.avi
DARK = 70
REST_FOOT = (425.0, 268.0)  # bottom centre of the resting bag, right of the sign post
# Foot points (frame, x, y) of the man in black walking left, frames 224-290.
WALKER = (
    (224, 728, 314),
    (232, 673, 292),
    (240, 627, 277),
    (248, 576, 264),
    (256, 525, 254),
    (264, 473, 245),
    (274, 411, 232),
    (282, 356, 228),
    (290, 313, 225),
)


@dataclass(frozen=True)
class Scenario:
    first: int
    last: int  # inclusive
    expect_alert: bool

    def bag_foot(self, name: str, frame: int) -> tuple[float, float] | None:
        """Where the bag's bottom centre is in `frame`, or None if it is not in view."""
        if name == "carried":
            fs, xs, ys = (np.array(v, np.float64) for v in zip(*WALKER, strict=True))
            if not fs[0] <= frame <= fs[-1]:
                return None
            # Beside the walker's trailing hand: a little behind him, above his feet.
            return float(np.interp(frame, fs, xs)) + 14.0, float(np.interp(frame, fs, ys)) - 12.0
        put, gone = 110, (140 if name == "picked_up" else self.last + 1)
        return REST_FOOT if put <= frame < gone else None


SCENARIOS = {
    "left": Scenario(100, 299, True),
    "picked_up": Scenario(100, 199, False),
    "carried": Scenario(224, 291, False),
}


def read_frames(first: int, last: int) -> dict[int, np.ndarray]:
    cap = cv2.VideoCapture(str(VTEST))
    out: dict[int, np.ndarray] = {}
    index = 0
    while index <= max(last, BAG_FRAME):
        ok, frame = cap.read()
        if not ok:
            raise SystemExit(f"{VTEST}: ended at frame {index}")
        if first <= index <= last or index == BAG_FRAME:
            out[index] = frame
        index += 1
    cap.release()
    return out


def cut_bag(frame: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """The holdall's pixels and a soft mask (0..1), both scaled by `scale`."""
    x1, y1, x2, y2 = BAG_BOX
    pixels = frame[y1:y2, x1:x2].astype(np.float32)
    dark = (pixels.mean(axis=2) < DARK).astype(np.float32)
    soft = cv2.GaussianBlur(cv2.dilate(dark, np.ones((3, 3), np.uint8)), (3, 3), 0)
    size = (round(pixels.shape[1] * scale), round(pixels.shape[0] * scale))
    patch = np.asarray(cv2.resize(pixels, size, interpolation=cv2.INTER_CUBIC))
    mask = np.clip(cv2.resize(soft, size, interpolation=cv2.INTER_LINEAR), 0, 1)
    return patch, mask[..., None]


def paste(
    frame: np.ndarray, patch: np.ndarray, mask: np.ndarray, foot: tuple[float, float]
) -> tuple[np.ndarray, list[int]]:
    h, w = patch.shape[:2]
    x1, y1 = round(foot[0] - w / 2), round(foot[1] - h)
    out = frame.astype(np.float32)
    region = out[y1 : y1 + h, x1 : x1 + w]
    out[y1 : y1 + h, x1 : x1 + w] = region * (1 - mask) + patch * mask
    return np.clip(out, 0, 255).astype(np.uint8), [x1, y1, x1 + w, y1 + h]


def make_clip(name: str, out: Path, scale: float = 1.25) -> dict:
    """Write the clip and its ground-truth JSON; returns the JSON document."""
    scenario = SCENARIOS[name]
    frames = read_frames(scenario.first, scenario.last)
    patch, mask = cut_bag(frames[BAG_FRAME], scale)
    h, w = frames[scenario.first].shape[:2]
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (w, h))
    writer.set(cv2.VIDEOWRITER_PROP_QUALITY, 95)
    boxes: dict[str, list[int]] = {}
    for k, index in enumerate(range(scenario.first, scenario.last + 1)):
        image = frames[index]
        foot = scenario.bag_foot(name, index)
        if foot is not None:
            image, box = paste(image, patch, mask, foot)
            boxes[str(k)] = box
        writer.write(image)
    writer.release()
    truth = {
        "scenario": name,
        "source": "tests/data/vtest.avi",
        "source_frames": [scenario.first, scenario.last],
        "scale": scale,
        "bag": {"from_frame": BAG_FRAME, "box": list(BAG_BOX)},
        "expect_alert": scenario.expect_alert,
        "bag_boxes": boxes,
    }
    out.with_suffix(".json").write_text(json.dumps(truth, indent=1))
    return truth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("out", type=Path)
    parser.add_argument("--scale", type=float, default=1.25)
    args = parser.parse_args()
    truth = make_clip(args.scenario, args.out, args.scale)
    print(f"{args.out}: {args.scenario}, {len(truth['bag_boxes'])} frames with the bag")


if __name__ == "__main__":
    main()
