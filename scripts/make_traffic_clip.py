"""Make traffic evaluation clips with known motion from real footage, deterministically.

    python scripts/make_traffic_clip.py calibration            # re-derive the scene calibration
    python scripts/make_traffic_clip.py clip SCENARIO OUT.avi  # one clip + OUT.json (truth)
    python scripts/make_traffic_clip.py truth                  # rewrite tests/data/traffic/*.json

No registry package ships road-traffic video (docs/traffic.md lists what was searched), so
the clips are built from tests/data/vtest.avi (real CCTV) and the two real vehicles parked in
it: the white panel van and the light-blue car at the top right of frame 0, cut out along
hand-traced outlines. They are driven along the road that crosses the picture from the left
border towards the junction, in both directions, at known ground speeds.

Scale comes from a camera model derived from the scene (`derive_camera`): a pinhole camera
(principal point at the image centre, no roll) whose tilt and height are fitted so that the
150 hand-labelled people of tests/data/labels/vtest_boxes.json, taken as 1.70 m tall, stand
on a flat ground plane with their heads where they were labelled (RMS error ~4.6 px); the
focal length, which people's heights alone leave free, is set so that the road measures
5.5 m from kerb to kerb (UK two-way access road, Manual for Streets) between the kerb lines
read off the median background (KERBS). Each vehicle is scaled so that its real height
(van 1.85 m, car 1.50 m) spans what the camera model gives a vertical of that height at its
ground point, and its box bottom centre is its ground reference point. The road's two lanes
are the kerb-to-kerb width halved (2.75 m each). The lamp post and sign, which stand in
front of the road, are drawn back over the vehicles.

What this cannot show: vehicles are flat cut-outs seen from behind whatever way they drive
(no side view, no 3-D box-bottom offset), and people on the road are painted over, not
occluding. The source frames run from frame 0 of vtest.avi (the first take, 404 frames).
Output is MJPEG (quality 95) at 10 fps and a JSON of every vehicle's true path, speed,
lane, direction and line-crossing time, plus how many vehicles are inside the calibrated
road region in every frame (the constructed density).
"""

from __future__ import annotations

import argparse
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from scipy.optimize import brentq, least_squares

ROOT = Path(__file__).resolve().parent.parent
VTEST = ROOT / "tests" / "data" / "vtest.avi"
LABELS = ROOT / "tests" / "data" / "labels" / "vtest_boxes.json"
TRUTH_DIR = ROOT / "tests" / "data" / "traffic"
CALIBRATION = TRUTH_DIR / "vtest_road_calibration.json"
FPS = 10.0
SIZE = (768, 576)
TAKE_FRAMES = 404  # vtest.avi is two takes spliced after frame 403
PERSON_M = 1.70
ROAD_WIDTH_M = 5.5
LANE_COUNT = 2
# Kerb lines (image pixels) read off the median background plate: the far kerb where the
# light concrete meets the car park tarmac, the near kerb where it meets the grass.
KERBS = {"far": ((20, 189), (200, 212)), "near": ((20, 243), (200, 267))}
REGION_U = (0.5, 14.5)  # calibrated stretch of road, metres along it from the near-kerb origin
LINE_U = 3.5  # counting line across the road, metres along it: left of the lamp post, in clear view
# Hand-traced outlines in frame 0 (source pixels), real heights in metres.
VEHICLES = {
    "van": (
        (
            (656, 49), (662, 45), (708, 45), (714, 50), (720, 62), (723, 78),
            (723, 94), (718, 99), (700, 100), (662, 97), (653, 93), (652, 60),
        ),
        1.85,
        "truck",
    ),
    "car": (
        ((737, 55), (742, 50), (767, 49), (767, 92), (740, 92), (735, 85), (735, 62)),
        1.50,
        "car",
    ),
}  # fmt: skip
# Lamp post and its sign stand on the grass in front of the road (x1, y1, x2, y2).
FOREGROUND = ((425, 25, 437, 392), (412, 202, 446, 245))


@dataclass(frozen=True)
class Camera:
    """Pinhole camera at height `height` m above flat ground, pitched down by `tilt` rad."""

    focal: float
    tilt: float
    height: float

    def _rotation(self) -> np.ndarray:
        c, s = math.cos(self.tilt), math.sin(self.tilt)
        return np.array([[1.0, 0, 0], [0, -s, -c], [0, c, -s]])

    def project(self, world: np.ndarray) -> np.ndarray:
        """World points (n, 3) metres (X right, Y away, Z up) -> image pixels (n, 2)."""
        cam = (np.asarray(world, float) - [0, 0, self.height]) @ self._rotation().T
        centre = np.array(SIZE, float) / 2
        return centre + self.focal * cam[:, :2] / cam[:, 2:3]

    def to_ground(self, pixels: np.ndarray) -> np.ndarray:
        """Image pixels (n, 2) -> points (n, 3) on the ground plane Z = 0."""
        p = np.asarray(pixels, float).reshape(-1, 2)
        rays = np.column_stack([(p - np.array(SIZE) / 2) / self.focal, np.ones(len(p))])
        rays = rays @ self._rotation()
        return np.array([0, 0, self.height]) + (-self.height / rays[:, 2:3]) * rays


