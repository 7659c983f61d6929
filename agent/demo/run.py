"""The demo's script: fleet up, token, enroll, camera -> spool -> uplink -> OCC, tear down."""

from __future__ import annotations

import logging
import queue
import shutil
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from rich.console import Console
from rich.live import Live

from agent.config.agent import AgentConfig, FleetSection, MetricsSection
from agent.config.camera import load_camera_spec
from agent.demo.fleet_child import FleetChild
from agent.demo.occ import Subscriber
from agent.demo.uplink_thread import UplinkThread
from agent.demo.view import DemoView
from agent.errors import OkoError
from agent.identity import AgentStore
from agent.media import video_info
from agent.pipeline.detector_setup import make_detector
from agent.pipeline.offline import AnalysisResult, analyze_video
from agent.pipeline.parts import BoxParts
from agent.uplink.enroll import enroll
from proto.oko.v1 import admin_pb2, admin_pb2_grpc, events_pb2
from proto.transport import ADMIN_DEADLINE_S, CLIENT_OPTIONS, bearer_metadata

log = logging.getLogger(__name__)

CAMERA_CONFIG = Path(__file__).with_name("camera.yaml")
MARKER = ".oko-demo"
VTEST_CUT = 404  # vtest.avi is two takes spliced after frame 403 (docs/labelling.md)


@dataclass
class DemoResult:
    """What the demo did and where it left its data."""

    data_dir: Path
    device_id: str
    analysis: AnalysisResult
    view: DemoView
    clip_bytes: int
    clip_seconds: float
    event_bytes_sent: float
    spool_left: int
    fleet_exit: int | None
    timings: dict[str, float] = field(default_factory=dict)


def prepare_data_dir(data_dir: Path) -> None:
    """Start from an empty folder; only ever delete one an earlier demo made."""
    if data_dir.exists() and any(data_dir.iterdir()):
        if not (data_dir / MARKER).exists():
            raise OkoError(
                f"{data_dir} exists and was not made by the demo; choose another --data-dir"
            )
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / MARKER).write_text("made by oko-agent demo; safe to delete\n")


def _mint_token(fleet: FleetChild) -> str:
    """A single-use enrollment token, asked of the fleet's AdminService as its admin.

    The demo speaks the wire contract itself (like an operator's own tooling would) rather
    than borrowing the fleet's client: the agent imports nothing from `fleet`.
    """
    creds = grpc.ssl_channel_credentials(root_certificates=fleet.ca_file.read_bytes())
    request = admin_pb2.CreateEnrollmentTokenRequest(
        site="demo", ttl_seconds=600, note="oko-agent demo"
    )
    with grpc.secure_channel(fleet.api_address, creds, options=CLIENT_OPTIONS) as channel:
        stub = admin_pb2_grpc.AdminServiceStub(channel)
        try:
            reply = stub.CreateEnrollmentToken(
                request, metadata=bearer_metadata(fleet.admin_token), timeout=ADMIN_DEADLINE_S
            )
        except grpc.RpcError as err:
            what = f"{err.code().name}: {err.details()}"
            raise OkoError(f"fleet refused an enrollment token: {what}") from err
    return str(reply.token)


def _enroll_box(fleet: FleetChild, agent_dir: Path) -> str:
    """Mint a single-use token as the admin, then enroll the box with it (CSR -> cert)."""
    token = _mint_token(fleet)
    store = AgentStore(agent_dir)
    try:
        identity = enroll(
            store, fleet.api_address, token, ca_file=fleet.ca_file, device_name="demo-box"
        )
    finally:
        store.close()
    return identity.device_id


def _uplink(fleet: FleetChild, agent_dir: Path, camera_id: str) -> UplinkThread:
    config = AgentConfig(
        data_dir=agent_dir,
        fleet=FleetSection(api=fleet.api_address, agent=fleet.agent_address, batch_linger_s=0.5),
        metrics=MetricsSection(enabled=False),
    )
    return UplinkThread(BoxParts.open(config, camera_ids=lambda: [camera_id])).start()


def _drain(occ: Subscriber, view: DemoView) -> None:
    while True:
        try:
            view.on_envelope(occ.received.get_nowait())
        except queue.Empty:
            return


def _wait_delivered(
    uplink: UplinkThread, occ: Subscriber, view: DemoView, timeout_s: float
) -> None:
    """Until the spool is empty and the OCC has seen every minted event (or time is up)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        _drain(occ, view)
        if uplink.parts.spool.depth() == 0 and view.delivered >= view.minted:
            return
        time.sleep(0.1)
    log.warning(
        "delivery incomplete after %.0f s: %d of %d events at the OCC",
        timeout_s,
        view.delivered,
        view.minted,
    )


def run_demo(
    clip: Path,
    data_dir: Path,
    console: Console,
    *,
    backend: str = "auto",
    step: Callable[[str], None] | None = None,
) -> DemoResult:
    """Run the whole demo; every child process and thread is stopped before returning."""
    say = step or (lambda text: console.print(f"[bold green]>[/bold green] {text}"))
    prepare_data_dir(data_dir)
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    with ExitStack() as stack:
        fleet = FleetChild(data_dir / "fleet").start()
        stack.callback(fleet.stop)
        say(
            f"fleet server up: api {fleet.api_address}, agents {fleet.agent_address} "
            f"(mTLS), CA {fleet.ca_file}"
        )
        agent_dir = data_dir / "agent"
        device_id = _enroll_box(fleet, agent_dir)
        say(f"box enrolled with a single-use token as device {device_id}")
        timings["setup_s"] = time.monotonic() - t0
        spec = load_camera_spec(CAMERA_CONFIG, source=str(clip), realtime=False)
        uplink = _uplink(fleet, agent_dir, spec.id)
        stack.callback(uplink.stop)
        occ = Subscriber(fleet.api_address, fleet.ca_file, fleet.admin_token).start()
        stack.callback(occ.stop)
        detector = make_detector([spec], backend=backend)
        say(
            f"camera '{spec.id}' on {clip.name}: {detector.model.spec.key} on "
            f"{detector.model.backend}, detect {spec.detect_fps:g} fps, motion-gated"
        )
        frames, fps = video_info(clip)
        view = DemoView(total_frames=max(1, round(frames * min(1.0, spec.detect_fps / fps))))

        def sink(events: Sequence[events_pb2.Event]) -> None:
            view.minted += len(events)
            uplink.sink(events)

        cuts = [VTEST_CUT] if clip.name == "vtest.avi" else []
        analysis = analyze_video(clip, spec, detector, cuts=cuts, sinks=[sink])
        t1 = time.monotonic()
        with Live(view.render(), console=console, refresh_per_second=4, get_renderable=view.render):
            for _ in analysis:
                view.frames += 1
                _drain(occ, view)
            _wait_delivered(uplink, occ, view, timeout_s=30)
        timings["clip_s"] = time.monotonic() - t1
        result = analysis.result()
        sent = (
            uplink.parts.metrics.registry.get_sample_value(
                "oko_agent_uplink_sent_bytes_total", {"camera": spec.id}
            )
            or 0.0
        )
        spool_left = uplink.parts.spool.depth()
        if uplink.error is not None:
            raise OkoError(f"uplink failed: {uplink.error}")
        uplink.stop()
        occ.stop()
        fleet_exit = fleet.stop()
    timings["total_s"] = time.monotonic() - t0
    return DemoResult(
        data_dir,
        device_id,
        result,
        view,
        clip.stat().st_size,
        frames / fps if fps else 0.0,
        float(sent),
        spool_left,
        fleet_exit,
        timings,
    )
