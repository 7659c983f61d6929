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


class SpoolError(OkoError):
    """The on-disk event spool cannot be opened, read or written; the message names the file."""


class IdentityError(OkoError):
    """The box's enrolled identity (key, certificate, identity document) is missing or unusable."""


class EnrollError(OkoError):
    """Enrollment with the fleet failed (bad token, unreachable fleet, rejected CSR)."""


class UplinkError(OkoError):
    """The uplink to the fleet failed in a way retrying will not fix."""
