"""Inference: the model manifest, preprocessing, and the two backends behind one interface."""

from agent.inference.backend import Model, available_backends, load_model, resolve_backend
from agent.inference.manifest import Manifest, ModelSpec, load_manifest

__all__ = [
    "Manifest",
    "Model",
    "ModelSpec",
    "available_backends",
    "load_manifest",
    "load_model",
    "resolve_backend",
]
