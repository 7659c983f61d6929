"""Face embeddings: aligned crops in, unit vectors out; compact encodings for the wire.

Vectors are L2-normalised here whether or not the model does it, so cosine similarity is a
plain dot product everywhere downstream. Events carry embeddings as float16 (half the bytes)
or int8 (a quarter); both decode back to unit vectors within ~1e-4 cosine of the original.
"""

from __future__ import annotations

import numpy as np

from agent.errors import ModelError
from agent.faces.align import DEFAULT_TEMPLATE, TEMPLATES, align_face
from agent.inference.backend import Model
from agent.inference.preprocess import normalise

_EPS = 1e-12


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; all-zero rows stay zero instead of becoming NaN."""
    v = np.asarray(vectors, np.float32)
    norms = np.linalg.norm(v, axis=-1, keepdims=True)
    unit: np.ndarray = (v / np.maximum(norms, _EPS)).astype(np.float32)
    return unit


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise cosine similarity of rows: (n, d) x (m, d) -> (n, m)."""
    similarity: np.ndarray = l2_normalise(np.atleast_2d(a)) @ l2_normalise(np.atleast_2d(b)).T
    return similarity


class FaceEmbedder:
    """Runs a manifest-described embedding model on aligned crops of its input size.

    The manifest's ``decoder.alignment`` names the template its crops must be aligned to
    (`agent.faces.align.TEMPLATES`); `align` makes such a crop, so callers never pair an
    embedder with another embedder's template.
    """

    def __init__(self, model: Model) -> None:
        spec = model.spec
        if spec.decoder.get("kind") != "embedding":
            raise ModelError(
                f"{spec.key}: not an embedding model (decoder kind {spec.decoder.get('kind')!r})"
            )
        self.model = model
        self.size = spec.input_hw[0]
        self.dim = int(spec.decoder.get("dim", 0))
        self.alignment = str(spec.decoder.get("alignment", DEFAULT_TEMPLATE))
        if self.alignment not in TEMPLATES:
            raise ModelError(
                f"{spec.key}: decoder.alignment {self.alignment!r} is not a known template "
                f"({sorted(TEMPLATES)})"
            )

    def align(self, image: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
        """The crop of one face ``embed`` takes: ``image`` aligned on this model's template.

        Raises `agent.faces.align.AlignmentError` for unusable landmarks.
        """
        return align_face(image, keypoints, self.size, self.alignment)

    def embed(self, crops: np.ndarray) -> np.ndarray:
        """(n, size, size, 3) BGR uint8 aligned crops -> (n, dim) unit float32 vectors."""
        crops = np.asarray(crops)
        if crops.ndim != 4 or crops.shape[1:] != (self.size, self.size, 3):
            raise ModelError(
                f"{self.model.spec.key}: expected aligned crops of shape "
                f"(n, {self.size}, {self.size}, 3), got {crops.shape}"
            )
        if crops.dtype != np.uint8:
            raise ModelError(f"{self.model.spec.key}: crops must be uint8, got {crops.dtype}")
        if len(crops) == 0:
            return np.empty((0, self.dim), np.float32)
        (vectors, *_) = self.model.run(normalise(crops, self.model.spec))
        return l2_normalise(vectors.reshape(len(crops), -1))


def encode_float16(vectors: np.ndarray) -> bytes:
    """Little-endian float16 bytes of unit vectors (row-major)."""
    return l2_normalise(vectors).astype("<f2").tobytes()


def decode_float16(data: bytes, dim: int) -> np.ndarray:
    """Inverse of `encode_float16`; a length not a multiple of ``dim`` is an error."""
    values = _frombuffer(data, "<f2", dim)
    return l2_normalise(values.astype(np.float32))


def encode_int8(vectors: np.ndarray) -> bytes:
    """Symmetric int8, each vector scaled so its largest component is +-127.

    No scale is stored: decoding renormalises to unit length, and direction is all cosine
    similarity needs. Scaling per vector rather than by a fixed 127 uses the full int8
    range for high-dimensional vectors whose components are all small (~0.998 -> ~0.9999).
    """
    unit = l2_normalise(vectors)
    peak = np.maximum(np.abs(unit).max(axis=-1, keepdims=True), _EPS)
    quantised: np.ndarray = np.clip(np.rint(unit * (127.0 / peak)), -127, 127).astype(np.int8)
    return quantised.tobytes()


def decode_int8(data: bytes, dim: int) -> np.ndarray:
    """Inverse of `encode_int8`, renormalised to unit length."""
    return l2_normalise(_frombuffer(data, np.int8, dim).astype(np.float32))


def _frombuffer(data: bytes, dtype: str | type, dim: int) -> np.ndarray:
    if dim <= 0:
        raise ValueError(f"embedding dimension must be positive, got {dim}")
    itemsize = np.dtype(dtype).itemsize
    if len(data) % (itemsize * dim):
        raise ValueError(
            f"{len(data)} bytes is not a whole number of {dim}-d {np.dtype(dtype).name} vectors"
        )
    return np.frombuffer(data, dtype=dtype).reshape(-1, dim)
