"""One real `install.sh` run into a temporary root, shared by the install and image tests.

Creating the virtualenv and pip-installing the checkout costs about a minute, so it is done
once per session. The script runs from a snapshot of the checkout, not the work tree:
other people edit files while the tests run, and a changed source rightly reinstalls,
which would make the idempotence check flaky for the wrong reason.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.install.helpers import (
    INSTALL_TIMEOUT_S,
    PIP_ARGS,
    Installed,
    output_of,
    run_script,
    snapshot_checkout,
)


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    """A root with the agent installed by the real script (without enrolling)."""
    base = tmp_path_factory.mktemp("install")
    source = snapshot_checkout(base / "oko-src")
    root = base / "root"
    root.mkdir()
    result = run_script("--root", root, "--no-enroll", "--pip-args", PIP_ARGS, source=source,
                        timeout=INSTALL_TIMEOUT_S)
    assert result.returncode == 0, output_of(result)
    yield Installed(root=root, source=source, output=output_of(result))
    shutil.rmtree(base, ignore_errors=True)
