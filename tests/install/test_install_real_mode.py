"""install.sh without --root: the real user, owners, runuser enroll and systemctl calls.

The script runs in a private mount namespace whose /etc, /var and /opt are copy-on-write
overlays on a tmpfs, so `useradd`, `chown` and the files it writes are real but vanish with
the namespace. Only `systemctl` is a stand-in that records its arguments: no systemd runs
in this container (the edge of the world). The shared venv is bind-mounted at /opt/oko, so
no second pip install is needed; the script sees the same source already installed.
After the install, the unit's ExecStart runs as user oko against the test fleet: the box
must come up healthy and connect with the identity the script enrolled.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.install.fleet import Fleet, boxes_at
from tests.install.helpers import Installed
from tests.support.net import free_port

NAMESPACE_SCRIPT = r"""
set -euo pipefail
mount -t tmpfs tmpfs "$WORK"
for d in etc var opt; do
  mkdir -p "$WORK/$d-up" "$WORK/$d-work"
  mount -t overlay overlay -o "lowerdir=/$d,upperdir=$WORK/$d-up,workdir=$WORK/$d-work" "/$d"
done
mkdir /opt/oko
mount --bind "$VENV" /opt/oko
export PATH="$STUBS:$PATH"
made="/etc/oko /var/lib/oko /etc/systemd/system/oko-agent.service"
state() {
  # shellcheck disable=SC2086
  find $made -printf '%p %u:%g %m\n' | sort
  find $made -type f -exec sha256sum {} + | sort
}
echo "=== run1"; bash "$SRC/install.sh" --fleet "$FLEET" --token "$TOKEN" --ca-file "$CA" 2>&1
echo "=== state1"; state
echo "=== run2"; bash "$SRC/install.sh" --fleet "$FLEET" --token "$TOKEN" --ca-file "$CA" 2>&1
echo "=== state2"; state
echo "=== user"; id oko
echo "=== service"  # the unit's command as its user, with the generated config
sed -i "s/port: 9464/port: $METRICS_PORT/" /etc/oko/agent.yaml
read -r -a exec_start <<<"$(sed -n 's/^ExecStart=//p' /etc/systemd/system/oko-agent.service)"
# setpriv execs in place (as systemd does), so SIGTERM reaches the agent itself.
(cd /var/lib/oko && exec setpriv --reuid=oko --regid=oko --init-groups -- "${exec_start[@]}") \
  >"$WORK/agent.log" 2>&1 &
agent=$!
metrics="http://127.0.0.1:$METRICS_PORT/metrics"
probe="import sys, urllib.request as u; t = u.urlopen(sys.argv[1], timeout=2).read().decode()
sys.exit('oko_agent_uplink_connected 1.0' not in t)"
for _ in $(seq 120); do
  /opt/oko/bin/python -c "$probe" "$metrics" 2>/dev/null && { echo "uplink connected"; break; }
  sleep 0.5
done
/opt/oko/bin/python -c "import urllib.request as u; print(u.urlopen('http://127.0.0.1:$METRICS_PORT/healthz').status)"
kill -TERM "$agent"; wait "$agent" && echo "agent stopped cleanly"
cat "$WORK/agent.log"
umount /opt/oko  # the shared test venv: the uninstall below must not empty it
echo "=== uninstall"; bash "$SRC/install.sh" --uninstall 2>&1
echo "=== after"; id oko 2>&1 || true
for p in /opt/oko $made; do [ -e "$p" ] && echo "left: $p"; done
echo "=== end"
"""


def _namespaces_work() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "true"],
        capture_output=True,
        timeout=30,
        check=False,
    )
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(
    not _namespaces_work(), reason="needs root and mount namespaces (unshare)"
)


def _parts(output: str) -> dict[str, str]:
    pieces = re.split(r"^=== (\w+)$", output, flags=re.M)
    return dict(zip(pieces[1::2], pieces[2::2], strict=True))


def test_real_install_rerun_and_uninstall(
    installed: Installed, fleet: Fleet, tmp_path: Path
) -> None:
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    log = tmp_path / "systemctl.log"
    stub = stubs / "systemctl"
    stub.write_text(f'#!/bin/sh\necho "$*" >> {log}\n')
    stub.chmod(0o755)
    (tmp_path / "work").mkdir()
    token = fleet.ctl("token", "create", "--site", "real-mode").strip()
    env = {
        **os.environ,
        "WORK": str(tmp_path / "work"),
        "STUBS": str(stubs),
        "VENV": str(installed.path("/opt/oko")),
        "SRC": str(installed.source),
        "FLEET": fleet.api,
        "TOKEN": token,
        "CA": str(fleet.ca_file),
        "METRICS_PORT": str(free_port()),
    }
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "bash", "-c", NAMESPACE_SCRIPT],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )
    parts = _parts(result.stdout)
    assert result.returncode == 0 and "end" in parts, result.stdout + result.stderr

    run1, run2 = parts["run1"], parts["run2"]
    assert "$ useradd --system --user-group" in run1
    assert re.search(r"\$ runuser -u oko -- /opt/oko/bin/oko-agent enroll .*--token <token>", run1)
    assert token not in result.stdout
    assert "$ chown oko:oko -- /var/lib/oko" in run1
    owners = dict(
        line.split()[:2]
        for line in parts["state1"].splitlines()
        if " " in line and line.startswith("/")
    )
    assert owners["/etc/oko"] == "root:oko"
    assert owners["/etc/oko/agent.yaml"] == "root:oko"
    assert owners["/var/lib/oko"] == "oko:oko"
    assert owners["/var/lib/oko/identity/device.key"] == "oko:oko"
    assert re.search(r"^/var/lib/oko/identity/device.key oko:oko 600$", parts["state1"], re.M)
    assert len(boxes_at(fleet, "real-mode")) == 1

    # The second run finds everything in place and changes nothing.
    assert "user oko exists" in run2 and "already enrolled" in run2
    ran = [line.strip() for line in run2.splitlines() if line.strip().startswith("$ ")]
    assert ran == ["$ systemctl enable oko-agent.service", "$ systemctl start oko-agent.service"]
    assert parts["state2"] == parts["state1"]
    assert "uid=" in parts["user"]

    # The service's command, as user oko, reads the config, opens its spool in the data dir
    # and connects to the fleet with the enrolled identity.
    service = parts["service"]
    assert "uplink connected" in service and "\n200\n" in service, service
    assert "agent stopped cleanly" in service, service
    box = boxes_at(fleet, "real-mode")[0]
    assert box["agent_version"] and box["last_seen"], box

    calls = log.read_text().splitlines()
    assert calls == [
        "daemon-reload",
        "enable oko-agent.service",
        "restart oko-agent.service",
        "enable oko-agent.service",
        "start oko-agent.service",
        "disable --now oko-agent.service",
        "daemon-reload",
    ]
    assert "$ userdel oko" in parts["uninstall"]
    assert "no such user" in parts["after"]
    assert "left:" not in parts["after"]
