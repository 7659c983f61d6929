"""Plain records of the model registry, assignments and what boxes report. No I/O.

Times are integer microseconds since the epoch, like every other fleet record.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DETECTOR_SLOT = "detector"
SLOTS = (DETECTOR_SLOT,)

# States of a device's model slot, as `model_status` reports them. "pending": assigned,
# the box has not reported on this assignment yet (offline, or the report is on its way).
PENDING = "pending"
DOWNLOADING = "downloading"
VERIFYING = "verifying"
WARMING = "warming"
RUNNING = "running"
FAILED = "failed"
ROLLED_BACK = "rolled_back"
STATES = (PENDING, DOWNLOADING, VERIFYING, WARMING, RUNNING, FAILED, ROLLED_BACK)
#: States after which the box does nothing more on its own for that assignment.
SETTLED = (RUNNING, FAILED, ROLLED_BACK)


@dataclass(frozen=True)
class SigningKeyRecord:
    """A public key the fleet trusts for model signatures (never a private key)."""

    key_id: str
    public_key: bytes
    name: str
    added_us: int
    added_by: str
    endorsed_by: str = ""
    endorsement: bytes = b""


@dataclass(frozen=True)
class ModelVersion:
    """One stored artifact: the canonical manifest entry as signed, and its signature.

    The ONNX file and the reference frames are files in the blob store, named by the
    sha256s the manifest records (`frames`).
    """

    name: str
    version: str
    sha256: str
    size: int
    manifest: str  # canonical JSON (models.schema.canonical), exactly what was signed
    signature: bytes
    key_id: str
    pushed_us: int
    pushed_by: str
    frames: tuple[str, ...] = ()  # sha256 of each reference frame


@dataclass(frozen=True)
class Assignment:
    """What one device should run in one slot; `assignment_id` grows per (device, slot)."""

    device_id: str
    slot: str
    name: str
    version: str
    assignment_id: int
    assigned_us: int
    assigned_by: str  # API token name, or "rollout:<id>"
    sha256: str = ""  # of the ONNX file the box must end up running
    rollback: bool = False  # back to the box's kept previous model (may be a shipped one)


@dataclass(frozen=True)
class ModelRefRecord:
    """name@version (+ sha256) of a model a box runs, ran or tried; origin shipped|fleet."""

    name: str = ""
    version: str = ""
    sha256: str = ""
    origin: str = ""

    def __bool__(self) -> bool:
        return bool(self.name)

    @property
    def label(self) -> str:
        """`name@version`, or "-" when unset."""
        return f"{self.name}@{self.version}" if self.name else "-"


@dataclass(frozen=True)
class WarmupRecord:
    """The box's warm-up of an attempted model on its reference frames."""

    ok: bool = False
    frames: int = 0
    expected: int = 0
    found: int = 0
    matched: int = 0
    detail: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class ModelReportRecord:
    """A device's last report about one model slot (validated `ModelReport`)."""

    slot: str
    assignment_id: int
    state: str
    running: ModelRefRecord = field(default_factory=ModelRefRecord)
    previous: ModelRefRecord = field(default_factory=ModelRefRecord)
    attempted: ModelRefRecord = field(default_factory=ModelRefRecord)
    error: str = ""
    warmup: WarmupRecord = field(default_factory=WarmupRecord)
    bytes_done: int = 0
    bytes_total: int = 0
    at_us: int = 0  # when the box said it (bounded by admission)
    received_us: int = 0  # when the fleet stored it


@dataclass(frozen=True)
class ModelStatus:
    """The fleet's view of one device's slot: its assignment joined with its last report.

    `state` is `PENDING` while the box has not reported on the current assignment yet,
    else the state of that report. `report` is the last report whatever it was about
    (None: the box never reported this slot).
    """

    device_id: str
    slot: str
    assignment: Assignment | None
    report: ModelReportRecord | None
    state: str

    @property
    def running(self) -> ModelRefRecord:
        """What the box last said it runs (unset when it never reported)."""
        return self.report.running if self.report else ModelRefRecord()

    @property
    def error(self) -> str:
        """Why the current assignment failed or was rolled back ('' otherwise)."""
        report, assignment = self.report, self.assignment
        if report is None or assignment is None:
            return ""
        return report.error if report.assignment_id == assignment.assignment_id else ""
