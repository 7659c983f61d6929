"""okoctl's shared output library and contexts, without a fleet: formats, TTY vs pipe,
numbers as numbers, the 0600 config file, shell completion (issue 14, item 3)."""

from __future__ import annotations

import json
import os
import pty
import select
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from fleet.ctl import app as okoctl
from fleet.ctl import hoist_global_options
from fleet.ctl_context import ContextEntry, Flags, OkoctlConfig, config_path, resolve, save
from fleet.ctl_data import to_dict
from fleet.ctl_output import plain_table
from fleet.ctl_time import parse_moment
from proto.oko.v1 import admin_pb2, events_pb2, stream_pb2

ROOT = Path(__file__).resolve().parents[2]
OKOCTL = str(Path(sys.executable).parent / "okoctl")  # the installed console script
LONG = "ctx-" + "x" * 60  # a context name longer than any terminal column we give it
TOKEN = "okoa.00112233aabbccdd.SECRET-never-to-be-printed-SECRET"


def test_messages_become_json_with_numbers_as_numbers_and_rfc3339_times() -> None:
    device = admin_pb2.Device(device_id="dev-1", spool_depth=5, cpu_percent=12.5)
    device.last_seen.FromJsonString("2026-05-01T12:00:03.250Z")
    device.cameras.add(camera_id="cam-1", fps=4.5)
    out = to_dict(device)
    assert out["spool_depth"] == 5 and out["dropped_events"] == 0  # uint64: numbers
    assert out["cpu_percent"] == 12.5 and out["cameras"][0]["fps"] == 4.5
    assert out["last_seen"] == "2026-05-01T12:00:03.250Z"
    assert out["enrolled_at"] is None  # unset message: null, so every object has its keys
    assert out["labels"] == {}
    traffic = events_pb2.Event(traffic_flow=events_pb2.TrafficFlow(counts={"car": 3}))
    envelope = to_dict(stream_pb2.EventEnvelope(cursor=2**40, event=traffic))
    assert envelope["cursor"] == 2**40 and envelope["event"]["traffic_flow"]["counts"] == {"car": 3}
    assert "zone" not in envelope["event"]  # other members of a oneof stay absent
    far = admin_pb2.Device()
    far.last_seen.seconds = 10**12  # beyond year 9999: shown raw, flagged, as numbers
    assert to_dict(far)["last_seen"] == {"seconds": 10**12, "nanos": 0, "invalid": "out of range"}


def test_plain_tables_never_cut_and_can_drop_headers() -> None:
    rows = [[LONG, ""], ["b", "2"]]
    text = plain_table(["name", "last seen"], rows, with_headers=True)
    header = text.splitlines()[0]
    assert header == "NAME".ljust(len(LONG)) + "   LAST SEEN"  # aligned on the longest cell
    assert LONG in text and text.splitlines()[1].endswith("-")  # empty cells are '-'
    assert plain_table(["name"], [["a"]], with_headers=False) == "a"


def test_global_options_are_hoisted_in_every_spelling() -> None:
    args = ["device", "list", "-o", "json", "--no-headers", "--output=yaml", "-owide", "--site=x"]
    assert hoist_global_options(args) == [
        "-o",
        "json",
        "--no-headers",
        "--output=yaml",
        "-owide",
        "device",
        "list",
        "--site=x",
    ]