def person_boxes() -> np.ndarray:
    """(foot x, foot y, head y) of the clearly visible, uncut labelled people."""
    rows = []
    for boxes in json.loads(LABELS.read_text())["frames"].values():
        for b in boxes:
            x1, y1, x2, y2 = b["box"]
            cut = x1 <= 1 or x2 >= SIZE[0] - 1 or y2 >= SIZE[1] - 1
            if b["label"] == "person" and not b["difficult"] and "note" not in b and not cut:
                rows.append(((x1 + x2) / 2, y2, y1))
    return np.asarray(rows, float)


def fit_people(focal: float, people: np.ndarray) -> tuple[Camera, float]:
    """Tilt and height for `focal` that put 1.70 m people's heads where labelled."""

    def residual(q: np.ndarray) -> np.ndarray:
        cam = Camera(focal, float(q[0]), float(q[1]))
        head = cam.project(cam.to_ground(people[:, :2]) + np.array([0, 0, PERSON_M]))
        return np.concatenate([head[:, 1] - people[:, 2], 0.3 * (head[:, 0] - people[:, 0])])

    fit = least_squares(residual, [0.3, 6.0], bounds=([0.0, 1.0], [1.5, 80.0]))
    rms = float(np.sqrt(np.mean(fit.fun[: len(people)] ** 2)))
    return Camera(focal, float(fit.x[0]), float(fit.x[1])), rms


