"""`oko-agent doctor`: what this box runs its detector on, and the measurement behind it."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from agent.commands.exits import FAILURE, USAGE, fail
from agent.config.agent import load_box_config
from agent.cpuinfo import cpu_model
from agent.detect.backend_choice import (
    AGREEMENT_BAR,
    PERSONS_BAR,
    BackendChoice,
    fingerprint,
    model_specs,
    usable_cores,
)
from agent.detect.backend_choice_store import (
    ChoiceStore,
    choose_settings,
    is_current,
    sample_frames,
)
from agent.errors import ConfigError, OkoError
from agent.inference.backend import available_backends
from agent.inference.licence import licence_warning
from agent.inference.manifest import Manifest, load_manifest


def _choice_table(choice: BackendChoice) -> Table:
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(choice.measured_at))
    table = Table(
        title=f"{choice.model}: measured {when} on {choice.frames} frames, "
        f"{choice.seconds_per_trial:g} s each; reference {choice.reference}; "
        f"bar: all classes >= {AGREEMENT_BAR}, persons >= {PERSONS_BAR}",
        title_justify="left",
    )
    for col in ("backend", "precision", "threads", "frames/s", "persons", "all classes", ""):
        table.add_column(col, justify="left" if col in ("backend", "precision", "") else "right")
    for t in sorted(choice.trials, key=lambda t: -t.frames_per_s):
        c = t.candidate
        mark = "chosen" if c == choice.chosen else ("" if t.passed else (t.error or "fails bar"))
        table.add_row(
            c.backend,
            c.precision,
            str(c.threads),
            f"{t.frames_per_s:.1f}",
            f"{t.persons_agreement:.3f}",
            f"{t.all_classes_agreement:.3f}",
            mark,
        )
    return table


def _staleness(choice: BackendChoice) -> str:
    now = fingerprint(model_specs(load_manifest(), choice.model))
    changed = sorted(
        k for k in set(now) | set(choice.fingerprint) if now.get(k) != choice.fingerprint.get(k)
    )
    return "stale: " + ", ".join(changed) + " changed since" if changed else "current"


def _model_lines(manifest: Manifest, model: str) -> list[str]:
    """The detector's file and licence, then a warning per model not plainly permissive.

    Every model this box could load is listed, optional builds (models/extra/) included.
    """
    spec = manifest.best(model)
    licence = str(spec.upstream.get("licence", "")) or "not recorded"
    lines = [f"model: {spec.key} ({spec.path}), licence: {licence}"]
    for other in manifest.specs:
        warning = licence_warning(other.key, str(other.upstream.get("licence", "")))
        if warning:
            lines.append(f"WARNING {warning}")
    return lines


def doctor(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="Box YAML: its data_dir and camera sources.")
    ] = Path("/etc/oko/agent.yaml"),
    data_dir: Annotated[
        Path | None, typer.Option(help="Data dir holding inference.json [default: config's].")
    ] = None,
    model: Annotated[str, typer.Option(help="Detector from models/manifest.json.")] = "nanodet-g",
    measure: Annotated[
        bool, typer.Option("--measure", help="Measure every backend now and store the choice.")
    ] = False,
    sample: Annotated[
        list[Path] | None,
        typer.Option(help="Video/image files to measure on [default: the config's cameras]."),
    ] = None,
    seconds: Annotated[
        float, typer.Option(min=0.5, max=60.0, help="Timing per candidate, seconds.")
    ] = 3.0,
) -> None:
    """Print the machine, installed backends and the measured backend choice (or make one)."""
    console = Console(width=None if sys.stdout.isatty() else 120)
    try:
        sources = [str(p) for p in sample or []]
        if data_dir is None or (measure and not sources):
            box = load_box_config(config)
            data_dir = data_dir or box.agent.data_dir
            sources = sources or [c.source for c in box.cameras if c.enabled and c.source]
        console.print(f"cpu: {cpu_model()}, {usable_cores()} usable cores")
        console.print("backends: " + (", ".join(available_backends()) or "none installed"))
        for line in _model_lines(load_manifest(), model):
            console.print(line, soft_wrap=True, markup=False)
        store = ChoiceStore(data_dir)
        if measure:
            settings = choose_settings(
                data_dir,
                model,
                lambda: sample_frames(sources),
                seconds=seconds,
                remeasure=True,
                progress=lambda msg: console.print(f"  {msg}"),
            )
            if settings.choice is None:
                raise OkoError(f"no frame could be read from {len(sources)} source(s)")
        choice = store.load(model)
        if choice is None:
            console.print(
                f"no measured backend choice for {model} in {store.path}; "
                "`oko-agent run` measures at first start, or run `oko-agent doctor --measure`",
                soft_wrap=True,
            )
            return
        console.print(_choice_table(choice))
        chosen = choice.chosen.label if choice.chosen else "none passed"
        console.print(
            f"chosen: {chosen}; batch of 4 runs {choice.batch_gain:.2f}x the images/s of one "
            f"-> the shared worker batches up to {choice.max_batch}; "
            f"record {_staleness(choice)} ({store.path})",
            soft_wrap=True,
        )
        if not is_current(choice, load_manifest()):
            console.print("`oko-agent run` will measure again at its next start")
    except ConfigError as err:
        fail(err, USAGE)
    except OkoError as err:  # e.g. no camera gave a frame to measure on
        fail(err, FAILURE)
