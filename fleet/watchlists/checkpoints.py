"""The fleet's audit-checkpoint key and the periodic signing of the audit chain's head.

The key is an Ed25519 private key in the data directory (0600), created on first start.
Checkpoints only help if an auditor keeps copies outside the fleet (`okoctl audit
checkpoint --out FILE`): whoever controls the store could also rewrite the checkpoints
kept inside it, but not the ones already handed out.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fleet.audit_chain import checkpoint_message, key_id
from fleet.errors import FleetError
from fleet.store.base import Store
from fleet.watchlists.records import Checkpoint

log = logging.getLogger(__name__)
KEY_FILE = "audit-checkpoint-key.pem"
#: How often the head is signed when the chain moved.
CHECKPOINT_EVERY_S = 60.0


class CheckpointSigner:
    """Signs audit chain heads with the fleet's checkpoint key."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public_key = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.key_id = key_id(self.public_key)

    @classmethod
    def load_or_create(cls, data_dir: Path) -> CheckpointSigner:
        """The key in `data_dir`, created (0600) if missing."""
        path = data_dir / KEY_FILE
        try:
            if path.exists():
                key = serialization.load_pem_private_key(path.read_bytes(), password=None)
                if not isinstance(key, Ed25519PrivateKey):
                    raise FleetError(f"{path}: not an Ed25519 private key")
                return cls(key)
            key = Ed25519PrivateKey.generate()
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(pem)
        except (OSError, ValueError) as err:
            raise FleetError(f"audit checkpoint key {path}: {err}") from err
        log.warning("created audit checkpoint key %s (id %s)", path, cls(key).key_id)
        return cls(key)

    def sign(self, seq: int, head_hash: str, at_us: int) -> Checkpoint:
        """A checkpoint of the chain head (seq, head_hash) at `at_us`."""
        signature = self._key.sign(checkpoint_message(seq, head_hash, at_us))
        return Checkpoint(seq, head_hash, at_us, signature, self.public_key)

    async def checkpoint(self, store: Store) -> Checkpoint | None:
        """The newest checkpoint, signing the head first if the chain moved since."""
        seq, head = await store.audit_head()
        latest = await store.latest_checkpoint()
        if latest is not None and latest.seq == seq and latest.head_hash == head:
            return latest
        if seq == 0:
            return None
        made = self.sign(seq, head, time.time_ns() // 1000)
        await store.add_checkpoint(made)
        return made
