"""The face model pair (detector + embedder) a face analytic runs, loaded once per box.

`FaceModels` is all `agent.analytics.faces.FaceAnalyzer` asks of its models, so the pair is
an injected dependency: another face detector (one with five landmarks, say) is a new
implementation of this protocol, not a change to the analytic.

`FaceModelPair` holds the loaded models and runs them on the caller's thread (tests,
tools). On a box, `FaceModelPair.on_worker` registers both models on the box's
`InferenceWorker`, and each camera gets a `CameraFaceModels` view that queues its work
there: every camera shares the one loaded pair, and face inference takes its turn with
object detection on the worker's thread instead of running beside it on camera threads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from agent.detect.worker import InferenceWorker, WorkerModel
from agent.detections import Detections
from agent.errors import ModelError
from agent.events.types import EmbedderId
from agent.faces.embedding import FaceEmbedder
from agent.faces.face_detector import FaceDetector

#: The default face detector: CenterFace found more faces at every size measured, and gives
#: mouth corners for true 5-point alignment (docs/faces.md). BlazeFace-back stays selectable.
DETECTOR_MODEL = "centerface"
#: Face detectors `FaceModelPair.load` accepts (manifest names).
DETECTOR_MODELS = ("centerface", "blazeface-back")
#: The default embedder (docs/faces.md "Embedder choice"); dlib's ResNet is selectable.
EMBEDDER_MODEL = "faceres"
#: Face embedders `FaceModelPair.load` accepts (manifest names). Each aligns to the template
#: its manifest entry names, and its name and version go on every face event.
EMBEDDER_MODELS = ("faceres", "dlib-resnet")


class FaceModels(Protocol):
    """Face detection on head crops, then embedding of aligned faces."""

    @property
    def embedder_id(self) -> EmbedderId:
        """The embedding model's identity, stamped on every face event."""
        ...

    @property
    def embed_size(self) -> int:
        """Side in pixels of the aligned crops `embed` takes."""
        ...

    @property
    def embed_alignment(self) -> str:
        """Alignment template (`agent.faces.align.TEMPLATES`) of the crops `embed` takes."""
        ...

    def detect(self, crops: list[np.ndarray]) -> list[Detections]:
        """Faces (with landmarks in `keypoints`) per BGR crop, in crop pixels."""
        ...

    def embed(self, crops: np.ndarray) -> np.ndarray:
        """(n, size, size, 3) uint8 aligned crops -> (n, dim) unit vectors."""
        ...


class FaceModelSource(Protocol):
    """Hands each camera the face models it runs (a shared pair, a worker view)."""

    def for_camera(self, camera_id: str) -> FaceModels:
        """The models `camera_id`'s face analytic calls, from that camera's thread."""
        ...


class FaceModelPair:
    """A loaded face detector and embedder, run directly on the calling thread."""

    def __init__(self, detector: FaceDetector, embedder: FaceEmbedder) -> None:
        self.detector = detector
        self.embedder = embedder
        spec = embedder.model.spec
        self._embedder_id = EmbedderId(spec.name, spec.version, spec.sha256)

    @classmethod
    def load(
        cls,
        backend: str = "auto",
        threads: int | None = None,
        detector: str = DETECTOR_MODEL,
        embedder: str = EMBEDDER_MODEL,
    ) -> FaceModelPair:
        """The shipped FP32 face models: ``detector`` and ``embedder``.

        CenterFace and FaceRes by default. Raises `ModelError` (unknown detector or
        embedder, model missing, tampered file, backend missing).
        """
        from agent.inference.backend import load_model  # models load only when faces are on

        if detector not in DETECTOR_MODELS:
            raise ModelError(f"unknown face detector {detector!r}; known: {list(DETECTOR_MODELS)}")
        if embedder not in EMBEDDER_MODELS:
            raise ModelError(f"unknown face embedder {embedder!r}; known: {list(EMBEDDER_MODELS)}")
        return cls(
            FaceDetector(load_model(detector, "fp32", backend, threads)),
            FaceEmbedder(load_model(embedder, "fp32", backend, threads)),
        )

    @property
    def embedder_id(self) -> EmbedderId:
        """Identity of the loaded embedder, read once from its manifest entry."""
        return self._embedder_id

    @property
    def embed_size(self) -> int:
        """Side of the aligned crops the loaded embedder takes."""
        return self.embedder.size

    @property
    def embed_alignment(self) -> str:
        """Template of the aligned crops the loaded embedder takes."""
        return self.embedder.alignment

    def detect(self, crops: list[np.ndarray]) -> list[Detections]:
        """See `FaceModels.detect`; runs on the calling thread."""
        return self.detector.detect(crops)

    def embed(self, crops: np.ndarray) -> np.ndarray:
        """See `FaceModels.embed`; runs on the calling thread."""
        return self.embedder.embed(crops)

    def embed_each(self, crops: list[np.ndarray]) -> list[np.ndarray]:
        """`embed` for a list of crops (as the worker batches them), one vector each."""
        return list(self.embedder.embed(np.stack(crops)))

    def for_camera(self, camera_id: str) -> FaceModelPair:
        """Every camera runs this very pair, on its own thread."""
        return self

    def on_worker(self, worker: InferenceWorker) -> WorkerFaceModels:
        """Register both models on `worker` (once per worker), for all its cameras."""
        return WorkerFaceModels(self, worker)


class WorkerFaceModels:
    """A `FaceModelPair` registered on one `InferenceWorker`, shared by its cameras."""

    def __init__(self, pair: FaceModelPair, worker: InferenceWorker) -> None:
        self.pair = pair
        self.worker = worker
        self.detector = WorkerModel(worker, "face-detector", pair.detect)
        self.embedder = WorkerModel(worker, "face-embedder", pair.embed_each)

    def for_camera(self, camera_id: str) -> CameraFaceModels:
        """A view whose calls queue in `camera_id`'s lanes of the worker."""
        return CameraFaceModels(self, camera_id)


@dataclass(frozen=True)
class CameraFaceModels:
    """One camera's view of the box's face models: its calls queue in its worker lanes."""

    shared: WorkerFaceModels
    camera_id: str

    @property
    def embedder_id(self) -> EmbedderId:
        """The shared pair's embedder identity."""
        return self.shared.pair.embedder_id

    @property
    def embed_size(self) -> int:
        """The shared pair's aligned crop side."""
        return self.shared.pair.embed_size

    @property
    def embed_alignment(self) -> str:
        """The shared pair's alignment template."""
        return self.shared.pair.embed_alignment

    def detect(self, crops: list[np.ndarray]) -> list[Detections]:
        """See `FaceModels.detect`; blocks until the worker has run this camera's batch."""
        return self.shared.detector(self.camera_id, list(crops))

    def embed(self, crops: np.ndarray) -> np.ndarray:
        """See `FaceModels.embed`; blocks until the worker has run this camera's batch."""
        crops = np.asarray(crops)
        if crops.ndim != 4 or len(crops) == 0:
            # Nothing to run (or a shape error the embedder words): no model call, no queue.
            return self.shared.pair.embed(crops)
        return np.stack(self.shared.embedder(self.camera_id, list(crops)))