def road_frame(cam: Camera) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Origin, along-road and across-road unit vectors on the ground, and kerb distance."""
    far = cam.to_ground(np.asarray(KERBS["far"], float))
    near = cam.to_ground(np.asarray(KERBS["near"], float))
    along = (far[1] - far[0]) / np.linalg.norm(far[1] - far[0])
    along += (near[1] - near[0]) / np.linalg.norm(near[1] - near[0])
    along /= np.linalg.norm(along)
    across = np.array([-along[1], along[0], 0.0])
    if (far[0] - near[0]) @ across < 0:
        across = -across
    width = float(np.mean((far - near[0]) @ across))
    return near[0], along, across, width


def derive_camera() -> tuple[Camera, float]:
    """The camera model of the scene, and its RMS head error on the labelled people."""
    people = person_boxes()

    def width_error(focal: float) -> float:
        return road_frame(fit_people(focal, people)[0])[3] - ROAD_WIDTH_M

    focal = brentq(width_error, 300.0, 5000.0, xtol=0.01)
    return fit_people(round(focal, 1), people)


class Road:
    """Road coordinates (u along, v across from the near kerb, metres) <-> image."""

    def __init__(self, cam: Camera) -> None:
        self.cam = cam
        self.origin, self.along, self.across, self.width = road_frame(cam)

    def world(self, uv: npt.ArrayLike) -> np.ndarray:
        uv = np.asarray(uv, float).reshape(-1, 2)
        return self.origin + uv[:, :1] * self.along + uv[:, 1:2] * self.across

    def image(self, uv: npt.ArrayLike) -> np.ndarray:
        return self.cam.project(self.world(uv))

    def pixels_per_metre_up(self, uv: npt.ArrayLike) -> float:
        """Image height of a 1 m vertical standing at `uv`."""
        base = self.world(uv)
        ends = self.cam.project(np.concatenate([base, base + np.array([0, 0, 1.0])]))
        return float(ends[0, 1] - ends[1, 1])

    def u_at_image_x(self, x: float, v: float) -> float:
        return float(brentq(lambda u: self.image([[u, v]])[0, 0] - x, -40.0, 60.0))


def write_calibration() -> dict[str, Any]:
    cam, rms = derive_camera()
    road = Road(cam)
    (u0, u1), w = REGION_U, road.width
    quad = [[u0, 0.0], [u1, 0.0], [u1, w], [u0, w]]
    line = road.image([[LINE_U, 0.0], [LINE_U, w]])
    step = road.image([[LINE_U + 0.5, 1.4], [LINE_U - 0.5, 1.4]])
    doc = {
        "how": "Derived by scripts/make_traffic_clip.py (see its docstring): pinhole camera "
        f"fitted to {len(person_boxes())} hand-labelled people taken as {PERSON_M} m tall "
        f"(RMS head error {rms:.1f} px), focal length set so the kerb-to-kerb road width is "
        f"{ROAD_WIDTH_M} m. A construction, not a survey: people's heights vary by about "
        "+-6 %, and so does every scale here.",
        "camera": {
            "focal_px": cam.focal,
            "tilt_rad": round(cam.tilt, 6),
            "height_m": round(cam.height, 4),
        },
        "person_fit_rms_px": round(rms, 2),
        "road_width_m": round(road.width, 3),
        "lanes": LANE_COUNT,
        "kerbs_px": KERBS,
        "calibration": {
            "image_points": np.round(road.image(quad), 2).tolist(),
            "ground_points": np.round(quad, 3).tolist(),
        },
        "line": {"u_m": LINE_U, "points": np.round(line, 2).tolist()},
        "pixels_per_metre_along_road_at_line": round(float(np.linalg.norm(step[0] - step[1])), 2),
    }
    CALIBRATION.parent.mkdir(parents=True, exist_ok=True)
    CALIBRATION.write_text(dump(doc))
    return doc


def load_road() -> tuple[Road, dict[str, Any]]:
    doc = json.loads(CALIBRATION.read_text())
    c = doc["camera"]
    return Road(Camera(c["focal_px"], c["tilt_rad"], c["height_m"])), doc


@dataclass(frozen=True)
class Drive:
    """One vehicle's drive along a lane: constant speed, or a stop on the counting line."""

    id: int
    kind: str  # key of VEHICLES
    lane: int  # 1 = near lane (v in 0..width/2), 2 = far lane
    direction: str  # "in" = rightwards on the image (u increasing), "out" = leftwards
    speed_kmh: float
    enter_s: float  # when its reference point is at the entry point, just off-screen
    stop_s: float = 0.0  # > 0: brakes to stand with its reference point on the line this long
    brake_ms2: float = 2.0

    @property
    def speed_ms(self) -> float:
        return self.speed_kmh / 3.6

    def travelled(self, t: float, to_line: float) -> float:
        """Distance covered `t` s after entering; `to_line`: entry-to-line distance."""
        v, a, dt = self.speed_ms, self.brake_ms2, t - self.enter_s
        if dt <= 0:
            return dt * v
        if self.stop_s <= 0:
            return v * dt
        brake_t, brake_d = v / a, v * v / (2 * a)
        cruise_t = (to_line - brake_d) / v
        if dt <= cruise_t:
            return v * dt
        if dt <= cruise_t + brake_t:
            s = dt - cruise_t
            return to_line - brake_d + v * s - a * s * s / 2
        go = cruise_t + brake_t + self.stop_s
        if dt <= go:
            return to_line
        s = dt - go
        return to_line + (a * s * s / 2 if s <= brake_t else brake_d + v * (s - brake_t))

    def departs_line_s(self, to_line: float) -> float:
        """When the reference point passes the line (leaves it, for a vehicle that stops)."""
        v = self.speed_ms
        if self.stop_s <= 0:
            return self.enter_s + to_line / v
        brake_t, brake_d = v / self.brake_ms2, v * v / (2 * self.brake_ms2)
        return self.enter_s + (to_line - brake_d) / v + brake_t + self.stop_s


def _free_flow() -> tuple[Drive, ...]:
    speeds = [(2, "in", 15), (1, "out", 20), (2, "in", 25), (1, "out", 30)]
    speeds += [(2, "in", 35), (1, "out", 40), (2, "in", 45), (1, "out", 50)]
    return tuple(
        Drive(i + 1, "van" if i % 2 == 0 else "car", lane, d, kmh, 1.0 + 4.5 * i)
        for i, (lane, d, kmh) in enumerate(speeds)
    )


