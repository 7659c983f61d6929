"""`EdgeBox`: the live agent - every camera of the box, one shared detector, spool, uplink.

    readers -> motion gates -> one InferenceWorker -> per camera: tracker + rules ->
    EventMinter -> spool (-> UplinkClient to the fleet, when enrolled) [-> JSONL sink]

The flow is one-way: stages hand results forward and nothing downstream calls back up.
Everything after detection runs on each camera's own thread; the spool is the single
durable hand-over to the uplink, which runs its own asyncio loop on another thread.
The box owns its durable parts (`BoxParts`: identity store, spool, metrics, desired state,
uplink client) and hands each what it needs; nothing reaches through one part to another.
Model assignments from the fleet go to its `ModelUpdater` (`agent.models_update`), which
swaps the worker's detector between two frames; results carry the detector that made them.

Without a fleet (no `fleet:` section in agent.yaml, or the box not enrolled) events are
still spooled (so enrolling later delivers them) and also written to a JSON Lines file.
`stop()` is the graceful path (SIGINT/SIGTERM): readers stop, the worker finishes its batch,
each camera's rules report what is pending (partial traffic intervals), the spool is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from google.protobuf.timestamp_pb2 import Timestamp

from agent.capture.reader import ReaderState
from agent.config.agent import AgentConfig, BoxConfig
from agent.config.camera import CameraSpec
from agent.config.labels import check_labels
from agent.detect.object_detector import ObjectDetector
from agent.detect.worker import DetectFn, InferenceWorker
from agent.detections import Detections
from agent.errors import ConfigError, ModelError, OkoError
from agent.events.convert import EventMinter
from agent.faces.shots import FaceShotStore
from agent.identity import Identity
from agent.models_update.inventory import Inventory, ModelTag
from agent.models_update.keys import PinnedKeys
from agent.models_update.metrics import ModelMetrics
from agent.models_update.updater import ModelUpdater
from agent.pipeline.camera import CameraPipeline, FrameDetections
from agent.pipeline.detector_setup import model_ref, runs_faces, worker_face_models
from agent.pipeline.evidence import EvidenceResponder
from agent.pipeline.live import annotated, encode
from agent.pipeline.observe import (
    CameraStatus,
    ObserveServer,
    PipelineCollector,
    inference_histogram,
    status_dict,
)
from agent.pipeline.parts import BoxParts
from agent.pipeline.reconfigure import CameraChanges, diff_cameras, fleet_cameras, merge, running
from agent.pipeline.sequences import SequenceStore
from agent.pipeline.sinks import JsonlSink
from agent.pipeline.stage import CameraStage, FrameResult
from agent.spool import DROP_DISK_FULL, DROP_WRITE_FAILED, SpoolFullError
from proto.oko.v1 import agent_pb2, console_pb2, events_pb2
from proto.oko.v1 import watchlists_pb2 as wl_pb2

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 10.0


def _drop_reason(err: BaseException) -> str:
    """`disk_full` when the disk ran out of room anywhere in `err`'s causes."""
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, SpoolFullError) or getattr(cause, "errno", None) == errno.ENOSPC:
            return DROP_DISK_FULL
        cause = cause.__cause__
    return DROP_WRITE_FAILED


@dataclass
class _Camera:
    spec: CameraSpec
    stage: CameraStage
    pipeline: CameraPipeline
    reconnects: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    last: FrameResult | None = None  # the newest processed frame, for live views
    last_wall: float = 0.0  # when it was processed (wall clock), for heartbeats


