"""One `Model` interface, two real backends: ONNX Runtime and OpenVINO.

Both read the same ONNX file named in the manifest. `auto` here is only the fallback
guess (OpenVINO on Intel CPUs, else ONNX Runtime): the box itself chooses by measurement
(`agent.detect.backend_choice`) and passes the winner in. Each backend maps its own
exceptions to `ModelError` so callers never import a backend's exception types.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from agent.cpuinfo import cpu_vendor
from agent.errors import BackendUnavailableError, ModelError
from agent.inference.licence import licence_warning
from agent.inference.manifest import Manifest, ModelSpec, load_manifest

logger = logging.getLogger(__name__)

BACKENDS = ("onnxruntime", "openvino")


class Model(Protocol):
    """A loaded, verified model. `run` takes a preprocessed batch, returns raw outputs."""

    spec: ModelSpec
    backend: str

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        """Raw model outputs for a preprocessed batch, in the model's output order."""
        ...


def available_backends() -> list[str]:
    """Backends of BACKENDS whose runtime package is installed, in preference order."""
    return [b for b in BACKENDS if importlib.util.find_spec(b) is not None]


def resolve_backend(name: str) -> str:
    """Turn 'auto' into a concrete backend; refuse one that is not installed."""
    have = available_backends()
    if name == "auto":
        if "openvino" in have and cpu_vendor() == "GenuineIntel":
            return "openvino"
        if "onnxruntime" in have:
            return "onnxruntime"
        if have:
            return have[0]
        raise BackendUnavailableError("no inference backend installed (onnxruntime, openvino)")
    if name not in BACKENDS:
        choices = ", ".join(BACKENDS)
        raise BackendUnavailableError(f"unknown backend {name!r}; choose auto, {choices}")
    if name not in have:
        raise BackendUnavailableError(f"backend {name!r} is not installed here")
    return name


def _split_run(model: Model, batch: np.ndarray, run_one: Any) -> list[np.ndarray]:
    """Run a fixed-batch-1 model over a batch one image at a time."""
    parts = [run_one(batch[i : i + 1]) for i in range(batch.shape[0])]
    return [np.concatenate([p[k] for p in parts]) for k in range(len(parts[0]))]


class OnnxRuntimeModel:
    """ONNX Runtime on the CPU execution provider."""

    backend = "onnxruntime"

    def __init__(self, spec: ModelSpec, threads: int | None = None) -> None:
        import onnxruntime as ort

        self.spec = spec
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = threads or 0
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        # Spinning intra-op threads burn the cores the box's reader, gate and tracker
        # threads need between calls; measured on a loaded 2-core EPYC, 2 spinning threads
        # took 132 ms a frame where 2 that sleep took 68 ms (docs/benchmarks.md, Pipeline).
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = ort.InferenceSession(
                str(spec.path), sess_options=opts, providers=["CPUExecutionProvider"]
            )
        except Exception as err:  # onnxruntime raises its own pybind exception types
            raise ModelError(f"onnxruntime cannot load {spec.key} ({spec.path}): {err}") from err
        names = [o.name for o in self._session.get_outputs()]
        self._outputs = list(spec.outputs) or names
        missing = set(self._outputs) - set(names)
        if missing:
            raise ModelError(f"{spec.key}: outputs {sorted(missing)} not in model (has {names})")

    def _run_one(self, batch: np.ndarray) -> list[np.ndarray]:
        try:
            out = self._session.run(self._outputs, {self.spec.input_name: batch})
        except Exception as err:
            raise ModelError(f"onnxruntime failed on {self.spec.key}: {err}") from err
        return [np.asarray(o) for o in out]

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        """Raw outputs for the batch; split into single images if the model has a fixed batch."""
        if batch.shape[0] > 1 and not self.spec.dynamic_batch:
            return _split_run(self, batch, self._run_one)
        return self._run_one(batch)


def _openvino_shape(spec: ModelSpec) -> list[int] | None:
    """Input shape to compile for, -1 where the model takes any size (None: as in the file).

    Freezing height and width to the manifest's nominal size would make a model that takes
    any multiple of its stride (CenterFace on whole frames) refuse every other size.
    """
    if not spec.dynamic_batch and not spec.decoder.get("dynamic_hw_multiple"):
        return None
    shape = [-1 if spec.dynamic_batch else spec.input_shape[0], *spec.input_shape[1:]]
    if spec.decoder.get("dynamic_hw_multiple"):
        h, w = (2, 3) if spec.layout == "NCHW" else (1, 2)
        shape[h] = shape[w] = -1
    return shape


class OpenVinoModel:
    """OpenVINO on the CPU plugin, reading the same ONNX file."""

    backend = "openvino"

    def __init__(self, spec: ModelSpec, threads: int | None = None) -> None:
        import openvino as ov

        self.spec = spec
        config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        precision = os.environ.get("OKO_OPENVINO_PRECISION")
        if precision:
            config["INFERENCE_PRECISION_HINT"] = precision
        try:
            core = ov.Core()
            model = core.read_model(str(spec.path))
            shape = _openvino_shape(spec)
            if shape is not None:
                model.reshape({spec.input_name: shape})
            self._compiled = core.compile_model(model, "CPU", config)
        except Exception as err:  # OpenVINO raises RuntimeError subclasses of its own
            raise ModelError(f"openvino cannot load {spec.key} ({spec.path}): {err}") from err
        names = {n for out in self._compiled.outputs for n in out.get_names()}
        self._outputs = list(spec.outputs) or [o.get_any_name() for o in self._compiled.outputs]
        missing = set(self._outputs) - names
        if missing:
            raise ModelError(f"{spec.key}: outputs {sorted(missing)} not in model")
        self._request = self._compiled.create_infer_request()
        self._lock = threading.Lock()

    def _run_one(self, batch: np.ndarray) -> list[np.ndarray]:
        try:
            with self._lock:
                self._request.infer({self.spec.input_name: batch})
                return [
                    np.array(self._request.get_tensor(name).data, copy=True)
                    for name in self._outputs
                ]
        except Exception as err:
            raise ModelError(f"openvino failed on {self.spec.key}: {err}") from err

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        """Raw outputs for the batch; split into single images if the model has a fixed batch."""
        if batch.shape[0] > 1 and not self.spec.dynamic_batch:
            return _split_run(self, batch, self._run_one)
        return self._run_one(batch)


def load_spec(spec: ModelSpec, backend: str = "auto", threads: int | None = None) -> Model:
    """Verify the file against the manifest, then load it on the chosen backend."""
    spec.verify()
    chosen = resolve_backend(backend)
    logger.info("loading model %s on %s from %s", spec.key, chosen, spec.path)
    warning = licence_warning(spec.key, str(spec.upstream.get("licence", "")))
    if warning:
        logger.warning("%s", warning)
    if chosen == "openvino":
        return OpenVinoModel(spec, threads)
    return OnnxRuntimeModel(spec, threads)


def load_model(
    name: str,
    precision: str | None = None,
    backend: str = "auto",
    threads: int | None = None,
    manifest: Manifest | Path | None = None,
) -> Model:
    """Load a shipped model by manifest name; precision None = INT8 if shipped, else FP32."""
    if not isinstance(manifest, Manifest):
        manifest = load_manifest(manifest)
    return load_spec(manifest.best(name, precision), backend, threads)
