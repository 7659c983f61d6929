"""The model-signing public keys this box trusts, pinned at enrollment.

    <data_dir>/identity/model-signing-keys.json   (0600, atomic writes)

Enrollment stores the keys the fleet trusted then (`EnrollResponse.model_signing_keys`).
Later, a key the fleet offers is added only if a key already pinned endorsed it
(`models.signing.extend_trust`), so a compromised fleet cannot make the box run a model
signed with a key of its own.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterable
from pathlib import Path

from agent.errors import IdentityError
from agent.identity import write_private
from models.signing import PUBLIC_KEY_BYTES, PublicKey, extend_trust, key_id

log = logging.getLogger(__name__)

KEYS_FILE = "model-signing-keys.json"


class PinnedKeys:
    """Read and extend the pinned key set of one identity directory."""

    def __init__(self, identity_dir: Path) -> None:
        self.path = identity_dir / KEYS_FILE

    def load(self) -> dict[str, bytes]:
        """key_id -> raw public key; empty when nothing was pinned (a box enrolled before)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as err:
            raise IdentityError(f"{self.path}: unreadable pinned keys: {err}") from err
        out: dict[str, bytes] = {}
        for entry in data.get("keys", []):
            raw = base64.b64decode(entry["public_key"])
            if len(raw) == PUBLIC_KEY_BYTES and key_id(raw) == entry["key_id"]:
                out[entry["key_id"]] = raw
        return out

    def _save(self, keys: dict[str, bytes]) -> None:
        doc = {
            "keys": [
                {"key_id": k, "public_key": base64.b64encode(raw).decode()}
                for k, raw in sorted(keys.items())
            ]
        }
        write_private(self.path, json.dumps(doc, indent=1).encode())

    def pin(self, keys: Iterable[PublicKey]) -> list[str]:
        """Replace the pinned set (enrollment); returns the key ids pinned."""
        pinned = {key_id(k.raw): k.raw for k in keys if len(k.raw) == PUBLIC_KEY_BYTES}
        self._save(pinned)
        return sorted(pinned)

    def extend(self, offered: Iterable[PublicKey]) -> list[str]:
        """Add offered keys endorsed by pinned ones; returns the ids newly pinned."""
        pinned = self.load()
        trusted = extend_trust(pinned, offered)
        added = sorted(set(trusted) - set(pinned))
        if added:
            self._save(trusted)
            log.info("pinned model-signing key(s) %s (endorsed by a pinned key)", added)
        return added
