"""`oko-agent detect`: run a shipped model on images or video files."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from agent.commands.exits import USAGE, fail
from agent.detect.object_detector import ObjectDetector
from agent.detections import Detections
from agent.errors import OkoError
from agent.inference.backend import load_model
from agent.media import read_media


def detections_to_json(detections: Detections, labels: tuple[str, ...]) -> list[dict[str, object]]:
    """Detections -> the documented JSON shape (label, score, box in source pixels)."""
    return [
        {
            "label": labels[int(c)] if int(c) < len(labels) else str(int(c)),
            "score": round(float(s), 4),
            "box": [round(float(v), 1) for v in box],
        }
        for box, s, c in zip(
            detections.xyxy, detections.confidence, detections.class_id, strict=True
        )
    ]


def _table(source: str, frame: int, objects: list[dict[str, object]]) -> Table:
    title = f"{source} frame {frame}: {len(objects)} detection(s)"
    table = Table(title=title, title_justify="left", min_width=60)
    for col, justify in (("label", "left"), ("score", "right"), ("box (x1, y1, x2, y2)", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for obj in objects:
        box = ", ".join(f"{v:.0f}" for v in obj["box"])  # type: ignore[attr-defined]
        table.add_row(str(obj["label"]), f"{obj['score']:.2f}", box)
    return table


def detect(
    paths: Annotated[list[Path], typer.Argument(help="Image or video files.", show_default=False)],
    model: Annotated[str, typer.Option(help="Model name from models/manifest.json.")] = "nanodet-g",
    precision: Annotated[
        str | None, typer.Option(help="int8 or fp32 (default: int8 where shipped).")
    ] = None,
    backend: Annotated[str, typer.Option(help="auto, onnxruntime or openvino.")] = "auto",
    threshold: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help="Score threshold (default: manifest).")
    ] = None,
    every: Annotated[int, typer.Option(min=1, help="Video: run on every N-th frame.")] = 1,
    max_frames: Annotated[
        int | None, typer.Option(min=1, help="Video: stop after this many frames.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per line and frame.")
    ] = False,
) -> None:
    """Detect objects in images or videos with a shipped model."""
    console = Console(stderr=as_json)
    try:
        detector = ObjectDetector(load_model(model, precision, backend), score_threshold=threshold)
        spec = detector.model.spec
        console.print(
            f"[dim]model {spec.key} v{spec.version} on {detector.model.backend}, "
            f"score >= {detector.score_threshold:.2f}[/dim]"
        )
        for path in paths:
            for index, image in read_media(path, every=every, max_frames=max_frames):
                objects = detections_to_json(detector.detect([image])[0], detector.labels)
                if as_json:
                    record = {"source": str(path), "frame": index, "detections": objects}
                    sys.stdout.write(json.dumps(record) + "\n")
                else:
                    console.print(_table(str(path), index, objects))
    except OkoError as err:  # the media, the model or the backend given cannot be used
        fail(err, USAGE)
