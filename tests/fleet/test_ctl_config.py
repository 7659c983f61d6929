"""`okoctl config`: idempotent set/apply ("unchanged"), --dry-run, and diff, on a real fleet."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.identity import AgentStore
from agent.uplink.enroll import enroll
from tests.fleet.test_ctl import ctl
from tests.support.fleet import FleetCli
from tests.support.net import free_port

pytestmark = pytest.mark.timeout(90)

BOX = "cameras:\n  - id: cam-1\n    source: rtsp://10.1.1.1/s\n    detect_fps: 4\n"
# The same content: keys re-ordered, a comment, flow style.
SAME = "# gate\ncameras: [{detect_fps: 4, source: 'rtsp://10.1.1.1/s', id: cam-1}]\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetCli]:
    fleet = FleetCli(tmp_path_factory.mktemp("ctl-config") / "fleet", free_port(), free_port())
    fleet.start()
    yield fleet
    fleet.stop()


def _device(server: FleetCli, tmp_path: Path) -> str:
    _, token, _ = ctl(server, "token", "create", "--site", "cfg")
    store = AgentStore(tmp_path / "box")
    device_id = enroll(store, server.api, token.strip(), device_name="cfg-box").device_id
    store.close()
    return device_id


def _file(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_set_and_apply_are_idempotent_and_dry_run_stores_nothing(
    server: FleetCli, tmp_path: Path
) -> None:
    device = _device(server, tmp_path)
    box, same = _file(tmp_path, "box.yaml", BOX), _file(tmp_path, "same.yaml", SAME)
    assert ctl(server, "config", "set", device, "-f", box)[1].strip().endswith(": version 1")
    code, out, _ = ctl(server, "config", "set", device, "-f", same)
    assert code == 0 and "unchanged (version 1)" in out

    changed = _file(tmp_path, "fps.yaml", BOX.replace("detect_fps: 4", "detect_fps: 2"))
    code, out, _ = ctl(server, "config", "set", device, "-f", changed, "--dry-run")
    assert code == 0 and "would be version 2" in out
    code, out, _ = ctl(server, "--json", "config", "get", device)
    assert json.loads(out)["rendered"]["version"] == 1  # the dry run stored nothing

    many = _file(
        tmp_path,
        "apply.yaml",
        f"device: {device}\ncamera: cam-2\nconfig:\n  source: rtsp://10.1.1.2/s\n",
    )
    code, out, _ = ctl(server, "config", "apply", "-f", many)
    assert code == 0 and f"{device}/cam-2: version 2" in out
    code, out, _ = ctl(server, "config", "apply", "-f", many)
    assert code == 0 and f"{device}/cam-2: unchanged (version 2)" in out
    code, out, _ = ctl(server, "config", "apply", "-f", many, "--dry-run")
    assert code == 0 and "unchanged (version 2)" in out


def test_diff_against_a_file_and_against_what_the_box_reports(
    server: FleetCli, tmp_path: Path
) -> None:
    device = _device(server, tmp_path)
    ctl(server, "config", "set", device, "-f", _file(tmp_path, "box.yaml", BOX))
    code, out, _ = ctl(server, "config", "diff", device, "-f", _file(tmp_path, "s.yaml", SAME))
    assert (code, out.strip()) == (0, "no differences")

    changed = _file(tmp_path, "fps.yaml", BOX.replace("detect_fps: 4", "detect_fps: 2"))
    code, out, _ = ctl(server, "config", "diff", device, "-f", changed)
    assert code == 1 and "-  detect_fps: 4" in out and "+  detect_fps: 2" in out
    code, out, _ = ctl(server, "--json", "config", "get", device)
    assert json.loads(out)["rendered"]["version"] == 1  # diff stored nothing

    # The box never reported: everything desired is a difference.
    code, out, _ = ctl(server, "config", "diff", device)
    assert code == 1 and "+  source: rtsp://10.1.1.1/s" in out and "reported v0" in out


def test_set_with_a_selector_pushes_to_every_matching_device(
    server: FleetCli, tmp_path: Path
) -> None:
    devices = []
    for i in range(2):
        _, token, _ = ctl(server, "token", "create", "--site", "sel-north")
        store = AgentStore(tmp_path / f"box-{i}")
        devices.append(enroll(store, server.api, token.strip(), device_name=f"n-{i}").device_id)
        store.close()
    box = _file(tmp_path, "box.yaml", BOX)
    code, out, err = ctl(server, "config", "set", "--selector", "site=sel-north", "-f", box)
    assert code == 0, err
    assert sorted(line.split(":")[0] for line in out.splitlines()) == sorted(devices)
    assert "version 1" in out and "pushing box document" in err
    assert "site=sel-north: 2 matched, 2 changed, 0 unchanged, 0 refused" in err
    same = _file(tmp_path, "same.yaml", SAME)
    code, out, err = ctl(server, "config", "set", "--selector", "site=sel-north", "-f", same)
    assert code == 0 and out.count("unchanged (version 1)") == 2 and "2 unchanged" in err
    code, _, err = ctl(server, "config", "set", "--selector", "site=sel-none", "-f", box)
    assert code == 1 and "no enrolled device matches 'site=sel-none'" in err
    code, _, err = ctl(server, "config", "set", devices[0], "--selector", "site=x", "-f", box)
    assert code == 2 and "exactly one" in err
