"""Make abandoned-object evaluation clips from real footage, deterministically.

    python scripts/make_abandoned_clip.py SCENARIO OUT.avi [--scale S]
    python scripts/make_abandoned_clip.py labels tests/data/labels/abandoned.json

There is no public left-luggage clip on these machines, so the clips are built from
tests/data/vtest.avi (real CCTV) and a real bag cut out of the same footage: the black
holdall lying on the gravel island behind the traffic cone (frame 160, 38x26 pixels around
x=396..434, y=160..186), separated from the gravel by its dark pixels (grey < 70, dilated
1 px, feathered). It is pasted, at the scenario's scale (1.25: ~40 % of the height of the
people beside it), into a stretch of frames (`SCENARIOS` below, frame numbers of vtest):

    left          0-299: appears at 110 at the feet of the man who stood behind the sign
                  (half hidden by it) as he walks off down the road; the man waiting
                  left of the sign stays beside it until ~150 -> one alert
    picked_up     0-199: the same, gone at 140 while the man waiting beside it still
                  stands there -> no alert
    carried       224-291: carried at knee height beside the man in black walking left
                  along the road (his foot path, read off the tracker's boxes) -> no alert
    elsewhere     150-399: dropped on the road at 250 by that walker, who walks on (and
                  turns back at ~312 and walks past behind it from ~352) -> one alert
    near_vehicle  0-339: dropped at 174 on the road in front of the parked white van by
                  the man who walked up to the van and turned back; a couple strolls
                  past in front of it from ~260 -> one alert, for the bag, not the van
    sitting       0-699: frame 0's man standing on the road is frozen in place from 100 on
                  (a person keeping still for a minute) -> no alert
    lighting      0-299: no bag; 60-110 darken to 75 %, at 180 exposure steps up 30 %
                  -> no alert
    splice        330-479: no bag, across vtest's cut at frame 404 -> no alert

Everything is computed from the source frames and constants below: the same vtest.avi
gives byte-identical clips. A bag on the ground is hidden by walkers in front of it
(`in_front`: blobs that differ from the clip's median background and reach lower in the
picture than the bag's bottom); a carried bag is drawn in front. Output is MJPEG (quality
95) at the source's 10 fps, and a `.json` beside it with the scenario, the frame range,
and in every frame the bag's box (its whole extent, hidden parts included) and the share
of it in view.
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
    """One clip: source frames, where the bag is when, and what must happen."""

    first: int
    last: int  # inclusive
    expect_alert: bool
    put: int | None = None  # frame the bag is put down (None: no bag at rest)
    gone: int | None = None  # frame it is picked up (None: stays)
    rest: tuple[float, float] = REST_FOOT
    scale: float = 1.25
    carried: bool = False
    freeze: bool = False  # the person of frame 0 stays put from FREEZE_FROM on
    lighting: bool = False  # a cloud (slow darkening) then an exposure step
    note: str = ""

    def bag_foot(self, frame: int) -> tuple[float, float] | None:
        """Where the bag's bottom centre is in `frame`, or None if it is not in view."""
        if self.carried:
            fs, xs, ys = (np.array(v, np.float64) for v in zip(*WALKER, strict=True))
            if not fs[0] <= frame <= fs[-1]:
                return None
            # Beside the walker's trailing hand: a little behind him, above his feet.
            return float(np.interp(frame, fs, xs)) + 14.0, float(np.interp(frame, fs, ys)) - 12.0
        if self.put is None or frame < self.put:
            return None
        return self.rest if self.gone is None or frame < self.gone else None

    def gain(self, frame: int) -> float:
        """Brightness factor of `frame` (1 unless the scenario changes the lighting)."""
        if not self.lighting:
            return 1.0
        cloud = float(np.interp(frame, (60, 110), (1.0, 0.75)))
        return cloud * (1.3 if frame >= 180 else 1.0)


