"""The agent's own exception hierarchy.

Adapters that meet foreign exceptions (ONNX Runtime, OpenVINO, OpenCV, gRPC, SQLite) map
them to one of these, so callers handle a small, stable set and the message always says
which file, camera or field was at fault.
"""


class OkoError(Exception):
    """Base of every error Oko raises on purpose."""


class ConfigError(OkoError):
    """A configuration document is invalid; the message names the field."""


class ModelError(OkoError):
    """A model could not be found, verified, loaded or run."""


class ModelIntegrityError(ModelError):
    """A model file's sha256 does not match the manifest: refuse to run it."""


class BackendUnavailableError(ModelError):
    """The requested inference backend is not installed or cannot run here."""


class SourceError(OkoError):
    """A video source could not be opened or read."""