def test_moments_are_relative_or_rfc3339_and_bad_ones_name_the_option() -> None:
    now = 1_800_000_000.0
    assert parse_moment("15m", now=now).ToSeconds() == now - 900  # type: ignore[union-attr]
    stamp = parse_moment("2026-05-01T12:00:00+02:00", "--until")
    assert stamp is not None and stamp.ToJsonString() == "2026-05-01T10:00:00Z"
    assert parse_moment("") is None
    with pytest.raises(ValueError, match="--until 'soonish'"):
        parse_moment("soonish", "--until")


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cfg" / "config.yaml"
    monkeypatch.setenv("OKOCTL_CONFIG", str(path))
    for name in ("OKO_FLEET", "OKO_TOKEN", "OKO_CA_FILE", "OKO_TOKEN_FILE", "OKOCTL_CONTEXT"):
        monkeypatch.delenv(name, raising=False)
    contexts = {
        "prod": ContextEntry(fleet="fleet.example:7440", token=TOKEN, ca_pem="PEM"),
        LONG: ContextEntry(fleet="localhost:7440"),
    }
    save(path, OkoctlConfig(current_context="prod", contexts=contexts))
    return path


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(okoctl, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_every_format_of_a_listing_before_or_after_the_command(config: Path) -> None:
    code, table, _ = _run("context", "list")
    assert code == 0 and TOKEN not in table and "okoa.00112233aabbccdd" in table
    assert table.splitlines()[0].split() == ["CURRENT", "NAME", "FLEET", "TOKEN", "CA"]
    assert LONG in table  # piped: whole, never cut
    _, bare, _ = _run("context", "list", "--no-headers")
    assert [line.split() for line in bare.splitlines()] == [
        line.split() for line in table.splitlines()[1:]
    ]
    before = _run("-o", "json", "context", "list")[1]
    after = _run("context", "list", "-o", "json")[1]
    assert before == after and json.loads(after)[1]["current"] is True
    assert yaml.safe_load(_run("context", "list", "--output=yaml")[1]) == json.loads(after)
    assert _run("context", "list", "-o", "name")[1].splitlines() == [
        f"context/{LONG}",
        "context/prod",
    ]
    assert TOKEN not in before + _run("context", "list", "-o", "yaml")[1]
    code, _, err = _run("context", "list", "-o", "xml")
    assert code == 2 and "xml" in err


def test_context_use_current_delete(config: Path) -> None:
    assert _run("context", "current")[1].strip() == "prod"
    assert _run("context", "use", LONG)[0] == 0
    assert _run("context", "current")[1].strip() == LONG
    code, _, err = _run("context", "use", "nope")
    assert code == 2 and "'nope' not found" in err and "prod" in err
    assert _run("context", "delete", LONG)[0] == 0
    code, _, err = _run("context", "current")
    assert code == 1 and "no current context" in err
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert stat.S_IMODE(config.parent.stat().st_mode) == 0o700


def test_flags_and_environment_win_over_the_context(config: Path, tmp_path: Path) -> None:
    chosen = resolve(Flags(), config)
    assert (chosen.address, chosen.token, chosen.ca_pem) == ("fleet.example:7440", TOKEN, b"PEM")
    ca = tmp_path / "ca.pem"
    override = resolve(Flags(fleet="other:1", token="okoa.1.2", ca_file=ca), config)
    assert (override.address, override.token, override.ca_file) == ("other:1", "okoa.1.2", ca)
    assert override.ca_pem == b""  # the file given wins over the context's CA
    assert resolve(Flags(context=LONG), config).token == ""
    assert TOKEN not in repr(chosen)  # not even in a traceback


def test_readable_config_or_token_file_is_refused(config: Path, tmp_path: Path) -> None:
    config.chmod(0o640)
    code, _, err = _run("context", "list")
    assert code == 2 and "accessible by group or others (mode 0640)" in err and "chmod 600" in err
    assert TOKEN not in err
    config.chmod(0o600)
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o644)
    with pytest.raises(ValueError, match=r"token file .*\(mode 0644\)"):
        resolve(Flags(fleet="x:1", token_file=token_file, ca_file=tmp_path / "ca"), config)
    token_file.chmod(0o600)
    got = resolve(Flags(fleet="x:1", token_file=token_file, ca_file=tmp_path / "ca"), config)
    assert got.token == TOKEN


def test_config_path_follows_xdg_and_the_override(tmp_path: Path) -> None:
    assert config_path({"XDG_CONFIG_HOME": str(tmp_path)}) == tmp_path / "okoctl/config.yaml"
    assert config_path({"OKOCTL_CONFIG": str(tmp_path / "c.yaml")}) == tmp_path / "c.yaml"


def _okoctl_env(config: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OKO_", "OKOCTL_"))}
    return {**env, "OKOCTL_CONFIG": str(config), "PYTHONPATH": str(ROOT), **extra}


def _on_a_terminal(args: list[str], env: dict[str, str], columns: int) -> str:
    """What okoctl prints on a (pseudo-)terminal `columns` wide."""
    leader, follower = pty.openpty()
    env = {**env, "COLUMNS": str(columns), "LINES": "40", "TERM": "xterm"}
    proc = subprocess.Popen(args, stdin=follower, stdout=follower, stderr=follower, env=env)
    os.close(follower)
    out = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 1)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    proc.wait(timeout=30)
    os.close(leader)
    return out.decode("utf-8", errors="replace")


def test_cells_are_cut_only_on_a_terminal(config: Path) -> None:
    args = [OKOCTL, "context", "list"]
    env = _okoctl_env(config)
    shown = _on_a_terminal(args, env, columns=60)
    assert "…" in shown and LONG not in shown  # fitted to the terminal
    piped = subprocess.run(args, env=env, capture_output=True, text=True, check=True).stdout
    assert LONG in piped and "…" not in piped


def test_shell_completion_is_installed_by_typer_and_completes(config: Path) -> None:
    env = _okoctl_env(config)
    script = subprocess.run(
        [OKOCTL, "--show-completion", "bash"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "_OKOCTL_COMPLETE" in script and "complete " in script

    def complete(words: str) -> list[str]:
        cword = str(len(words.split()) - (0 if words.endswith(" ") else 1))
        done = subprocess.run(
            [OKOCTL],
            env={
                **env,
                "_OKOCTL_COMPLETE": "complete_bash",
                "COMP_WORDS": words,
                "COMP_CWORD": cword,
            },
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.split()

    assert "device" in complete("okoctl dev")
    assert complete("okoctl device list -o ") == ["table", "wide", "json", "yaml", "name"]
    assert complete("okoctl context use p") == ["prod"]


def test_a_broken_config_file_is_an_error_naming_the_field(config: Path) -> None:
    config.write_text("current_context: prod\ncontexts:\n  prod:\n    fleet: x:1\n    tokn: y\n")
    code, _, err = _run("context", "list")
    assert code == 2 and "contexts.prod.tokn" in err
    config.write_text("contexts: [unclosed\n")
    code, _, err = _run("context", "list")
    assert code == 2 and "not valid YAML" in err