# Occlusion of the resting bag by walkers in front of it (`in_front`): a pixel differing
# from the clip's median background by more than FOREGROUND_LEVEL grey levels belongs to
# someone; a blob of them reaching FRONT_MARGIN px below the bag's bottom is nearer the
# camera. AROUND: how far (left, up, right, down) beyond the bag a blob is followed.
FOREGROUND_LEVEL = 30
FRONT_MARGIN = 2
AROUND = (40, 120, 40, 160)

# Frame 0's man standing on the road at the left (his box, padded), frozen in place from
# FREEZE_FROM on: a person keeping still for a minute.
FREEZE_BOX = (240, 212, 302, 316)
FREEZE_FROM = 100

SCENARIOS = {
    "left": Scenario(
        0, 299, True, put=110, note="left by the man behind the sign, who walks off as it appears"
    ),
    "picked_up": Scenario(
        0, 199, False, put=110, gone=140, note="gone while the man waiting beside it stands there"
    ),
    "carried": Scenario(224, 291, False, carried=True, note="carried by a walker"),
    "elsewhere": Scenario(
        150,
        399,
        True,
        put=250,
        rest=(552.0, 262.0),
        note="dropped on the road by the man in black walking left, who walks on",
    ),
    "near_vehicle": Scenario(
        0,
        339,
        True,
        put=174,
        rest=(628.0, 194.0),
        note="dropped on the road in front of the parked white van by the man who walked "
        "up to it and turned back; a couple strolls past in front of it",
    ),
    "sitting": Scenario(0, 699, False, freeze=True, note="a person keeping still for 60 s"),
    "lighting": Scenario(0, 299, False, lighting=True, note="darkens 25 %, then exposure +30 %"),
    "splice": Scenario(330, 479, False, note="vtest's cut at frame 404"),
}


def read_frames(first: int, last: int) -> dict[int, np.ndarray]:
    cap = cv2.VideoCapture(str(VTEST))
    out: dict[int, np.ndarray] = {}
    index = 0
    while index <= max(last, BAG_FRAME):
        ok, frame = cap.read()
        if not ok:
            raise SystemExit(f"{VTEST}: ended at frame {index}")
        if first <= index <= last or index in (0, BAG_FRAME):
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
    frame: np.ndarray,
    patch: np.ndarray,
    mask: np.ndarray,
    foot: tuple[float, float],
    front: np.ndarray | None = None,
) -> tuple[np.ndarray, list[int]]:
    """The bag pasted with its bottom centre at `foot`; returns the frame and its box.

    `front` (patch-sized, 0..1): where something in the frame stands in front of the bag
    and hides it (see `in_front`). The box is the bag's whole extent, hidden parts
    included (as occluded objects are labelled): its pixels at least half opaque.
    """
    h, w = patch.shape[:2]
    x1, y1 = round(foot[0] - w / 2), round(foot[1] - h)
    alpha = mask if front is None else mask * (1.0 - front[..., None])
    out = frame.astype(np.float32)
    region = out[y1 : y1 + h, x1 : x1 + w]
    out[y1 : y1 + h, x1 : x1 + w] = region * (1 - alpha) + patch * alpha
    ys, xs = np.nonzero(mask[..., 0] >= 0.5)
    extent = [
        x1 + int(xs.min()),
        y1 + int(ys.min()),
        x1 + int(xs.max()) + 1,
        y1 + int(ys.max()) + 1,
    ]
    return np.clip(out, 0, 255).astype(np.uint8), extent


def patch_rect(patch: np.ndarray, foot: tuple[float, float]) -> tuple[int, int, int, int]:
    """x1, y1, x2, y2 of the pasted patch with its bottom centre at `foot`."""
    h, w = patch.shape[:2]
    x1, y1 = round(foot[0] - w / 2), round(foot[1] - h)
    return x1, y1, x1 + w, y1 + h


def median_background(
    frames: dict[int, np.ndarray], first: int, last: int, rect: tuple[int, int, int, int]
) -> np.ndarray:
    """The scene without walkers around `rect` (padded by `AROUND`): the per-pixel median
    of every 5th source frame of the clip (people keep moving; the median is the floor)."""
    x1, y1, x2, y2 = _around(rect, frames[first].shape)
    stack = np.stack([frames[i][y1:y2, x1:x2] for i in range(first, last + 1, 5)])
    return np.median(stack, axis=0).astype(np.float32)


