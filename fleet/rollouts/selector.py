"""Which boxes a rollout covers: a label selector over the device's site and labels.

Syntax (a subset of kubectl's equality selectors): terms separated by commas, each
`key=value`, `key==value` or `key!=value`; all terms must hold. The key `site` means the
device's site (from its enrollment token); any other key is one of the labels the box
sent at enrollment. `*` alone selects every device. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from fleet.errors import InvalidRequestError

MAX_SELECTOR_CHARS = 1000
MAX_TERMS = 16
EVERYTHING = "*"
SITE_KEY = "site"
_KEY = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_./-]{0,62})$")
_VALUE = re.compile(r"^[A-Za-z0-9_.:@-]{0,128}$")


@dataclass(frozen=True)
class Term:
    """One `key op value`."""

    key: str
    value: str
    negated: bool = False

    def holds(self, site: str, labels: Mapping[str, str]) -> bool:
        """Whether a device with this site and labels satisfies the term."""
        actual = site if self.key == SITE_KEY else labels.get(self.key)
        return (actual == self.value) != self.negated

    def __str__(self) -> str:
        return f"{self.key}{'!=' if self.negated else '='}{self.value}"


@dataclass(frozen=True)
class Selector:
    """All terms must hold; no terms (`*`) selects every device."""

    terms: tuple[Term, ...]

    def matches(self, site: str, labels: Mapping[str, str]) -> bool:
        """Whether a device is selected."""
        return all(t.holds(site, labels) for t in self.terms)

    def __str__(self) -> str:
        return ",".join(str(t) for t in self.terms) or EVERYTHING


def _split(text: str) -> tuple[str, str, bool] | None:
    """(key, value, negated) of `key!=value`, `key==value` or `key=value`."""
    for op in ("!=", "==", "="):
        key, found, value = text.partition(op)
        if found:
            return key.strip(), value.strip(), op == "!="
    return None


def _term(text: str, index: int) -> Term:
    where = f"selector term {index + 1} ({text!r})"
    split = _split(text)
    if split is None:
        raise InvalidRequestError(f"{where}: expected key=value or key!=value")
    key, value, negated = split
    if not _KEY.match(key):
        raise InvalidRequestError(
            f"{where}: key must be 1-63 of letters, digits, '_', '.', '/', '-'"
        )
    if not _VALUE.match(value):
        raise InvalidRequestError(
            f"{where}: value must be at most 128 of letters, digits, '_', '.', ':', '@', '-'"
        )
    return Term(key, value, negated)


def parse_selector(text: str) -> Selector:
    """Parse and validate; InvalidRequestError naming the bad term otherwise."""
    text = text.strip()
    if not text:
        raise InvalidRequestError("selector is required (e.g. site=north, or * for all)")
    if len(text) > MAX_SELECTOR_CHARS:
        raise InvalidRequestError(f"selector must be at most {MAX_SELECTOR_CHARS} characters")
    if text == EVERYTHING:
        return Selector(())
    parts = text.split(",")
    if len(parts) > MAX_TERMS:
        raise InvalidRequestError(f"selector has {len(parts)} terms, at most {MAX_TERMS}")
    terms = tuple(_term(part.strip(), i) for i, part in enumerate(parts))
    keys = [t.key for t in terms]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise InvalidRequestError(f"selector names {repeated[0]!r} twice")
    return Selector(terms)
