"""`oko-agent analyze`: run the whole edge pipeline offline on a video file."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from agent.commands.exits import USAGE, fail
from agent.config.camera import load_camera_spec
from agent.errors import ConfigError, OkoError
from agent.media import video_info
from agent.pipeline.detector_setup import make_detector
from agent.pipeline.offline import Analysis, AnalysisResult, analyze_video, probe_video
from agent.pipeline.sinks import JsonlSink
from agent.pipeline.summary import tables
from agent.pipeline.video import AnnotatedVideo


def default_events_path(video: Path) -> Path:
    """`./<video stem>.events.jsonl`: in the working directory, never beside the footage.

    Footage often sits on read-only evidence storage; naming the file after the video keeps
    runs on different videos from colliding.
    """
    return Path.cwd() / f"{video.stem}.events.jsonl"


def _expected_frames(video: Path, detect_fps: float) -> int | None:
    count, fps = video_info(video)
    if count <= 0 or fps <= 0:
        return None
    return math.ceil(count * min(1.0, detect_fps / fps))


def _warn_if_short(video: Path, result: AnalysisResult, console: Console) -> None:
    """Warn when the video decoded to noticeably fewer frames than its container announces.

    FFmpeg skips a damaged or truncated stretch silently, so say it rather than present a
    partial count as whole.
    """
    announced, _ = video_info(video)
    decoded = result.camera.frames_decoded
    if announced > 0 and decoded < 0.98 * announced:
        console.print(
            f"warning: {video}: decoded {decoded} of the {announced} frames its "
            "container announces; the file may be damaged or truncated",
            highlight=False,
            soft_wrap=True,
        )


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[events]} events"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def analyze(
    video: Annotated[Path, typer.Argument(help="Video file to analyse.", show_default=False)],
    config: Annotated[
        Path,
        typer.Option(
            "--config",
            "-c",
            help="Camera YAML: pacing, motion gate, tracker and rules "
            "(docs/examples/camera.yaml). Its `source` is replaced by VIDEO.",
        ),
    ],
    events: Annotated[
        Path | None,
        typer.Option(
            help="JSON Lines output, one oko.v1.Event per line "
            "[default: ./<video stem>.events.jsonl]."
        ),
    ] = None,
    annotate: Annotated[
        Path | None,
        typer.Option(
            help="Also write the processed frames with boxes, track ids, lines and zones "
            "(.mp4 or .avi)."
        ),
    ] = None,
    cut: Annotated[
        list[int] | None,
        typer.Option(
            min=1,
            help="Frame number (0-based) where an edited video starts a new take; no "
            "track continues across it (repeatable).",
        ),
    ] = None,
    substream: Annotated[
        Path | None,
        typer.Option(
            help="A low-resolution recording of the same scene (frame for frame VIDEO's "
            "timeline) to detect on, as a camera's detect substream; events stay in VIDEO's "
            "pixels.",
        ),
    ] = None,
    model: Annotated[str, typer.Option(help="Detector from models/manifest.json.")] = "nanodet-g",
    precision: Annotated[
        str | None, typer.Option(help="int8 or fp32 (default: int8 where shipped).")
    ] = None,
    backend: Annotated[str, typer.Option(help="auto, onnxruntime or openvino.")] = "auto",
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Detect, track and count on a video file; write events and print a summary."""
    console, err_console = Console(), Console(stderr=True)
    try:
        spec = load_camera_spec(config, source=str(video), realtime=False)
        probe_video(video)
        detector = make_detector([spec], model, precision=precision, backend=backend)
        try:
            analysis = analyze_video(video, spec, detector, cuts=cut or (), substream=substream)
        except ConfigError as err:  # a rule names a class this detector lacks
            raise ConfigError(f"{config}: {err}") from err
        out = events or default_events_path(video)
        with JsonlSink(out) as sink:
            analysis.add_sink(sink.write)
            writer = (
                AnnotatedVideo(annotate, spec.detect_fps, analysis.stage)
                if annotate is not None
                else None
            )
            try:
                result = _run(analysis, writer, err_console, progress, video, spec.detect_fps)
            finally:
                if writer is not None:
                    writer.close()
    except OkoError as err:  # the video, the config or the model given cannot be used
        fail(err, USAGE)
    _warn_if_short(video, result, err_console)
    for table in tables(result.summary):
        console.print(table)
    console.print(
        f"{result.frames} frames analysed at {spec.detect_fps:g} fps; "
        f"{len(result.events)} events -> {out}"
        + (f"; annotated video -> {annotate}" if annotate else ""),
        highlight=False,
        soft_wrap=True,
    )


def _run(
    analysis: Analysis,
    writer: AnnotatedVideo | None,
    console: Console,
    show: bool,
    video: Path,
    detect_fps: float,
) -> AnalysisResult:
    total = _expected_frames(video, detect_fps)
    with _progress(console) as bar:
        task = bar.add_task(video.name, total=total, events=0, visible=show)
        for result in analysis:
            if writer is not None:
                writer.write(result)
            bar.update(task, advance=1, events=len(analysis.events))
        bar.update(task, total=analysis.summary.frames)
    return analysis.result()