def in_front(
    frame: np.ndarray, background: np.ndarray, rect: tuple[int, int, int, int], foot_y: float
) -> np.ndarray:
    """Where, in `rect`, something in the source frame stands in front of the bag (0..1).

    The bag lies on the ground with its bottom at `foot_y`. A walker's pixels differ from
    the median background; a connected blob of them reaching lower in the picture than the
    bag's bottom stands nearer the camera, so it hides the bag (a blob whose lowest point
    is above it walks behind, and the bag hides it). From the original footage only: the
    same vtest.avi gives the same masks on every machine.
    """
    ax1, ay1, ax2, ay2 = _around(rect, frame.shape)
    diff = np.abs(frame[ay1:ay2, ax1:ax2].astype(np.float32) - background).max(axis=2)
    blobs = (diff > FOREGROUND_LEVEL).astype(np.uint8)
    blobs = cv2.morphologyEx(blobs, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    blobs = cv2.morphologyEx(blobs, cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8))
    _, labels, stats, _ = cv2.connectedComponentsWithStats(blobs, connectivity=8)
    x1, y1, x2, y2 = (v - o for v, o in zip(rect, (ax1, ay1, ax1, ay1), strict=True))
    inside = labels[y1:y2, x1:x2]
    front = np.zeros(inside.shape, np.float32)
    for k in np.unique(inside[inside > 0]):
        lowest = stats[k, cv2.CC_STAT_TOP] + stats[k, cv2.CC_STAT_HEIGHT] - 1 + ay1
        if lowest > foot_y + FRONT_MARGIN:
            front[inside == k] = 1.0
    return np.clip(cv2.GaussianBlur(front, (3, 3), 0), 0, 1)


def _around(rect: tuple[int, int, int, int], shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = rect
    left, up, right, down = AROUND
    return max(x1 - left, 0), max(y1 - up, 0), min(x2 + right, shape[1]), min(y2 + down, shape[0])


def make_clip(name: str, out: Path, scale: float | None = None) -> dict:
    """Write the clip and its ground-truth JSON; returns the JSON document."""
    scenario = SCENARIOS[name]
    scale = scenario.scale if scale is None else scale
    frames = read_frames(scenario.first, scenario.last)
    patch, mask = cut_bag(frames[BAG_FRAME], scale)
    still = frames[0][FREEZE_BOX[1] : FREEZE_BOX[3], FREEZE_BOX[0] : FREEZE_BOX[2]].copy()
    h, w = frames[scenario.first].shape[:2]
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (w, h))
    writer.set(cv2.VIDEOWRITER_PROP_QUALITY, 95)
    boxes: dict[str, list[int]] = {}
    visible: dict[str, float] = {}
    rect = patch_rect(patch, scenario.rest)
    background = median_background(frames, scenario.first, scenario.last, rect)
    solid = mask[..., 0] >= 0.5
    for k, index in enumerate(range(scenario.first, scenario.last + 1)):
        image = frames[index]
        if scenario.freeze and index >= FREEZE_FROM:
            image = freeze(image, still)
        foot = scenario.bag_foot(index)
        if foot is not None:
            # A carried bag is in the hand on the near side; a bag on the ground is hidden
            # by whoever walks in front of it.
            front = None if scenario.carried else in_front(image, background, rect, foot[1])
            image, box = paste(image, patch, mask, foot, front)
            boxes[str(k)] = box
            shown = solid if front is None else solid & (front < 0.5)
            visible[str(k)] = round(float(shown.sum() / solid.sum()), 3)
        if scenario.gain(index) != 1.0:
            image = np.clip(image.astype(np.float32) * scenario.gain(index), 0, 255)
            image = image.astype(np.uint8)
        writer.write(image)
    writer.release()
    truth = {
        "scenario": name,
        "note": scenario.note,
        "source": "tests/data/vtest.avi",
        "source_frames": [scenario.first, scenario.last],
        "scale": scale,
        "bag": {"from_frame": BAG_FRAME, "box": list(BAG_BOX)},
        "expect_alert": scenario.expect_alert,
        "put_frame": None if scenario.put is None else scenario.put - scenario.first,
        "gone_frame": None if scenario.gone is None else scenario.gone - scenario.first,
        "rest_box": None if scenario.put is None else rest_box(scenario, patch, mask),
        "bag_boxes": boxes,
        "bag_visible": visible,
    }
    out.with_suffix(".json").write_text(json.dumps(truth, indent=1))
    return truth


