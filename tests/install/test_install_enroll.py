"""First contact: install.sh enrolls the box with a real fleet server (`oko-fleet serve`).

The token comes from `okoctl token create`, as an operator would mint it; the script then
runs the installed `oko-agent enroll` against the server over TLS.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.install.fleet import Fleet, boxes_at, running_fleet
from tests.install.helpers import REPO, Installed, output_of, run_script, tree_state


def test_install_enrolls_with_the_fleet_once(installed: Installed, fleet: Fleet) -> None:
    token = fleet.ctl("token", "create", "--site", "install-test").strip()
    identity = installed.path("/var/lib/oko/identity/device.crt")

    # A token the fleet never issued: the agent's reason, then the script's, nothing enrolled.
    forged = re.sub(r"^(oko1\.[^.]+\.)[^.]+", r"\1forged", token)
    bad = run_script(
        "--root",
        installed.root,
        "--fleet",
        fleet.api,
        "--token",
        forged,
        source=installed.source,
        timeout=120,
    )
    assert bad.returncode != 0
    assert "enroll failed:" in bad.stderr, output_of(bad)
    assert "install.sh: error: enrollment failed" in bad.stderr
    assert forged not in output_of(bad)
    assert not identity.exists()

    good = run_script(
        "--root",
        installed.root,
        "--fleet",
        fleet.api,
        "--token",
        token,
        "--ca-file",
        fleet.ca_file,
        source=installed.source,
        timeout=120,
    )
    out = output_of(good)
    assert good.returncode == 0, out
    assert identity.is_file()
    key = installed.path("/var/lib/oko/identity/device.key")
    assert key.stat().st_mode & 0o077 == 0, "private key readable by others"
    assert installed.path("/etc/oko/fleet-ca.pem").read_bytes() == fleet.ca_file.read_bytes()
    assert "skipped (--root): systemctl restart oko-agent.service" in out
    assert "  enroll:   " not in out  # no "how to enroll" hint once enrolled
    assert len(boxes_at(fleet, "install-test")) == 1

    # Again, with the token now spent: nothing is sent, nothing changes, the service starts.
    before = tree_state(installed.root)
    again = run_script(
        "--root",
        installed.root,
        "--fleet",
        fleet.api,
        "--token",
        token,
        "--ca-file",
        fleet.ca_file,
        source=installed.source,
        timeout=120,
    )
    assert again.returncode == 0, output_of(again)
    assert "already enrolled" in again.stdout
    assert "skipped (--root): systemctl start oko-agent.service" in again.stdout
    assert tree_state(installed.root) == before
    assert len(boxes_at(fleet, "install-test")) == 1


def _documented_commands(data: Path, backup_dir: Path, restored: Path) -> str:
    """The backup and restore commands of docs/operations.md, pointed at this test's dirs."""
    text = (REPO / "docs" / "operations.md").read_text()
    section = text[text.index("## Back up") :]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    lines = [line for block in blocks[:2] for line in block.splitlines()]
    wanted = [line for line in lines if line.startswith(("oko-fleet backup", "oko-fleet restore"))]
    assert len(wanted) == 2, f"backup and restore commands not found in {lines}"
    script = "\n".join(wanted)
    for doc_path, here in (
        ("/srv/oko-fleet-restored", restored),
        ("/srv/oko-fleet", data),
        ("/backup", backup_dir),
    ):
        script = script.replace(doc_path, str(here))
    return script.replace("oko-fleet ", f"{sys.executable} -m fleet.cli ")


def test_documented_backup_restores_the_fleet(fleet: Fleet, tmp_path: Path) -> None:
    """Back up a running fleet as docs/operations.md says, restore, find the box again."""
    token = fleet.ctl("token", "create", "--site", "backup-test").strip()
    enrolled = subprocess.run(
        [
            sys.executable,
            "-m",
            "agent.cli",
            "enroll",
            "--fleet",
            fleet.api,
            "--token",
            token,
            "--data-dir",
            str(tmp_path / "box"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert enrolled.returncode == 0, enrolled.stderr
    devices = {d["device_id"] for d in json.loads(fleet.ctl("--json", "device", "list"))}

    data = fleet.ca_file.parent.parent
    restored = tmp_path / "restored"
    script = _documented_commands(data, tmp_path / "backup", restored)
    subprocess.run(["bash", "-euo", "pipefail", "-c", script], check=True, timeout=120, cwd=REPO)
    with running_fleet(restored, admin_token=fleet.admin_token) as again:
        assert again.ca_file.read_bytes() == fleet.ca_file.read_bytes()
        after = {d["device_id"] for d in json.loads(again.ctl("--json", "device", "list"))}
    assert after == devices and devices