SCENARIOS: dict[str, tuple[str, float, tuple[Drive, ...]]] = {
    "free_flow": ("one vehicle at a time, both directions, 15-50 km/h", 38.0, _free_flow()),
    "wrong_way": (
        "one-way road (rightwards); vehicle 3 drives leftwards",
        30.0,
        (
            Drive(1, "van", 1, "in", 25, 1.0),
            Drive(2, "car", 2, "in", 30, 6.0),
            Drive(3, "van", 1, "out", 25, 11.0),
            Drive(4, "car", 1, "in", 20, 17.0),
            Drive(5, "van", 2, "in", 30, 22.0),
        ),
    ),
    "congestion": (
        "two free vehicles, then a queue of six at 6 km/h, 7 m apart, in the near lane",
        40.0,
        (
            Drive(1, "car", 1, "in", 30, 1.0),
            Drive(2, "van", 1, "in", 30, 6.0),
            *(Drive(3 + i, "van" if i % 2 else "car", 1, "in", 6, 12 + 4.2 * i) for i in range(6)),
        ),
    ),
    "two_lanes": (
        "pairs side by side: opposite ways, both rightwards, both leftwards",
        30.0,
        (
            Drive(1, "van", 1, "out", 30, 1.0),
            Drive(2, "car", 2, "in", 25, 1.3),
            Drive(3, "car", 1, "in", 20, 10.0),
            Drive(4, "van", 2, "in", 20, 10.0),
            Drive(5, "car", 1, "out", 35, 20.0),
            Drive(6, "van", 2, "out", 30, 20.2),
        ),
    ),
    "stop_on_line": (
        "van stops 8 s with its bottom centre on the line; a car passes meanwhile",
        30.0,
        (Drive(1, "van", 1, "in", 20, 1.0, stop_s=8.0), Drive(2, "car", 2, "in", 25, 6.0)),
    ),
}


def cut_vehicle(frame: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Pixels (float32) and soft mask (0..1) inside the vehicle's traced outline."""
    poly = np.asarray(VEHICLES[kind][0], np.int32)
    x1, y1 = poly.min(axis=0)
    x2, y2 = poly.max(axis=0) + 1
    hard = np.zeros(frame.shape[:2], np.float32)
    cv2.fillPoly(hard, [poly], 1.0)
    soft = np.asarray(cv2.GaussianBlur(hard, (3, 3), 0))
    return frame[y1:y2, x1:x2].astype(np.float32), soft[y1:y2, x1:x2]


def paste(
    out: np.ndarray, patch: np.ndarray, mask: np.ndarray, foot: np.ndarray, scale: float
) -> list[float]:
    """Blend `patch` into `out` (float32, in place) with its bottom centre at `foot`."""
    h, w = patch.shape[:2]
    box = [foot[0] - scale * w / 2, foot[1] - scale * h, foot[0] + scale * w / 2, foot[1]]
    x1, y1 = max(math.floor(box[0]), 0), max(math.floor(box[1]), 0)
    x2, y2 = min(math.ceil(box[2]), SIZE[0]), min(math.ceil(box[3]), SIZE[1])
    if x2 <= x1 or y2 <= y1:
        return box
    m = np.array([[scale, 0, box[0] - x1], [0, scale, box[1] - y1]], np.float32)
    size = (x2 - x1, y2 - y1)
    flags = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    pix = cv2.warpAffine(patch, m, size, flags=flags, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpAffine(mask, m, size, flags=cv2.INTER_LINEAR)[..., None]
    region = out[y1:y2, x1:x2]
    out[y1:y2, x1:x2] = region * (1 - alpha) + pix * alpha
    return box


def read_frames(count: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(VTEST))
    frames: list[np.ndarray] = []
    while len(frames) < count:
        ok, frame = cap.read()
        if not ok:
            raise SystemExit(f"{VTEST}: ended at frame {len(frames)}")
        frames.append(frame)
    cap.release()
    return frames


def _lane_v(road: Road, lane: int) -> float:
    return (lane - 0.5) * road.width / LANE_COUNT


class Route:
    """Where a drive is at any time: entry and exit just beyond the picture's sides."""

    def __init__(self, road: Road, drive: Drive, margin_px: float = 70.0) -> None:
        self.v = _lane_v(road, drive.lane)
        left = road.u_at_image_x(-margin_px, self.v)
        right = road.u_at_image_x(SIZE[0] + margin_px, self.v)
        self.sign = 1.0 if drive.direction == "in" else -1.0
        self.entry, self.exit = (left, right) if self.sign > 0 else (right, left)
        self.to_line = abs(LINE_U - self.entry)
        self.drive = drive

    def u(self, t: float) -> float:
        return self.entry + self.sign * self.drive.travelled(t, self.to_line)

    def on_road(self, u: float) -> bool:
        lo, hi = sorted((self.entry, self.exit))
        return lo <= u <= hi


def draw_vehicles(
    image: np.ndarray,
    road: Road,
    routes: list[Route],
    patches: dict[str, tuple[np.ndarray, np.ndarray]],
    *,
    k: int,
    paths: dict[int, list[list[float]]],
) -> int:
    """Paste every vehicle on the road in clip frame `k`, farthest first; record each
    one's box in `paths`; return how many stand inside the calibrated region."""
    placed = []
    for route in routes:
        u = route.u(k / FPS)
        if route.on_road(u):
            foot = road.image([[u, route.v]])[0]
            placed.append((foot[1], route, u, foot))
    inside = 0
    for _, route, u, foot in sorted(placed, key=lambda p: p[0]):
        kind = route.drive.kind
        patch, mask = patches[kind]
        scale = VEHICLES[kind][1] * road.pixels_per_metre_up([[u, route.v]]) / patch.shape[0]
        box = paste(image, patch, mask, foot, scale)
        paths[route.drive.id].append([k, round(u, 3), *(round(b, 1) for b in box)])
        inside += REGION_U[0] <= u <= REGION_U[1]
    return inside


def vehicle_truth(route: Route, path: list[list[float]]) -> dict[str, Any]:
    d = route.drive
    crossing = d.departs_line_s(route.to_line)
    return {
        "id": d.id,
        "kind": d.kind,
        "detector_label": VEHICLES[d.kind][2],
        "lane": d.lane,
        "direction": d.direction,
        "speed_kmh": d.speed_kmh,
        "stops_on_line_s": d.stop_s,
        "enter_s": d.enter_s,
        "crossing_time_s": round(crossing, 3),
        "crossing_frame": math.ceil(crossing * FPS - 1e-9),
        "path_columns": ["frame", "u_m", "x1", "y1", "x2", "y2"],
        "path": path,
    }


def render(name: str, out: Path | None) -> dict[str, Any]:
    """Write the clip (unless `out` is None) and return its truth document."""
    description, seconds, drives = SCENARIOS[name]
    road, calib = load_road()
    count = round(seconds * FPS)
    if count > TAKE_FRAMES:
        raise SystemExit(f"{name}: {count} frames is longer than vtest.avi's first take")
    frames = read_frames(count)
    patches = {kind: cut_vehicle(frames[0], kind) for kind in VEHICLES}
    routes = [Route(road, d) for d in drives]
    writer = None
    if out is not None:
        writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*"MJPG"), FPS, SIZE)
        writer.set(cv2.VIDEOWRITER_PROP_QUALITY, 95)
    paths: dict[int, list[list[float]]] = {d.id: [] for d in drives}
    in_region: list[int] = []
    for k, source in enumerate(frames):
        image = source.astype(np.float32)
        in_region.append(draw_vehicles(image, road, routes, patches, k=k, paths=paths))
        for x1, y1, x2, y2 in FOREGROUND:
            image[y1:y2, x1:x2] = source[y1:y2, x1:x2]
        if writer is not None:
            writer.write(np.clip(image, 0, 255).astype(np.uint8))
    if writer is not None:
        writer.release()
    vehicles = [vehicle_truth(route, paths[route.drive.id]) for route in routes]
    region_m = REGION_U[1] - REGION_U[0]
    return {
        "scenario": name,
        "description": description,
        "source": "tests/data/vtest.avi",
        "source_frames": [0, count - 1],
        "fps": FPS,
        "frames": count,
        "calibration_file": str(CALIBRATION.relative_to(ROOT)),
        "calibration": calib["calibration"],
        "line": calib["line"]["points"],
        "lanes": LANE_COUNT,
        "region_length_m": region_m,
        "in_region": in_region,
        "vehicles": vehicles,
    }


