"""Configuration: one pydantic model per section, loaded from one readable YAML file."""

from agent.config.base import Section, load_yaml, parse_document

__all__ = ["Section", "load_yaml", "parse_document"]
