"""One real `install.sh` run into a temporary root, shared by the install and image tests.

Creating the virtualenv and pip-installing the checkout costs about a minute, so it is done
once per session. The script runs from a snapshot of the checkout, not the work tree:
other people edit files while the tests run, and a changed source rightly reinstalls,
which would make the idempotence check flaky for the wrong reason.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.install.fleet import Fleet, running_fleet
from tests.install.helpers import (
    BOX_PYTHON,
    INSTALL_TIMEOUT_S,
    PIP_ARGS,
    Installed,
    output_of,
    run_script,
    snapshot_checkout,
)


@pytest.fixture(scope="session")
def installed() -> Iterator[Installed]:
    """A root with the agent installed by the real script (without enrolling)."""
    # Not under pytest's 0700 temp dirs: the real-mode test runs this venv as user oko.
    base = Path(tempfile.mkdtemp(prefix="oko-install-"))
    try:
        base.chmod(0o755)
        source = snapshot_checkout(base / "oko-src")
        root = base / "root"
        root.mkdir()
        result = run_script(
            "--root",
            root,
            "--no-enroll",
            "--pip-args",
            PIP_ARGS,
            "--python",
            BOX_PYTHON,
            source=source,
            timeout=INSTALL_TIMEOUT_S,
        )
        assert result.returncode == 0, output_of(result)
        yield Installed(root=root, source=source, output=output_of(result))
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """One fleet server for every test here that enrolls a box."""
    with running_fleet(tmp_path_factory.mktemp("fleet")) as running:
        yield running
