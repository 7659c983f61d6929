"""Oko edge agent: capture -> motion gate -> detect -> track -> analytics -> spool -> uplink."""

__version__ = "0.1.0"
