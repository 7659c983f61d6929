"""Oko fleet server: enrollment, ingest, storage, desired state, event stream."""

__version__ = "0.1.0"
