"""Wire events: turning analytics results into `oko.v1.Event` messages with ids and sequence."""

from agent.events.convert import EventMinter, ModelIdentity
from agent.events.ids import UuidV7Generator

__all__ = ["EventMinter", "ModelIdentity", "UuidV7Generator"]
