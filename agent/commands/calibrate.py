"""`oko-agent calibrate`: make a traffic rule's ground-plane calibration a person can trust.

Speed needs four image points whose ground positions are known in metres. Step 1 writes
one frame with a labelled pixel grid, to read the points' pixels from (kerb corners, lane
marking ends, parking bay corners - anything flat on the road whose spacing can be
measured or is standard). Step 2 takes the points and their metres, draws the resulting
1 m ground grid back on the frame (a wrong point shows as a grid that does not sit on the
road), and checks the mapping against lengths measured independently (`--check`): the
error printed there is the error every speed will have. It prints the `calibration:`
block for the camera's traffic rule, `surveyed: true` only when every check holds.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import cv2
import numpy as np
import typer
import yaml
from pydantic import ValidationError

from agent.analytics.traffic import GroundPlane
from agent.config.analytics import CalibrationConfig
from agent.errors import ConfigError, OkoError
from agent.media import read_media

GRID_PX = 50


def parse_points(text: str, what: str) -> list[tuple[float, float]]:
    """'x,y x,y ...' -> points; a ConfigError naming `what` if it is not that."""
    try:
        pts = [tuple(float(v) for v in p.split(",")) for p in text.split()]
    except ValueError as err:
        raise ConfigError(f"{what}: {text!r} is not 'x,y x,y ...' numbers") from err
    if any(len(p) != 2 or not all(math.isfinite(v) for v in p) for p in pts):
        raise ConfigError(f"{what}: every point is two finite numbers 'x,y'")
    return [(p[0], p[1]) for p in pts]


def parse_check(text: str) -> tuple[tuple[float, float], tuple[float, float], float]:
    """'x1,y1 x2,y2 METRES' -> two image points and the true distance between them."""
    parts = text.split()
    if len(parts) != 3:
        raise ConfigError(f"--check: {text!r} is not 'x1,y1 x2,y2 METRES'")
    a, b = parse_points(" ".join(parts[:2]), "--check")
    try:
        metres = float(parts[2])
    except ValueError as err:
        raise ConfigError(f"--check: length {parts[2]!r} is not a number") from err
    if not 0 < metres < 10_000:
        raise ConfigError(f"--check: length {metres} m is not a positive distance")
    return a, b, metres


def grid_frame(image: np.ndarray) -> np.ndarray:
    """The frame with a pixel grid every GRID_PX pixels, labelled, to read points from."""
    out = image.copy()
    h, w = out.shape[:2]
    for x in range(0, w, GRID_PX):
        cv2.line(out, (x, 0), (x, h - 1), (0, 255, 255), 1)
        cv2.putText(out, str(x), (x + 2, 12), cv2.FONT_HERSHEY_PLAIN, 0.8, (0, 255, 255), 1)
    for y in range(0, h, GRID_PX):
        cv2.line(out, (0, y), (w - 1, y), (0, 255, 255), 1)
        cv2.putText(out, str(y), (2, y - 2), cv2.FONT_HERSHEY_PLAIN, 0.8, (0, 255, 255), 1)
    return out


def ground_grid_frame(image: np.ndarray, plane: GroundPlane, ground: np.ndarray) -> np.ndarray:
    """The frame with the calibrated quad and a 1 m ground grid over it."""
    out = image.copy()
    lo, hi = np.floor(ground.min(axis=0)), np.ceil(ground.max(axis=0))
    lines = [[[x, lo[1]], [x, hi[1]]] for x in np.arange(lo[0], hi[0] + 1)]
    lines += [[[lo[0], y], [hi[0], y]] for y in np.arange(lo[1], hi[1] + 1)]
    for ground_line in lines:
        a, b = np.round(plane.to_image(ground_line)).astype(int).tolist()
        cv2.line(out, (a[0], a[1]), (b[0], b[1]), (0, 200, 255), 1)
    quad = np.round(plane.image_quad).astype(np.int32)
    cv2.polylines(out, [quad], True, (0, 0, 255), 2)
    for i, (x, y) in enumerate(quad.tolist()):
        cv2.circle(out, (x, y), 4, (0, 0, 255), -1)
        cv2.putText(out, f"P{i + 1}", (x + 5, y - 5), cv2.FONT_HERSHEY_PLAIN, 1.0, (0, 0, 255), 1)
    return out


def point_sensitivity(cal: CalibrationConfig, a: np.ndarray, b: np.ndarray) -> float:
    """Largest relative change of the a-b ground length when one calibration point moves 1 px.

    Each point is moved in x and in y: this is how much a point misread by a pixel moves
    every speed.
    """
    base = GroundPlane(cal).distance_m(a, b)
    worst = 0.0
    for i in range(4):
        for d in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            pts = [list(p) for p in cal.image_points]
            pts[i] = [pts[i][0] + d[0], pts[i][1] + d[1]]
            moved = cal.model_copy(update={"image_points": tuple(tuple(p) for p in pts)})
            try:
                worst = max(worst, abs(GroundPlane(moved).distance_m(a, b) / base - 1))
            except ConfigError:
                return math.inf
    return worst


def _first_frame(video: Path, frame: int) -> np.ndarray:
    for _, image in read_media(video, every=max(frame, 1), max_frames=2):
        if frame == 0:
            return image
        frame = 0  # the second yielded frame is frame `every`
    raise ConfigError(f"--frame: {video} has no frame {frame}")


def calibrate(
    video: Annotated[Path, typer.Argument(help="Video (or image) from the camera.")],
    out: Annotated[
        Path | None, typer.Option(help="Picture to write (default: VIDEO.calibration.png).")
    ] = None,
    frame: Annotated[int, typer.Option(min=0, help="Frame to draw on.")] = 0,
    image_points: Annotated[
        str | None, typer.Option(help="Four pixels on the road: 'x,y x,y x,y x,y'.")
    ] = None,
    ground_points: Annotated[
        str | None, typer.Option(help="The same four points in metres: 'x,y x,y x,y x,y'.")
    ] = None,
    check: Annotated[
        list[str] | None,
        typer.Option(help="'x1,y1 x2,y2 METRES': a known length on the road; repeatable."),
    ] = None,
    tolerance: Annotated[
        float, typer.Option(min=0.1, max=50.0, help="Largest check error (%) for surveyed.")
    ] = 5.0,
) -> None:
    """Pick and check the four ground points of a traffic rule's speed calibration.

    Without points: writes the frame with a pixel grid to read points from. With
    --image-points and --ground-points: draws the 1 m ground grid they imply, checks each
    --check length and prints the `calibration:` block for the camera's config.
    """
    try:
        _calibrate(video, out, frame, image_points, ground_points, check or [], tolerance)
    except OkoError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from err


def _calibrate(
    video: Path,
    out: Path | None,
    frame: int,
    image_points: str | None,
    ground_points: str | None,
    checks: list[str],
    tolerance: float,
) -> None:
    image = _first_frame(video, frame)
    out = out or video.with_suffix(".calibration.png")
    if image_points is None or ground_points is None:
        if image_points or ground_points:
            raise ConfigError("give both --image-points and --ground-points, or neither")
        cv2.imwrite(str(out), grid_frame(image))
        typer.echo(
            f"{out}: frame {frame} with a {GRID_PX} px grid. Read four points on the road "
            "whose ground positions you know (kerb corners, bay corners, lane marks), then "
            "run again with --image-points, --ground-points and --check."
        )
        return
    try:
        cal = CalibrationConfig.model_validate(
            {
                "image_points": parse_points(image_points, "--image-points"),
                "ground_points": parse_points(ground_points, "--ground-points"),
            }
        )
    except ValidationError as err:
        first = err.errors()[0]
        raise ConfigError(f"{first['loc'][0]}: {first['msg']}") from err
    plane = GroundPlane(cal)
    ground = np.asarray(cal.ground_points, np.float64)
    cv2.imwrite(str(out), ground_grid_frame(image, plane, ground))
    typer.echo(f"{out}: the calibrated quad (red) and a 1 m ground grid (orange)")
    surveyed = bool(checks)
    for text in checks:
        a, b, metres = parse_check(text)
        measured = plane.distance_m(a, b)
        err_pct = 100.0 * (measured - metres) / metres
        per_px = 100.0 * point_sensitivity(cal, np.asarray(a), np.asarray(b))
        ok = abs(err_pct) <= tolerance
        surveyed &= ok
        typer.echo(
            f"check {text}: measured {measured:.2f} m, error {err_pct:+.1f} % "
            f"({'ok' if ok else 'over ' + str(tolerance) + ' %'}); one calibration point "
            f"misread by 1 px moves it by up to {per_px:.1f} %"
        )
    if not checks:
        typer.echo("no --check given: the calibration is unverified (surveyed: false)")
    block = {"calibration": {**cal.model_dump(mode="json"), "surveyed": surveyed}}
    typer.echo(yaml.safe_dump(block, default_flow_style=None, sort_keys=False).rstrip())
