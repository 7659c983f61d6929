"""Set-up shared by every test folder.

Helpers live in the `tests.support` package (imported as `tests.support.*`; pytest's
`pythonpath = ["."]` puts this folder on sys.path). Its pytest fixtures are registered here
once - `pytest_plugins` is only honoured in the root conftest - so no folder re-imports them.

The suite can run on two pytest-xdist workers: `pytest -n 2 --dist loadgroup
--no-loadscope-reorder`. Much of its time is spent waiting on real processes (fleets,
boxes, rollout soaks, certificate expiry), which a second worker could fill.
`pytest_collection_modifyitems` below makes that correct and balanced: every test of a file
stays on one worker (module fixtures are built once), folders whose session fixtures are
expensive stay together, and under xdist the longest files go out first so no worker is
left with a long one at the end. A plain `pytest` run is unaffected (same order).
"""

from __future__ import annotations

import os

import pytest

pytest_plugins = ["tests.support.media"]

# Folders whose tests share a session fixture costly enough to build only once:
# tests/install's `installed` (a real install.sh run with its own venv, about a minute).
_ONE_WORKER_FOLDERS = ("tests/install/",)

# Files that take a minute or more (measured with --durations): started first, so the
# other worker works through the short files meanwhile.
_LONG_FIRST = (
    "tests/rollouts/test_rollout_agents.py",
    "tests/install/",
    "tests/accuracy/",
    "tests/uplink/test_cert_renewal_e2e.py",
    "tests/scale/test_replica_faults.py",
)


def _group(path: str) -> str:
    return next((folder for folder in _ONE_WORKER_FOLDERS if path.startswith(folder)), path)


def _rank(path: str) -> int:
    return next((i for i, p in enumerate(_LONG_FIRST) if path.startswith(p)), len(_LONG_FIRST))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Group tests for xdist's loadgroup by file (or folder); on workers, longest files first.

    The sort is stable and depends only on paths, so every worker collects the same order.
    """
    root = config.rootpath
    for item in items:
        path = item.path.relative_to(root).as_posix()
        item.add_marker(pytest.mark.xdist_group(_group(path)))
    if os.environ.get("PYTEST_XDIST_WORKER"):
        items.sort(key=lambda item: _rank(item.path.relative_to(root).as_posix()))