def dump(doc: dict[str, Any]) -> str:
    """JSON with each innermost list (a path row, a point) on one line: small, diffable."""
    text = json.dumps(doc, indent=1)
    flat = re.sub(r"\[\s+([^\[\]{}]*?)\s+\]", lambda m: "[" + " ".join(m[1].split()) + "]", text)
    return flat + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("calibration", help="re-derive tests/data/traffic/vtest_road_calibration.json")
    clip = sub.add_parser("clip", help="write one clip and its truth JSON beside it")
    clip.add_argument("scenario", choices=sorted(SCENARIOS))
    clip.add_argument("out", type=Path)
    sub.add_parser("truth", help="rewrite the committed truth JSONs (no video)")
    args = parser.parse_args()
    if args.command == "calibration":
        doc = write_calibration()
        print(json.dumps({k: doc[k] for k in ("camera", "person_fit_rms_px", "road_width_m")}))
    elif args.command == "clip":
        truth = render(args.scenario, args.out)
        args.out.with_suffix(".json").write_text(dump(truth))
        print(f"{args.out}: {args.scenario}, {len(truth['vehicles'])} vehicles")
    else:
        for name in SCENARIOS:
            path = TRUTH_DIR / f"{name}.json"
            path.write_text(dump(render(name, None)))
            print(path)


if __name__ == "__main__":
    main()