class EdgeBox:
    """Assembles and runs the live pipeline of one box. `start()`, then `stop()` once."""

    def __init__(
        self,
        config: BoxConfig,
        detector: ObjectDetector,
        *,
        events_jsonl: Path | None = None,
        max_batch: int = 8,
    ) -> None:
        self.local = config  # the --config file: bootstrap, and cameras until the fleet names some
        self.config = config
        self.detector = detector
        self.cameras: dict[str, _Camera] = {}
        self._reconfigure = threading.Lock()
        self._started = self._stopped = False
        self.parts = BoxParts.open(
            config.agent,
            camera_ids=self.camera_ids,
            camera_health=self._camera_health,
            evidence_handler=self._answer_evidence,
            live_source=self.live_frame,
        )
        self._evidence = EvidenceResponder(self._shots_of, self.parts.metrics)
        self.parts.applier.add_checker(self._check_desired)
        model = detector.model.spec
        self.parts.applier.describe_detector(model.name, model.version, detector.labels)
        self.parts.applier.add_listener(self._on_desired)
        self.jsonl: JsonlSink | None = None
        try:
            identity = self.parts.store.identity()
            self.config = config = self._running_config(identity)
            self.uplink_enabled = config.has_fleet and identity is not None
            self.sequences = SequenceStore(config.agent.data_dir / "sequences.json")
            if not self.uplink_enabled or events_jsonl is not None:
                self.jsonl = JsonlSink(
                    events_jsonl or config.agent.data_dir / "events.jsonl", append=True
                )
            registry = self.parts.metrics.registry
            self._inference = inference_histogram(registry)
            registry.register(PipelineCollector(self.status))
            spec = detector.model.spec
            self.worker = InferenceWorker(
                self._detect_with(detector),
                max_batch=max_batch,
                tag=ModelTag(spec.name, spec.version, spec.sha256),
            )
            self.models = ModelUpdater(
                Inventory(config.agent.data_dir),
                PinnedKeys(self.parts.store.identity_dir),
                self.worker,
                detector,
                make_detect=self._detect_with,
                on_swap=self._on_model_swap,
                settings=lambda: self.config.agent.models,
                metrics=ModelMetrics(self.parts.metrics.registry),
            )
            self.models.connect = self.parts.uplink.open_channel
            self.parts.uplink.models = self.models
            self.faces = worker_face_models([c for c in config.cameras if c.enabled], self.worker)
            self.cameras = {
                spec.id: self._camera(spec, identity) for spec in config.cameras if spec.enabled
            }
        except BaseException:
            # e.g. a rule naming a class the detector lacks: release the spool's file lock
            if self.jsonl is not None:
                self.jsonl.close()
            self.parts.close()
            raise
        self._observe: ObserveServer | None = None
        self._uplink_thread: threading.Thread | None = None
        self._uplink_loop: asyncio.AbstractEventLoop | None = None
        self._uplink_stop: asyncio.Event | None = None
        self._started_at = time.monotonic()
        self.spool_errors = self.events_lost = 0
        self.last_spool_error: str | None = None
        # Set when a part the box cannot run without has died (the uplink thread):
        # `oko-agent run` then exits non-zero so that systemd restarts the agent.
        self.failed = threading.Event()
        self.fatal: str | None = None

    def _camera(self, spec: CameraSpec, identity: Identity | None) -> _Camera:
        minter = EventMinter(
            spec.id,
            device_id=identity.device_id if identity else "",
            site=identity.site if identity else "",
            models=[model_ref(self.detector)],
            first_sequence=self.sequences.next_for(spec.id),
        )
        try:
            stage = CameraStage(spec, self.detector.labels, minter, self.faces)
        except ConfigError as err:
            raise ConfigError(f"camera {spec.id}: {err}") from err
        pipeline = CameraPipeline(
            spec,
            self.worker,
            functools.partial(self._on_detections, spec.id),
            tracks=stage.live_boxes,
            settled=stage.tracks_settled,
            model_input=self.detector.model.spec.input_hw[1],
        )
        return _Camera(spec, stage, pipeline)

    def _running_config(self, identity: Identity | None) -> BoxConfig:
        """The local file with the last applied fleet document on top, once enrolled."""
        if identity is None or not self.local.has_fleet:
            return self.local
        applied = self.parts.applier.current()  # ConfigError names the stored version
        if applied is None:
            return self.local
        merged = merge(self.local, applied)
        # What the fleet tunes live (BoxParts) must also hold from the start.
        self.parts.spool.max_bytes = merged.agent.spool.max_bytes
        self.parts.spool.max_events = merged.agent.spool.max_events
        self.parts.uplink.settings = merged.agent.fleet
        log.info(
            "running fleet config v%d (cameras from the %s)",
            self.parts.applier.applied_version(),
            "fleet" if merged.cameras is applied.cameras else "local file",
        )
        return merged

    # ----- live reconfiguration ----------------------------------------------------------
    def _check_desired(self, config: AgentConfig) -> None:
        """Refuse (before it is stored) a document whose cameras this box cannot run."""
        cameras = fleet_cameras(self.local, config)
        check_labels(cameras, self.detector.labels, self.detector.model.spec.name)
        wanted = [c for c in cameras if c.enabled]
        if self.faces is None and any(map(runs_faces, wanted)):
            try:  # loaded now, so the listener cannot fail on it after the report said "ok"
                self.faces = worker_face_models(wanted, self.worker)
            except ModelError as err:
                raise ConfigError(f"cameras: face models cannot load: {err}") from err

    def _on_desired(self, config: AgentConfig, version: int) -> None:
        """A stored fleet document: rebuild exactly the cameras it changes."""
        self.config = merge(self.local, config)
        changes = self.apply_cameras(self.config.cameras)
        if changes:
            log.info(
                "config v%d: cameras added %s, removed %s, rebuilt %s",
                version,
                list(changes.added),
                list(changes.removed),
                list(changes.changed),
            )

    def apply_cameras(self, specs: Sequence[CameraSpec]) -> CameraChanges:
        """Run `specs`: stop removed cameras, rebuild changed ones, start added ones.

        Cameras whose spec is unchanged keep their reader, pipeline and stage (the same
        objects); a rebuilt camera's stage flushes what is pending first, and its new minter
        continues the camera's sequence from `SequenceStore`. Spooled events are not touched.
        """
        with self._reconfigure:
            current = [cam.spec for cam in self.cameras.values()]
            changes = diff_cameras(current, specs)
            if not changes or self._stopped:
                return changes
            kept = dict(self.cameras)
            for camera_id in changes.removed + changes.changed:
                self._retire(camera_id, kept.pop(camera_id))
            identity = self.parts.store.identity()
            built = {}
            for camera_id, spec in running(specs).items():
                if camera_id not in kept:
                    built[camera_id] = self._camera(spec, identity)
            # One assignment: readers of `cameras` (health, the uplink) see old or new whole.
            self.cameras = {i: kept.get(i) or built[i] for i in running(specs)}
            if self._started:
                for cam in built.values():
                    cam.pipeline.start()
            return changes

    def _retire(self, camera_id: str, cam: _Camera) -> None:
        """Stop one camera and deliver what its rules still hold (partial intervals)."""
        cam.pipeline.stop(STOP_TIMEOUT_S)
        with cam.lock:
            try:
                self._deliver(camera_id, cam.stage.flush()[1])
            except Exception:  # the other cameras' reconfiguration must go on
                log.exception("camera %s: flushing analytics failed", camera_id)

    # ----- running -----------------------------------------------------------------------
    def start(self) -> EdgeBox:
        """Start the worker, the cameras and (if enabled) metrics and uplink; returns self."""
        self.worker.start()
        self._started = True
        for cam in self.cameras.values():
            cam.pipeline.start()
        metrics = self.config.agent.metrics
        if metrics.enabled:
            self._observe = ObserveServer(
                self.parts.metrics.registry, self.health, metrics.host, metrics.port
            )
        if self.uplink_enabled:
            ready = threading.Event()
            self._uplink_thread = threading.Thread(
                target=self._run_uplink, args=(ready,), name="uplink", daemon=True
            )
            self._uplink_thread.start()
            ready.wait(5)
        log.info(
            "box running: %d camera(s), uplink %s, events file %s",
            len(self.cameras),
            "on" if self.uplink_enabled else "off",
            self.jsonl.path if self.jsonl else "-",
        )
        return self

    @property
    def observe_port(self) -> int | None:
        """Port the metrics and health server bound, or None when it is off."""
        return self._observe.port if self._observe else None

    def _run_uplink(self, ready: threading.Event) -> None:
        async def main() -> None:
            self._uplink_loop = asyncio.get_running_loop()
            self._uplink_stop = asyncio.Event()
            ready.set()
            await self.parts.uplink.run(self._uplink_stop)

        try:
            asyncio.run(main())
        except Exception as err:  # the spool keeps every event for the next start
            if isinstance(err, OkoError):  # ours: the message says what is wrong
                log.error("uplink stopped: %s; the agent exits to be restarted", err)
            else:
                log.exception("uplink stopped with an error; the agent exits to be restarted")
            self.fatal = f"uplink stopped: {type(err).__name__}: {err}"
            self.failed.set()

    def _detect_with(self, detector: ObjectDetector) -> DetectFn:
        """The worker's detect function for `detector`: timed, and watched after a swap."""

        def detect(images: list[np.ndarray]) -> list[Detections]:
            started = time.perf_counter()
            try:
                found = detector.detect(images)
            except Exception:
                self.models.detector_result(False)
                raise
            finally:
                self._inference.observe(time.perf_counter() - started)
            self.models.detector_result(True)
            return found

        return detect

    def _on_model_swap(self, detector: ObjectDetector) -> None:
        """The worker now runs `detector`: health, reports and new cameras follow it."""
        self.detector = detector
        spec = detector.model.spec
        self.parts.applier.describe_detector(spec.name, spec.version, detector.labels)
        log.info("detector is now %s %s (%s)", spec.name, spec.version, detector.model.backend)

    def _on_detections(self, camera_id: str, found: FrameDetections) -> None:
        """On the camera's thread: track, analyse, mint, then hand events forward."""
        cam = self.cameras[camera_id]
        reconnects = cam.pipeline.reader.reconnects
        restart = reconnects != cam.reconnects  # a reconnected camera may show another view
        cam.reconnects = reconnects
        with cam.lock:
            result = cam.stage.process(found, restart=restart)
            cam.last, cam.last_wall = result, time.time()
            self._deliver(camera_id, result.wire)

    def _deliver(self, camera_id: str, wire: Sequence[events_pb2.Event]) -> None:
        if not wire:
            return
        try:
            self.sequences.record(camera_id, wire[-1].sequence)
            self.parts.spool.append(wire)
        except Exception as err:  # SpoolError, or anything the spool failed to map
            # A full or failing disk must not stop the cameras for good: the loss is
            # counted (as spool drops by reason, and here as write errors), logged once
            # per outage and shown in /healthz, and the next event tries again.
            if not isinstance(err, SpoolFullError):  # the spool counted those itself
                self.parts.spool.count_unstored(wire, _drop_reason(err))
            if self.last_spool_error is None:
                log.error("camera %s: %d event(s) not spooled: %s", camera_id, len(wire), err)
            self.spool_errors += 1
            self.events_lost += len(wire)
            self.last_spool_error = str(err)
        else:
            if self.last_spool_error is not None:
                log.warning(
                    "spool writable again after %d failed write(s), %d event(s) lost",
                    self.spool_errors,
                    self.events_lost,
                )
                self.last_spool_error = None
            if self.uplink_enabled:
                self.parts.uplink.notify()
        if self.jsonl is not None:
            self.jsonl.write(wire)

    def stop(self) -> None:
        """Graceful stop: cameras, worker, pending analytics, uplink, spool, endpoints."""
        if self._stopped:
            return
        with self._reconfigure:  # no camera is rebuilt while the box stops
            self._stopped = True
        for cam in self.cameras.values():
            cam.pipeline.stop(STOP_TIMEOUT_S)
        self.worker.stop(STOP_TIMEOUT_S)
        for camera_id, cam in self.cameras.items():
            with cam.lock:
                try:
                    self._deliver(camera_id, cam.stage.flush()[1])
                except Exception:  # one camera's flush must not cost the others theirs
                    log.exception("camera %s: flushing analytics failed", camera_id)
        if self._uplink_thread is not None and self._uplink_loop is not None:
            stop = self._uplink_stop
            assert stop is not None
            with contextlib.suppress(RuntimeError):  # the loop ended already (uplink died)
                self._uplink_loop.call_soon_threadsafe(stop.set)
            self._uplink_thread.join(STOP_TIMEOUT_S)
        if self._observe is not None:
            self._observe.close()
        if self.jsonl is not None:
            self.jsonl.close()
        self.parts.close()
        log.info("box stopped")

    # ----- state -------------------------------------------------------------------------
    def _shots_of(self, camera_id: str) -> FaceShotStore | None:
        cam = self.cameras.get(camera_id)
        return cam.stage.shots if cam is not None else None

    def _answer_evidence(self, request: wl_pb2.EvidenceRequest) -> wl_pb2.Evidence:
        """The uplink's evidence handler: the camera's kept shot, or why there is none."""
        return self._evidence.answer(request)

    def camera_ids(self) -> list[str]:
        """Ids of the configured cameras, in config order."""
        return list(self.cameras)

    def status(self) -> list[CameraStatus]:
        """A status snapshot per camera, read from its pipeline and stage counters."""
        out = []
        for camera_id, cam in self.cameras.items():
            health = cam.pipeline.health()
            inference = health.inference
            stats = cam.stage.stats
            out.append(
                CameraStatus(
                    camera_id=camera_id,
                    state=health.camera.state.value,
                    fps=health.camera.fps_out,
                    frames=stats.frames,
                    skipped_inference=inference.skipped if inference else 0,
                    dropped_capture=health.camera.frames_dropped,
                    reconnects=health.camera.reconnects,
                    detector_errors=stats.detector_errors,
                    events=dict(stats.events),
                    latency_p50_s=inference.latency_p50_s if inference else 0.0,
                    error=health.error or health.camera.last_error,
                    substream=health.camera.substream,
                )
            )
        return out

    def health(self) -> tuple[int, dict[str, Any]]:
        """(HTTP status, body) for /healthz: 503 only when the box itself cannot work.

        "failing" (503): restarting may help - the detector or the uplink thread died, or
        every camera failed. "degraded" (200): the box records what it can but something
        needs a person - a camera down, the spool not writable, the fleet unreachable, no
        cameras configured. A restart fixes none of those, so a probe must not restart
        for them; `problems` says what is wrong in words.
        """
        cams = self.status()
        failing, degraded = self._problems(cams)
        status = "failing" if failing else "degraded" if degraded else "ok"
        body = {
            "status": status,
            "problems": failing + degraded,
            "uptime_s": round(time.monotonic() - self._started_at, 1),
            "inference": {
                "alive": self.worker.alive,
                "batches": self.worker.batches,
                "backend": self.detector.model.backend,
                "model": f"{self.detector.model.spec.name}@{self.detector.model.spec.version}",
            },
            "spool": self._spool_health(),
            "uplink": self.uplink_state(),
            "cameras": {c.camera_id: status_dict(c) for c in cams},
        }
        return (503 if failing else 200), body

    def _problems(self, cams: list[CameraStatus]) -> tuple[list[str], list[str]]:
        failing: list[str] = []
        degraded: list[str] = []
        if not self.worker.alive:
            failing.append("detector worker stopped")
        if self.fatal:
            failing.append(self.fatal)
        broken = [
            c.camera_id
            for c in cams
            if c.state == ReaderState.FAILED.value
            or (c.error and c.error.startswith("pipeline crashed"))
        ]
        if cams and len(broken) == len(cams):
            failing.append("every camera failed")
        elif broken:
            degraded.append(f"camera(s) failed: {', '.join(broken)}")
        idle = [c.camera_id for c in cams if c.state != ReaderState.STREAMING.value]
        if idle and len(broken) != len(cams):
            degraded.append(f"camera(s) not streaming: {', '.join(idle)}")
        if not cams:
            degraded.append("no cameras configured")
        if self.last_spool_error is not None:
            degraded.append(f"spool not writable: {self.last_spool_error}")
        uplink = self.uplink_state()
        if uplink["state"] not in ("connected", "off"):
            degraded.append(f"uplink {uplink['state']}: {uplink['reason']}")
        elif uplink["state"] == "off" and self.config.has_fleet:
            degraded.append(f"uplink off: {uplink['reason']}")
        return failing, degraded

    def uplink_state(self) -> dict[str, Any]:
        """Whether events reach the fleet, and if not, why (for /healthz and the log)."""
        uplink = self.parts.uplink
        if not self.config.has_fleet:
            state, reason = "off", "agent.yaml has no fleet section"
        elif not self.uplink_enabled:
            state, reason = "off", "this box is not enrolled (run `oko-agent enroll`)"
        elif uplink.connected.is_set():
            state, reason = "connected", ""
        elif self.fatal:
            state, reason = "stopped", self.fatal
        else:
            state, reason = "disconnected", uplink.last_error or "connecting"
        return {
            "enabled": self.uplink_enabled,
            "connected": uplink.connected.is_set(),
            "state": state,
            "reason": reason,
            "sessions": uplink.sessions,
        }

    def _spool_health(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "write_errors": self.spool_errors,
            "events_lost": self.events_lost,
            "last_error": self.last_spool_error,
        }
        spool = self.parts.spool
        try:
            out.update(depth=spool.depth(), bytes=spool.bytes(), dropped=spool.dropped_total())
        except Exception as err:  # health must answer even when the spool cannot
            out["last_error"] = str(err)
        return out

    def live_frame(self, camera_id: str, max_width: int, max_bytes: int) -> console_pb2.LiveFrame:
        """The camera's newest analysed frame, drawn on, for a console live view.

        Called on an uplink worker thread only while the fleet holds a view open; the
        drawing runs under the camera's lock (it reads the rules' state), the encoding not.
        """
        cam = self.cameras.get(camera_id)
        if cam is None:
            return console_pb2.LiveFrame(error=f"this box has no camera {camera_id[:64]!r}")
        with cam.lock:
            result = cam.last
            if result is None:
                return console_pb2.LiveFrame(error="no frame analysed yet on this camera")
            img = annotated(result, cam.stage)
        return encode(img, result.frame.capture_time, len(result.tracks), max_width, max_bytes)

    def _camera_health(self) -> list[agent_pb2.CameraHealth]:
        out = []
        for c in self.status():
            cam = self.cameras.get(c.camera_id)
            stamp = None
            # When the box last processed a frame, by its own clock: a file read faster
            # than real time carries capture times ahead of it, which the fleet refuses.
            if cam is not None and cam.last_wall:
                stamp = Timestamp()
                stamp.FromNanoseconds(int(cam.last_wall * 1e9))
            out.append(
                agent_pb2.CameraHealth(
                    camera_id=c.camera_id,
                    online=c.state == ReaderState.STREAMING.value,
                    fps=c.fps,
                    inference_ms=c.latency_p50_s * 1000.0,
                    error=c.error or "",
                    last_frame_at=stamp,
                )
            )
        return out
