"""The audit chain and checkpoint checks on their own (pure functions, real Ed25519)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from fleet.audit_chain import GENESIS, entry_hash, verify_chain
from fleet.watchlists.checkpoints import CheckpointSigner
from fleet.watchlists.records import AuditRow


def _chain(details: list[str]) -> list[AuditRow]:
    rows, prev = [], GENESIS
    for seq, detail in enumerate(details, start=1):
        digest = entry_hash(prev, seq * 10, "alice", "subject.add", f"s{seq}", detail)
        rows.append(
            AuditRow(seq, seq * 10, "alice", "subject.add", f"s{seq}", detail, prev, digest)
        )
        prev = digest
    return rows


def test_a_consistent_rewrite_of_the_same_length_is_caught_by_the_checkpoint(
    tmp_path: Path,
) -> None:
    signer = CheckpointSigner.load_or_create(tmp_path)
    rows = _chain(["a", "b", "c"])
    checkpoint = signer.sign(3, rows[-1].hash, 99)
    assert verify_chain(rows, [checkpoint]).ok
    rewritten = _chain(["a", "B", "c"])
    assert verify_chain(rewritten).ok  # every link holds
    verdict = verify_chain(rewritten, [checkpoint])
    assert verdict.problems == ("checkpoint at 3: chain hash differs (chain rewritten)",)
    # A later, longer chain still holds the checkpointed head.
    longer = _chain(["a", "b", "c", "d"])
    assert verify_chain(longer, [checkpoint]).ok
    # The same key is loaded again on restart, so old checkpoints stay verifiable.
    again = CheckpointSigner.load_or_create(tmp_path)
    assert again.public_key == signer.public_key
    assert (tmp_path / "audit-checkpoint-key.pem").stat().st_mode & 0o777 == 0o600


def test_edited_deleted_and_relinked_rows_are_named() -> None:
    rows = _chain(["a", "b", "c", "d"])
    edited = [*rows[:1], replace(rows[1], detail="x"), *rows[2:]]
    assert verify_chain(edited).problems == ("entry 2: contents do not match its hash (edited)",)
    deleted = [rows[0], *rows[2:]]
    assert verify_chain(deleted).problems == ("entry 2 is missing (next is 3)",)
    renumbered = [rows[0], replace(rows[2], seq=2), replace(rows[3], seq=3)]
    assert "prev_hash does not match" in verify_chain(renumbered).problems[0]
