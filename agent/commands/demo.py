"""`oko-agent demo`: fleet + enrolled box + OCC subscriber on the bundled real clip."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from agent.commands.exits import FAILURE, USAGE, fail
from agent.demo.run import DemoResult, run_demo
from agent.errors import OkoError
from agent.pipeline.summary import tables

DEFAULT_CLIP = Path("tests/data/vtest.avi")


def _delivery_table(result: DemoResult) -> Table:
    view = result.view
    table = Table(title="delivery", title_justify="left")
    table.add_column("what")
    table.add_column("value", justify="right")
    lat = sorted(view.latencies_ms)
    p50 = f"{lat[len(lat) // 2]:.0f} ms" if lat else "-"
    clip_kbit = result.clip_bytes * 8 / 1000 / result.clip_seconds if result.clip_seconds else 0
    events_kbit = (
        result.event_bytes_sent * 8 / 1000 / result.clip_seconds if result.clip_seconds else 0
    )
    rows = [
        ("frames analysed (detect rate)", str(view.frames)),
        ("events minted on the box", str(view.minted)),
        ("events received by the OCC subscriber", str(view.delivered)),
        ("events left in the box's spool", str(result.spool_left)),
        ("by type", ", ".join(f"{k} {n}" for k, n in sorted(view.kinds.items())) or "-"),
        ("faces seen", str(view.kinds.get("face", 0))),
        ("commit -> OCC latency p50", p50),
        ("clip bitrate (what video would cost)", f"{clip_kbit:.0f} kbit/s"),
        (
            "event bytes sent (before gzip)",
            f"{result.event_bytes_sent / 1024:.1f} KiB = {events_kbit:.2f} kbit/s",
        ),
        (
            "wall time: setup / clip / total",
            " / ".join(
                f"{result.timings.get(k, 0):.1f}s" for k in ("setup_s", "clip_s", "total_s")
            ),
        ),
    ]
    for row in rows:
        table.add_row(*row)
    return table


def demo(
    clip: Annotated[Path, typer.Option(help="Video to use as the camera.")] = DEFAULT_CLIP,
    data_dir: Annotated[
        Path, typer.Option(help="Where the demo's fleet and box keep their data (recreated).")
    ] = Path("oko-demo-data"),
    backend: Annotated[str, typer.Option(help="auto, onnxruntime or openvino.")] = "auto",
) -> None:
    """Run a fleet and a box on the bundled clip; watch its events reach an operations centre.

    Starts a fleet, enrolls a box, plays the clip as its camera and shows the events as
    they arrive on the operations-centre stream. Needs no external server.
    """
    console = Console()
    if not clip.is_file():
        fail(f"{clip}: no such file (run from the repository root or pass --clip)", USAGE)
    try:
        result = run_demo(clip, data_dir.resolve(), console, backend=backend)
    except OkoError as err:  # a --data-dir it may not use, a model or clip it cannot read
        fail(err, USAGE)
    for table in tables(result.analysis.summary):
        console.print(table)
    console.print(_delivery_table(result))
    where = result.data_dir
    console.print(
        f"\nData: fleet store, CA and log in {where / 'fleet'} "
        f"(fleet.db, ca/, fleet.log); box identity, certificate and spool in {where / 'agent'}."
        "\nNothing is left running. Delete the folder when done."
    )
    if result.spool_left or result.view.delivered < result.view.minted:
        raise typer.Exit(FAILURE)
