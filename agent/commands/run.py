"""`oko-agent run`: run the box's live cameras until SIGINT/SIGTERM (a thin layer)."""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from agent.analytics.camera import CameraAnalytics
from agent.commands.exits import FAILURE, USAGE, fail
from agent.config.agent import BoxConfig, load_box_config
from agent.detect.backend_choice_metrics import BackendChoiceCollector
from agent.detect.backend_choice_store import detector_settings
from agent.errors import ConfigError, OkoError
from agent.inference.manifest import load_manifest
from agent.models_update.loading import startup_spec
from agent.pipeline.box import EdgeBox
from agent.pipeline.detector_setup import make_detector
from agent.pipeline.reconfigure import merge
from agent.uplink.desired import stored_fleet_config

log = logging.getLogger(__name__)


def _check_rules(box: BoxConfig, model: str, precision: str | None, path: Path) -> None:
    """A rule naming a class the model lacks is a config error, found before measuring."""
    labels = load_manifest().best(model, precision).labels
    for spec in box.cameras:
        if spec.enabled:
            try:
                CameraAnalytics(spec, labels)
            except ConfigError as err:
                raise ConfigError(f"{path}: camera {spec.id}: {err}") from err


def run(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="Box YAML (docs/examples/agent.yaml).")
    ] = Path("/etc/oko/agent.yaml"),
    events: Annotated[
        Path | None,
        typer.Option(
            help="Also write events as JSON Lines here [default without an uplink: "
            "<data_dir>/events.jsonl]."
        ),
    ] = None,
    model: Annotated[str, typer.Option(help="Detector from models/manifest.json.")] = "nanodet-g",
    precision: Annotated[
        str | None, typer.Option(help="int8 or fp32 (default: int8 where shipped).")
    ] = None,
    backend: Annotated[str, typer.Option(help="auto, onnxruntime or openvino.")] = "auto",
    threads: Annotated[
        int | None,
        typer.Option(min=1, max=64, help="Detector threads (default: the backend's choice)."),
    ] = None,
    max_batch: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=64,
            help="Most images in one detector call across cameras [default: 8 where the "
            "backend measurement found batching pays, else 1; 8 when not measured].",
        ),
    ] = None,
    require_uplink: Annotated[
        bool,
        typer.Option(
            help="Exit 1 instead of running without an uplink (no fleet section, or the box "
            "is not enrolled); the systemd unit install.sh writes uses it."
        ),
    ] = False,
) -> None:
    """Run every camera of the box: detect, track, analyse, spool and send events.

    Logs at INFO unless OKO_LOG_LEVEL says otherwise (DEBUG, INFO, WARNING, ERROR).

    Exits 1 when a part the box cannot run without dies (the uplink thread), so that a
    supervisor (systemd's Restart=on-failure) starts it again.
    """
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    try:
        box_config = load_box_config(config)
        _check_rules(box_config, model, precision, config)  # before any slow measurement
        settings = detector_settings(box_config, model, backend, precision, threads)
        # An enrolled box runs its last applied fleet document over this file (precedence:
        # docs/operations.md); the detector is picked for the cameras that will really run.
        fleet = stored_fleet_config(box_config.agent.data_dir) if box_config.has_fleet else None
        # A model the fleet delivered and the box swapped in earlier (verified again now).
        data_dir = box_config.agent.data_dir
        chosen = startup_spec(data_dir, data_dir / "identity") if box_config.has_fleet else None
        detector = make_detector(
            merge(box_config, fleet).cameras,
            chosen or model,
            precision=settings.precision,
            backend=settings.backend,
            threads=settings.threads,
        )
        try:
            batch = max_batch or settings.max_batch or 8
            box = EdgeBox(box_config, detector, events_jsonl=events, max_batch=batch)
        except ConfigError as err:  # a rule names a class this detector lacks
            where = f"{config} with the applied fleet config" if fleet else str(config)
            raise ConfigError(f"{where}: {err}") from err
        box.parts.metrics.registry.register(
            BackendChoiceCollector(model, settings, detector.model.backend)
        )
    except OkoError as err:
        fail(err, USAGE)
    if "OKO_LOG_LEVEL" not in os.environ:
        # A service's log is its record: a camera ending or reconnecting, an applied
        # config, the uplink's state are INFO and must be in the journal by default.
        # Raised only now, so that a bad config still fails with one line on stderr.
        logging.getLogger().setLevel(logging.INFO)
    _check_uplink(box, config, require_uplink)
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            box.start()
        except OkoError as err:  # e.g. the metrics port is taken, the spool cannot open
            fail(err, FAILURE)
        port = box.observe_port
        typer.echo(
            f"running {len(box.cameras)} camera(s); uplink "
            f"{'on' if box.uplink_enabled else 'off'}"
            + (f"; events -> {box.jsonl.path}" if box.jsonl else "")
            + (f"; http://{box_config.agent.metrics.host}:{port}/metrics, /healthz" if port else "")
        )
        while not stop.wait(1.0) and not box.failed.is_set():
            pass
    finally:
        box.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if box.fatal:
        fail(box.fatal, FAILURE)
    typer.echo("stopped")


def _check_uplink(box: EdgeBox, config: Path, require: bool) -> None:
    """Say loudly why events will not reach a fleet; refuse under --require-uplink."""
    if not box.cameras:
        log.warning("%s configures no cameras: the box runs but records nothing", config)
    if box.uplink_enabled:
        return
    reason = box.uplink_state()["reason"]
    if require:
        box.stop()
        fail(f"{config}: uplink off: {reason} (--require-uplink)", FAILURE)
    if box.config.has_fleet:
        log.warning(
            "%s names a fleet but the uplink is off: %s; events are kept in the spool "
            "and %s until then",
            config,
            reason,
            box.jsonl.path if box.jsonl else "the spool",
        )
