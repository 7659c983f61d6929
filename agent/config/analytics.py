"""Per-camera analytics rules: lines, zones, traffic flow, abandoned objects.

Coordinates are source-image pixels (x right, y down) of the camera's full frame; ground
points are metres on a flat local ground plane. Class names are the detector's labels
(checked against the loaded model when the rules are built, because the config is validated
before any model is loaded).

Cross-references (a traffic rule naming a line) are checked here so an operator's typo is
rejected when the document is accepted, with the offending field named in the message.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from agent.config.base import ID_PATTERN, Section
from agent.config.tracking import TrackerConfig

Coordinate = Annotated[float, Field(ge=-100_000, le=100_000)]
Point = tuple[Coordinate, Coordinate]
RuleId = Annotated[
    str,
    Field(
        pattern=ID_PATTERN,
        description="Identifier: letters, digits, '_', '.', '-'.",
    ),
]
ClassName = Annotated[str, Field(min_length=1, max_length=64)]
Direction = Literal["in", "out"]

VEHICLES = ("bicycle", "car", "motorcycle", "bus", "truck")
BAGS = ("backpack", "handbag", "suitcase")


def _no_three_collinear(points: tuple[Point, ...], what: str) -> None:
    xs = [float(p[0]) for p in points]
    ys = [float(p[1]) for p in points]
    scale = max(max(xs) - min(xs), max(ys) - min(ys), 1e-9)
    for i in range(4):
        a, b, c = (points[j] for j in range(4) if j != i)
        cross = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
        if abs(cross) < 1e-6 * scale * scale:
            raise ValueError(
                f"{what}: three of the four points are (nearly) on one line; "
                "pick four corners of a quadrilateral"
            )


class LineConfig(Section):
    """A counting line segment from `points[0]` to `points[1]`.

    Direction "in" is a crossing from the left of the start->end vector to its right, as
    seen on the image (y down); "out" is the reverse.
    """

    id: RuleId = Field(description="Unique line id within the camera.")
    points: tuple[Point, Point] = Field(description="Start and end of the segment in pixels.")
    classes: tuple[ClassName, ...] = Field(
        default=("person",),
        min_length=1,
        max_length=80,
        description="Detector labels that are counted on this line.",
    )
    hysteresis_px: float = Field(
        default=8.0,
        ge=0.0,
        le=500.0,
        description="Half-width of a dead band around the line; a bottom-centre inside it "
        "changes nothing, so boxes that jitter or straddle the line count once.",
    )
    min_frames: int = Field(
        default=1,
        ge=1,
        le=50,
        description="Consecutive frames a track must be seen beyond the band on the new side "
        "before the crossing counts.",
    )
    in_name: str = Field(
        default="in",
        min_length=1,
        max_length=64,
        description="Human name of direction 'in', e.g. 'northbound'.",
    )
    out_name: str = Field(
        default="out", min_length=1, max_length=64, description="Human name of direction 'out'."
    )

    @field_validator("points")
    @classmethod
    def _not_degenerate(cls, v: tuple[Point, Point]) -> tuple[Point, Point]:
        if math.hypot(v[1][0] - v[0][0], v[1][1] - v[0][1]) < 1.0:
            raise ValueError("start and end must be at least 1 pixel apart")
        return v


class ZoneConfig(Section):
    """A polygon zone: occupancy, dwell time and loitering alerts."""

    id: RuleId = Field(description="Unique zone id within the camera.")
    polygon: tuple[Point, ...] = Field(
        min_length=3, max_length=64, description="Vertices in pixels, in drawing order."
    )
    classes: tuple[ClassName, ...] = Field(
        default=("person",),
        min_length=1,
        max_length=80,
        description="Detector labels that occupy the zone.",
    )
    loiter_seconds: float = Field(
        default=60.0,
        gt=0.0,
        le=86_400.0,
        description="Dwell time after which one loitering alert is raised per visit.",
    )
    exit_grace_seconds: float = Field(
        default=1.0,
        ge=0.0,
        le=600.0,
        description="A track must stay outside (or undetected) this long to have left, so "
        "boundary jitter and short occlusions do not split a visit.",
    )

    @field_validator("polygon")
    @classmethod
    def _has_area(cls, v: tuple[Point, ...]) -> tuple[Point, ...]:
        # Shoelace formula; plain floats keep the config package free of numpy.
        area = 0.5 * abs(
            math.fsum(
                x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(v, v[1:] + v[:1], strict=True)
            )
        )
        if area < 1.0:
            raise ValueError("polygon encloses no area (points are collinear or repeated)")
        return v


class CalibrationConfig(Section):
    """Four image points and the same four points on the ground, in metres."""

    image_points: tuple[Point, Point, Point, Point] = Field(
        description="Four pixels on the road surface, e.g. lane-marking corners."
    )
    ground_points: tuple[Point, Point, Point, Point] = Field(
        description="The same four points in metres on a local flat ground frame."
    )
    surveyed: bool = Field(
        default=False,
        description="True once the ground points were measured on site and the result "
        "checked against a known length (`oko-agent calibrate VIDEO --check ...`). "
        "Until then speeds are reported as uncalibrated estimates.",
    )

    @field_validator("image_points", "ground_points")
    @classmethod
    def _quadrilateral(cls, v: tuple[Point, Point, Point, Point]) -> tuple[Point, ...]:
        _no_three_collinear(v, "points")
        return v


class TrafficConfig(Section):
    """Traffic flow on one line: counts, speed, density/congestion, wrong way."""

    line_id: RuleId = Field(description="Id of a line in `lines` whose crossings are counted.")
    interval_seconds: float = Field(
        default=60.0,
        ge=1.0,
        le=86_400.0,
        description="Reporting interval; intervals are aligned to multiples of this on the "
        "capture clock so cameras aggregate together.",
    )
    classes: tuple[ClassName, ...] = Field(
        default=VEHICLES, min_length=1, max_length=80, description="Vehicle labels counted."
    )
    calibration: CalibrationConfig = Field(description="Ground-plane calibration.")
    speed_window_seconds: float = Field(
        default=1.0,
        ge=0.2,
        le=10.0,
        description="Ground distance is measured over this much track history for speed.",
    )
    speed_limit_kmh: float | None = Field(
        default=None,
        gt=0.0,
        le=300.0,
        description="Vehicles measured above this are counted as speeding; none if unset.",
    )
    expected_direction: Direction | None = Field(
        default=None,
        description="Allowed travel direction over the line ('in' or 'out'); "
        "crossings the other way raise wrong-way alerts. Unset: "
        "two-way traffic, no wrong-way alerts.",
    )
    lanes: int = Field(
        default=1,
        ge=1,
        le=16,
        description="Lanes the line spans. The line is taken to run kerb to kerb across "
        "the road: lanes are equal slices of its ground length, lane 1 at points[0], "
        "and each crossing is counted in the lane where it crossed. Also divides density.",
    )
    region_length_m: float | None = Field(
        default=None,
        gt=0.0,
        le=5_000.0,
        description="Road length covered by the calibration quad along the direction of "
        "travel; if unset it is measured from ground_points across the line.",
    )
    congestion_density_per_km_lane: tuple[float, float, float] = Field(
        default=(11.0, 22.0, 40.0),
        description="Vehicles per km per lane at which congestion becomes moderate, heavy, "
        "jam (ascending).",
    )

    @field_validator("congestion_density_per_km_lane")
    @classmethod
    def _ascending(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        if not 0 < v[0] < v[1] < v[2] <= 1000:
            raise ValueError("thresholds must be positive, strictly ascending and <= 1000")
        return v


class StaticBackgroundConfig(Section):
    """The two backgrounds that find new static objects, whatever their class.

    A long-term background (what the scene normally looks like) and a short-term one (what
    it looked like a moment ago) are kept on a small grey copy of each frame. Pixels that
    differ from the long-term one but not from the short-term one belong to something that
    arrived and stopped. Global changes (exposure, a cut, a bumped camera) re-learn both.
    """

    work_width: int = Field(
        default=256,
        ge=64,
        le=1280,
        description="Width (pixels) the frame is shrunk to for the background models.",
    )
    diff_threshold: int = Field(
        default=22,
        ge=2,
        le=200,
        description="Grey-level difference from a background that counts as different.",
    )
    short_term_seconds: float = Field(
        default=1.5,
        ge=0.1,
        le=60.0,
        description="Time constant of the short-term background: something still for about "
        "this long stops differing from it.",
    )
    settle_seconds: float = Field(
        default=2.0,
        ge=0.0,
        le=600.0,
        description="A pixel must have been static this long before it counts, so people "
        "pausing mid-stride are not reported.",
    )
    long_term_seconds: float = Field(
        default=120.0,
        ge=1.0,
        le=86_400.0,
        description="Time constant with which the long-term background follows slow lighting "
        "drift where nothing stands in front of it.",
    )
    absorb_seconds: float = Field(
        default=900.0,
        ge=10.0,
        le=604_800.0,
        description="An object static this long becomes background (it stays alerted; it "
        "is no longer watched).",
    )
    warmup_seconds: float = Field(
        default=3.0,
        ge=0.0,
        le=600.0,
        description="After the camera starts or the scene re-learns, nothing is reported for "
        "this long: what is there then is background.",
    )
    relearn_fraction: float = Field(
        default=0.3,
        gt=0.0,
        le=1.0,
        description="When more than this share of the picture differs from the long-term "
        "background after exposure correction, the scene changed (cut, bumped camera): both "
        "backgrounds are re-learnt and no object is reported.",
    )
    idle_interval_s: float = Field(
        default=0.8,
        ge=0.0,
        le=1.0,
        description="While the motion gate sees nothing move anywhere in the picture, the "
        "model is updated at most this often (its last objects stand in between): "
        "nothing can arrive unseen, and its clocks are in seconds, not frames. At most "
        "the 1 s an object may go unseen before it ends; 0 updates on every frame.",
    )
    shadow_ratio: tuple[float, float] = Field(
        default=(0.55, 0.95),
        description="A pixel darkened to between these fractions of the background, with "
        "the background's texture still visible, is a shadow, not an object.",
    )
    min_contrast: float = Field(
        default=50.0,
        ge=0.0,
        le=255.0,
        description="Mean grey-level difference from the background a static region needs "
        "to be reported: a bag stands out from the floor (~100 for a dark bag on a road); "
        "barrier tape moved by the wind, damp patches and blur at edges (~35) do not.",
    )
    min_area_px: int = Field(
        default=150,
        ge=1,
        le=10_000_000,
        description="Smallest static object reported (source pixels, area of its mask).",
    )
    max_area_fraction: float = Field(
        default=0.05,
        gt=0.0,
        le=1.0,
        description="Static regions larger than this share of the picture are not objects "
        "left behind (a parked car, a changed scene).",
    )

    @field_validator("shadow_ratio")
    @classmethod
    def _ratio_order(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not 0.0 < v[0] < v[1] <= 1.0:
            raise ValueError("must be two fractions with 0 < low < high <= 1")
        return v


class AbandonedConfig(Section):
    """Abandoned object: something new that stays put while whoever left it is away.

    Objects come from the static-object model (`background`), so any class counts; the
    detector's bag labels (`classes`), when one covers the object, name it and raise the
    alert's confidence. People and vehicles standing still are not objects left behind.
    """

    classes: tuple[ClassName, ...] = Field(
        default=BAGS,
        max_length=80,
        description="Detector labels that name a static object when a detection of one "
        "covers it (and raise the alert's confidence); objects are found without them.",
    )
    person_classes: tuple[ClassName, ...] = Field(
        default=("person",),
        min_length=1,
        max_length=8,
        description="Labels of the people who own and attend objects.",
    )
    vehicle_classes: tuple[ClassName, ...] = Field(
        default=VEHICLES,
        max_length=16,
        description="Labels whose tracks, when they cover a static region, make it a "
        "stopped vehicle rather than an object left behind.",
    )
    stationary_seconds: float = Field(
        default=30.0, gt=0.0, le=86_400.0, description="T: the object must not move for this long."
    )
    unattended_seconds: float = Field(
        default=20.0,
        ge=0.0,
        le=86_400.0,
        description="T2: the owner must be beyond the radius (and nobody standing on the "
        "object) for this long; passers-by neither attend nor reset it.",
    )
    radius_scale: float = Field(
        default=3.0,
        gt=0.0,
        le=100.0,
        description="R: attending radius in multiples of the object's larger box side, so "
        "the radius shrinks with distance from the camera.",
    )
    owner_radius_scale: float = Field(
        default=1.5,
        gt=0.0,
        le=200.0,
        description="The person nearest the object when it appeared (from 3 s before to 1 s "
        "after), if within this many object sides, is remembered as its owner.",
    )
    require_owner: bool = Field(
        default=True,
        description="Only objects someone was at when they appeared can alert; things that "
        "change with nobody near (tape in the wind, puddles) then never do.",
    )
    cover_fraction: float = Field(
        default=0.5,
        gt=0.0,
        le=1.0,
        description="A static region this much covered by the box of a person or vehicle "
        "track that stands still is that person or vehicle; it cannot alert while so covered "
        "(a track moving across it is someone walking past the object).",
    )
    clear_seconds: float = Field(
        default=5.0,
        gt=0.0,
        le=3_600.0,
        description="An alerted object no longer seen for this long is reported as cleared "
        "(taken away).",
    )
    background: StaticBackgroundConfig = Field(
        default_factory=StaticBackgroundConfig,
        description="The static-object model that finds the objects.",
    )

    @model_validator(mode="after")
    def _absorb_after_alert(self) -> AbandonedConfig:
        if self.background.absorb_seconds <= self.stationary_seconds + self.unattended_seconds:
            raise ValueError(
                "background.absorb_seconds must exceed stationary_seconds + unattended_seconds: "
                "an object absorbed into the background before it could alert never would"
            )
        return self


class FaceConfig(Section):
    """Faces: best face shot per person track, embedded for watchlist matching.

    Head crops of confirmed person tracks go through the face detector; faces that pass
    the gates are aligned and embedded, and each track reports its best shot once.
    """

    enabled: bool = Field(default=True, description="Run the faces analytic on this camera.")
    detector: Literal["centerface", "blazeface-back"] = Field(
        default="centerface",
        description="Face detector model. CenterFace (5 landmarks, mouth corners) found more "
        "faces than BlazeFace-back at every face size measured (docs/faces.md). One box loads "
        "one detector: all its face cameras must name the same one.",
    )
    embedder: Literal["faceres", "dlib-resnet"] = Field(
        default="faceres",
        description="Face embedder model. FaceRes is the default (docs/faces.md, 'Embedder "
        "choice'); dlib-resnet is dlib's public-domain ResNet on dlib's own 150 px chip. "
        "Events carry the embedder's name and version, and the fleet matches them only "
        "against a gallery of that embedder (okoctl watchlist reembed). One box loads one "
        "embedder: all its face cameras must name the same one.",
    )
    min_face_px: float = Field(
        default=20.0,
        ge=8.0,
        le=1_000.0,
        description="Faces narrower than this (source pixels) are ignored: the face models "
        "were verified down to ~20 px; CCTV-distance faces (~8 px) give no "
        "usable identity.",
    )
    score_threshold: float = Field(
        default=0.75,
        ge=0.0,
        le=1.0,
        description="Face detector score a face needs. Above the models' 0.5 default: in "
        "CCTV head crops BlazeFace scores hair, collars and signs at 0.5-0.72, "
        "while real faces of 20 px and more score 0.77+ (models/README.md); "
        "CenterFace's few false faces in vtest head crops score below 0.65 "
        "(docs/faces.md).",
    )
    min_quality: float = Field(
        default=0.4,
        ge=0.0,
        le=1.0,
        description="Quality (0..1: size, sharpness, pose, score) a face needs to be kept; "
        "0.4 rejects faces blurred by more than ~3 % of their width.",
    )
    emit_quality: float = Field(
        default=0.9,
        ge=0.0,
        le=1.0,
        description="A track whose best shot reaches this quality is reported at once, "
        "then never again; below it the best shot is reported when the track "
        "ends.",
    )
    max_faces_per_frame: int = Field(
        default=4,
        ge=1,
        le=64,
        description="Head crops examined per frame (compute budget); larger persons and "
        "tracks without a good shot yet go first.",
    )
    track_lost_seconds: float = Field(
        default=2.0,
        gt=0.0,
        le=600.0,
        description="A person track unseen this long has ended and its best shot is reported.",
    )
    encoding: Literal["float16", "int8"] = Field(
        default="float16", description="Wire encoding of the embedding."
    )
    best_shot_dir: str | None = Field(
        default=None,
        min_length=1,
        max_length=4_096,
        description="Folder on the box where each reported best shot is kept as "
        "<event id>.jpg; none kept if unset. Face images never leave the box.",
    )
    shot_retention_hours: float = Field(
        default=24.0,
        gt=0.0,
        le=24.0 * 30,
        description="Best shots are deleted this long after they were written: as long "
        "as the fleet keeps unmatched face embeddings by default (retention.face_hours), "
        "so the fleet can ask for the shot of any alert it can still raise.",
    )

    @model_validator(mode="after")
    def _ordered(self) -> FaceConfig:
        if self.emit_quality < self.min_quality:
            raise ValueError(
                f"emit_quality ({self.emit_quality}) must not be below "
                f"min_quality ({self.min_quality})"
            )
        return self


class CameraAnalyticsConfig(Section):
    """Everything one camera runs after detection: the tracker and the rules."""

    tracker: TrackerConfig = Field(default_factory=TrackerConfig, description="Tracker thresholds.")
    lines: tuple[LineConfig, ...] = Field(default=(), max_length=64, description="Counting lines.")
    zones: tuple[ZoneConfig, ...] = Field(default=(), max_length=64, description="Polygon zones.")
    traffic: tuple[TrafficConfig, ...] = Field(
        default=(), max_length=64, description="Traffic flow rules on lines."
    )
    abandoned: AbandonedConfig | None = Field(
        default=None, description="Abandoned object rule; off when absent."
    )
    faces: FaceConfig | None = Field(
        default=None, description="Faces analytic (best shot per person track); off when absent."
    )

    @model_validator(mode="after")
    def _references(self) -> CameraAnalyticsConfig:
        for field_name, ids in (
            ("lines", [x.id for x in self.lines]),
            ("zones", [x.id for x in self.zones]),
        ):
            for i, rule_id in enumerate(ids):
                if rule_id in ids[:i]:
                    raise ValueError(f"{field_name}[{i}].id: duplicate id {rule_id!r}")
        line_ids = {line.id for line in self.lines}
        traffic_lines: set[str] = set()
        for i, rule in enumerate(self.traffic):
            if rule.line_id not in line_ids:
                raise ValueError(
                    f"traffic[{i}].line_id: {rule.line_id!r} is not the id of a "
                    f"line (known: {sorted(line_ids) or 'none'})"
                )
            if rule.line_id in traffic_lines:
                raise ValueError(
                    f"traffic[{i}].line_id: line {rule.line_id!r} already has a traffic rule"
                )
            traffic_lines.add(rule.line_id)
        return self
