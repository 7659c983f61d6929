"""Face best shots a box keeps are personal data: 0600 files in a 0700 folder.

Uses the real face pipeline's event (`tests.analytics.test_faces_wire.face_event`: a real
face through the real detector and embedder) so the file is exactly what a box writes.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from agent.events.convert import EventMinter
from agent.events.types import AnalyticsEvent
from agent.faces.shots import FaceShotStore
from tests.analytics.test_faces_wire import face_event  # noqa: F401  (pytest fixture)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_face_shots_are_private_from_the_first_byte(
    face_event: AnalyticsEvent,  # noqa: F811
    tmp_path: Path,
) -> None:
    old_umask = os.umask(0o022)  # the usual umask, which made them 0644 in a 0755 folder
    try:
        store = FaceShotStore(tmp_path / "faces" / "shots")
        (path,) = store.save([face_event], EventMinter("cam-1").mint_all([face_event]))
    finally:
        os.umask(old_umask)
    assert _mode(path) == 0o600
    assert _mode(tmp_path / "faces" / "shots") == 0o700
    assert not list((tmp_path / "faces" / "shots").glob("*.tmp"))


def test_a_folder_an_older_agent_made_0755_is_tightened(tmp_path: Path) -> None:
    folder = tmp_path / "shots"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    FaceShotStore(folder)
    assert _mode(folder) == 0o700
