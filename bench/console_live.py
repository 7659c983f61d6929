"""Live-view cost: what one frame of a console live view costs the box and the fleet.

Run from the repository root: ``.venv/bin/python -m bench.console_live``. On real vtest.avi
frames with 8 tracked boxes, a counting line and a zone drawn (what `agent.pipeline.live`
does for each frame of a live view): drawing, JPEG encoding at the default width (768 px
frames are sent as they are) and scaled to 480 px, and the fleet's structural JPEG check
(`fleet.console.jpeg`). Medians over the clip's first 60 frames; the share of one core
is at the console's default 4 frames per second.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

import cv2
import numpy as np

from agent.analytics.camera import CameraAnalytics
from agent.annotate import draw_line, draw_tracks, draw_zone
from agent.config.camera import CameraSpec
from agent.detections import Detections
from agent.pipeline.live import encode
from bench.machine import describe
from fleet.console.jpeg import check_jpeg
from tests.support.media import VTEST

LINE = {"id": "road", "points": [[330, 400], [330, 190]]}
ZONE = {"id": "junction", "polygon": [[440, 230], [690, 200], [768, 290], [768, 440], [520, 330]]}
FPS = 4.0


def _frames(n: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(VTEST))
    out: list[np.ndarray] = []
    while len(out) < n:
        ok, img = cap.read()
        if not ok:
            break
        out.append(img)
    cap.release()
    return out


def _tracks(rng: np.random.Generator) -> Detections:
    x = rng.uniform(0, 700, 8)
    y = rng.uniform(0, 450, 8)
    boxes = np.stack([x, y, x + 40, y + 110], axis=1).astype(np.float32)
    scores = np.full(8, 0.8, np.float32)
    return Detections(boxes, scores, np.zeros(8, np.int64), np.arange(1, 9))


def _median_ms(work: Callable[[int], object], n: int) -> float:
    times = []
    for i in range(n):
        start = time.perf_counter()
        work(i)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    frames = _frames(60)
    spec = CameraSpec(id="gate", source="x.avi", lines=[LINE], zones=[ZONE])
    analytics = CameraAnalytics(spec, ["person"])
    rng = np.random.default_rng(0)
    tracks = [_tracks(rng) for _ in frames]

    def draw(i: int) -> np.ndarray:
        img = draw_tracks(frames[i], tracks[i], analytics.labels)
        for zone in analytics.zones.values():
            img = draw_zone(img, zone)
        for line in analytics.lines.values():
            img = draw_line(img, line)
        return img

    drawn = [draw(i) for i in range(len(frames))]
    draw_ms = _median_ms(draw, len(frames))
    full = [encode(img, time.time(), 8, 960, 256 * 1024) for img in drawn]
    encode_ms = _median_ms(lambda i: encode(drawn[i], time.time(), 8, 960, 256 * 1024), len(drawn))
    small_ms = _median_ms(lambda i: encode(drawn[i], time.time(), 8, 480, 256 * 1024), len(drawn))
    check_us = 1000 * _median_ms(lambda i: check_jpeg(full[i].jpeg, 960, 1920), len(full))
    size_kib = statistics.median(len(f.jpeg) for f in full) / 1024
    per_frame = draw_ms + encode_ms
    print(f"machine: {describe()}")
    print(f"load average: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"frames: {len(frames)} of {VTEST.name} (768x576), 8 tracks + 1 line + 1 zone drawn")
    print(
        f"box: draw {draw_ms:.2f} ms, JPEG at 768 px {encode_ms:.2f} ms ({size_kib:.0f} KiB), "
        f"scaled to 480 px {small_ms:.2f} ms"
    )
    print(f"box: one live view at {FPS:g} fps costs {per_frame * FPS / 10:.1f} % of one core")
    print(f"fleet: JPEG check {check_us:.1f} us per frame")


if __name__ == "__main__":
    main()