def rest_box(scenario: Scenario, patch: np.ndarray, mask: np.ndarray) -> list[int]:
    """The visible box of the bag where it rests (clip frame numbers are in bag_boxes)."""
    blank = np.zeros((576, 768, 3), np.uint8)
    return paste(blank, patch, mask, scenario.rest)[1]


def freeze(frame: np.ndarray, still: np.ndarray) -> np.ndarray:
    """`still` (frame 0's pixels in FREEZE_BOX) blended in with a feathered border."""
    x1, y1, x2, y2 = FREEZE_BOX
    core = np.zeros(still.shape[:2], np.float32)
    core[4:-4, 4:-4] = 1.0
    alpha = np.asarray(cv2.GaussianBlur(core, (9, 9), 0))[..., None]
    out = frame.copy()
    region = out[y1:y2, x1:x2].astype(np.float32)
    out[y1:y2, x1:x2] = np.clip(region * (1 - alpha) + still * alpha, 0, 255).astype(np.uint8)
    return out


LABELS = ROOT / "tests" / "data" / "labels" / "abandoned.json"
LABEL_METHOD = (
    "Bag position and timing by construction (this script pastes the bag: bag_boxes, "
    "put_frame, gone_frame, rest_box are exact; boxes are the bag's whole extent). Walkers "
    "in front hide it (blobs differing from the clip's median background that reach below "
    "the bag's bottom): frames_bag_partly_hidden / _mostly_hidden count frames with less "
    "than all / half of it in view. Checked by eye on the rendered clips: the owner (the "
    "person at the bag when it appears), that walkers in front hide it and those behind do "
    "not, that nothing else is left behind in any clip, and that vtest's own holdall, "
    "litter and parked cars are there from frame 0."
)


PER_FRAME = ("bag_boxes", "bag_visible")


def write_labels(out: Path, tmp: Path) -> dict:
    """Every scenario's ground truth without the per-frame boxes (tests rebuild those)."""
    scenarios = {}
    for name in sorted(SCENARIOS):
        truth = make_clip(name, tmp / f"{name}.avi")
        scenarios[name] = {k: v for k, v in truth.items() if k not in PER_FRAME}
        scenarios[name]["frames_with_bag"] = len(truth["bag_boxes"])
        shares = list(truth["bag_visible"].values())
        scenarios[name]["frames_bag_partly_hidden"] = sum(v < 1.0 for v in shares)
        scenarios[name]["frames_bag_mostly_hidden"] = sum(v < 0.5 for v in shares)
    doc = {"method": LABEL_METHOD, "fps": 10.0, "frames": "clip frames", "scenarios": scenarios}
    out.write_text(json.dumps(doc, indent=1) + "\n")
    return doc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("scenario", choices=[*sorted(SCENARIOS), "labels"])
    parser.add_argument("out", type=Path, help="clip (.avi), or the labels JSON for 'labels'")
    parser.add_argument(
        "--scale", type=float, default=None, help="bag scale (default: per scenario)"
    )
    args = parser.parse_args()
    if args.scenario == "labels":
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            doc = write_labels(args.out, Path(tmp))
        print(f"{args.out}: {len(doc['scenarios'])} scenarios")
        return
    truth = make_clip(args.scenario, args.out, args.scale)
    print(f"{args.out}: {args.scenario}, {len(truth['bag_boxes'])} frames with the bag")


if __name__ == "__main__":
    main()
