"""The audit log's hash chain and its signed checkpoints: pure functions, no I/O.

Each entry's hash covers the previous entry's hash, so editing or deleting a row breaks
every later link. Rewriting the whole chain consistently is caught by checkpoints: the
head (seq, hash) signed with the fleet's Ed25519 key, kept by an auditor outside the
fleet, much as Certificate Transparency logs sign their tree heads. `verify_chain` is run
by `okoctl audit verify` on the entries it downloads, so it does not trust the server.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from fleet.watchlists.records import AuditRow, Checkpoint

GENESIS = "0" * 64
CHECKPOINT_DOMAIN = "oko-audit-checkpoint/v1"


def entry_hash(prev: str, *fields: int | str) -> str:
    """sha256 over the previous hash and the entry's (at_us, actor, action, target, detail).

    Canonical JSON array, so no field boundary is ambiguous.
    """
    body = json.dumps([prev, *fields], separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


def checkpoint_message(seq: int, head_hash: str, at_us: int) -> bytes:
    """The exact bytes a checkpoint signature covers."""
    return f"{CHECKPOINT_DOMAIN}|{seq}|{head_hash}|{at_us}".encode()


def key_id(public_key: bytes) -> str:
    """Short fingerprint of a raw Ed25519 public key, for people comparing keys."""
    return hashlib.sha256(public_key).hexdigest()[:16]


@dataclass(frozen=True)
class Verdict:
    """What verification found: `problems` empty means the chain (and checkpoint) hold."""

    entries: int
    head_seq: int
    head_hash: str
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when nothing was found wrong."""
        return not self.problems


def signature_valid(head: Checkpoint, pinned_key: bytes | None = None) -> bool:
    """True if `head` is signed by its key (and that key is `pinned_key`, when given)."""
    if pinned_key is not None and head.public_key != pinned_key:
        return False
    try:
        key = Ed25519PublicKey.from_public_bytes(head.public_key)
        key.verify(head.signature, checkpoint_message(head.seq, head.head_hash, head.at_us))
    except (InvalidSignature, ValueError):
        return False
    return True


class ChainVerifier:
    """`verify_chain` one page at a time, for logs too long to hold in memory at once.

    Keeps only the previous hash, the expected seq and the hash of each checkpointed seq.
    """

    def __init__(self, checkpoints: Iterable[Checkpoint] = ()) -> None:
        self.checkpoints = list(checkpoints)
        self._wanted = {cp.seq for cp in self.checkpoints}
        self.problems: list[str] = []
        self.prev, self.expected_seq, self.count = GENESIS, 1, 0
        self._hashes: dict[int, str] = {}

    def feed(self, entries: Iterable[AuditRow]) -> None:
        """Check the next entries of the chain, in order."""
        problems = self.problems
        for e in entries:
            self.count += 1
            prev = self.prev
            if not problems:
                if e.seq != self.expected_seq:
                    problems.append(f"entry {self.expected_seq} is missing (next is {e.seq})")
                elif e.prev_hash != prev:
                    problems.append(f"entry {e.seq}: prev_hash does not match entry {e.seq - 1}")
                elif e.hash != entry_hash(prev, e.at_us, e.actor, e.action, e.target, e.detail):
                    problems.append(f"entry {e.seq}: contents do not match its hash (edited)")
            if e.seq in self._wanted:
                self._hashes[e.seq] = e.hash
            self.prev, self.expected_seq = e.hash, e.seq + 1

    def verdict(self) -> Verdict:
        """What was found, after every checkpoint was checked against the chain."""
        problems = list(self.problems)
        for cp in self.checkpoints:
            if not signature_valid(cp):
                problems.append(f"checkpoint at {cp.seq}: signature invalid")
            elif cp.seq not in self._hashes:
                problems.append(
                    f"checkpoint at {cp.seq}: the chain has no entry {cp.seq}"
                    " (entries deleted or the chain rewritten)"
                )
            elif self._hashes[cp.seq] != cp.head_hash:
                problems.append(f"checkpoint at {cp.seq}: chain hash differs (chain rewritten)")
        head = self.prev if self.count else ""
        return Verdict(self.count, self.expected_seq - 1, head, tuple(problems))


def verify_chain(entries: Iterable[AuditRow], checkpoints: Iterable[Checkpoint] = ()) -> Verdict:
    """Recompute every link and check every checkpoint against the chain.

    A checkpoint must carry a valid signature and the chain must hold its (seq, hash).
    Reports the first broken link and every failed checkpoint.
    """
    verifier = ChainVerifier(checkpoints)
    verifier.feed(entries)
    return verifier.verdict()
