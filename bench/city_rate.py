"""A city's event rate, measured: events per camera-hour of real footage through the agent.

    .venv/bin/python -m bench.city_rate

Runs the agent's own pipeline (`analyze_video`: reader, motion gate, detector, tracker,
the rules of docs/examples/camera.yaml, the event minter - what `oko-agent analyze` runs)
over

* the demo clip, tests/data/vtest.avi (both takes, 79.5 s at 10 fps), and
* the city mix of bench/city_box.py (its clip builder, imported: quiet, moderate and busy
  scenes built from vtest's first take, 40.4 s each), weighted 60/30/10,

and counts the events each would send to the fleet. Events per camera-hour = events /
clip seconds x 3,600; the city's rate per camera is the mix's weighted mean.
`bench/city.py` runs this (or reads `--rate-per-box`) and uses the mix's rate per box as
its default. The clips are short: a rule that fires after minutes (loitering at 20 s,
traffic summaries every 30 s) fires a few times at most, so the figures carry a clip's
sampling error; they are what this footage gives, not a survey of a city.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2

from agent.config.camera import load_camera_spec
from agent.pipeline.detector_setup import make_detector
from agent.pipeline.offline import analyze_video
from bench.city_box import CAMERA, CLIP, MIX, build_clips
from bench.machine import describe

FPS = 10.0  # vtest.avi's frame rate, and the rate build_clips writes (if a file lacks it)


@dataclass(frozen=True)
class ClipRate:
    """Events one clip produced through the pipeline."""

    name: str
    seconds: float
    events: int
    by_type: dict[str, int]

    @property
    def per_camera_hour(self) -> float:
        return self.events / self.seconds * 3600.0


@dataclass(frozen=True)
class CityRate:
    """The demo clip's and the city mix's rates (events per camera-hour and per second)."""

    demo: ClipRate
    scenes: list[ClipRate]
    mix_per_camera_hour: float

    @property
    def mix_per_second(self) -> float:
        return self.mix_per_camera_hour / 3600.0

    def describe(self) -> str:
        """Lines for a bench's output."""
        lines = [
            f"  {r.name}: {r.events} events in {r.seconds:.1f} s of footage ="
            f" {r.per_camera_hour:.0f} events/camera-hour {dict(sorted(r.by_type.items()))}"
            for r in [self.demo, *self.scenes]
        ]
        weights = ", ".join(f"{k} {w:.0%}" for k, w in MIX)
        lines.append(
            f"  city mix ({weights}): {self.mix_per_camera_hour:.0f} events/camera-hour"
            f" = {self.mix_per_second:.3f} events/s per camera"
        )
        return "\n".join(lines)


def clip_rate(name: str, clip: Path, detector: object) -> ClipRate:
    """Run the pipeline over `clip` offline (every frame, at the camera's detect rate)."""
    spec = load_camera_spec(CAMERA, source=str(clip), realtime=False)
    result = analyze_video(clip, spec.model_copy(update={"id": name}), detector).run()  # type: ignore[arg-type]
    kinds = Counter(str(e.WhichOneof("body")) for e in result.events)
    return ClipRate(name, _footage_seconds(clip), len(result.events), dict(kinds))


def _footage_seconds(clip: Path) -> float:
    """The clip's length in camera time (its frames at its frame rate, not the detect rate)."""
    cap = cv2.VideoCapture(str(clip), cv2.CAP_FFMPEG)
    try:
        frames, fps = cap.get(cv2.CAP_PROP_FRAME_COUNT), cap.get(cv2.CAP_PROP_FPS) or FPS
    finally:
        cap.release()
    return float(frames) / float(fps)


def measure(backend: str = "auto") -> CityRate:
    """Run the demo clip and the three city scenes; the weighted city rate."""
    spec = load_camera_spec(CAMERA, source=str(CLIP), realtime=False)
    detector = make_detector([spec], backend=backend)
    demo = clip_rate("demo (vtest.avi)", CLIP, detector)
    with tempfile.TemporaryDirectory() as tmp:
        clips = build_clips(Path(tmp))
        scenes = [clip_rate(kind, clips[kind], detector) for kind, _ in MIX]
    mix = sum(r.per_camera_hour * w for r, (_, w) in zip(scenes, MIX, strict=True))
    return CityRate(demo, scenes, mix)


def cached(path: Path, backend: str = "auto") -> CityRate:
    """`measure()`, kept in `path` (JSON) so repeated bench runs do not re-run the clips."""
    if path.exists():
        data = json.loads(path.read_text())
        return CityRate(
            ClipRate(**data["demo"]),
            [ClipRate(**s) for s in data["scenes"]],
            data["mix_per_camera_hour"],
        )
    rate = measure(backend)
    path.write_text(json.dumps(asdict(rate), indent=1))
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--backend", default="auto")
    args = parser.parse_args()
    print(f"machine: {describe()}; load average {os.getloadavg()[0]:.1f}")
    print(measure(args.backend).describe())


if __name__ == "__main__":
    main()
