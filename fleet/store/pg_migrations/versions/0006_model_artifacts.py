"""Model artifact files shared by every replica, in chunks (fleet/store/pg_artifacts.py).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

A version pushed through one replica must be downloadable from any: each replica keeps
its files on its own disk (fleet/models/blobs.py) and fills a missing one from here.
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the chunk table."""
    op.execute(
        """CREATE TABLE model_artifact_chunks (
            sha256 text NOT NULL,
            seq integer NOT NULL,
            data bytea NOT NULL,
            PRIMARY KEY (sha256, seq)
        )"""
    )


def downgrade() -> None:
    """Drop it."""
    op.execute("DROP TABLE model_artifact_chunks")
