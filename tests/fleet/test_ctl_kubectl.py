"""okoctl as a kubectl user expects it, against a real `oko-fleet serve` over TLS: every
listing in every `-o` format before or after the command, and `okoctl login` contexts that
work without flags and never print a token (issue 14, item 3)."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from agent.identity import AgentStore
from agent.uplink.enroll import enroll
from fleet.ctl import app
from tests.support.fleet import FleetCli
from tests.support.net import free_port

pytestmark = pytest.mark.timeout(120)
#: Every listing command, with the arguments it needs.
LISTINGS = [
    ("token", "list"),
    ("device", "list"),
    ("camera", "list"),
    ("webhook", "list"),
    ("webhook", "failures"),
    ("watchlist", "list"),
    ("subject", "list"),
    ("alert", "list"),
    ("audit", "list"),
    ("events", "query"),
    ("context", "list"),
]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetCli]:
    server = FleetCli(tmp_path_factory.mktemp("kubectl") / "fleet", free_port(), free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "okoctl" / "config.yaml"
    monkeypatch.setenv("OKOCTL_CONFIG", str(path))
    for name in ("OKO_FLEET", "OKO_TOKEN", "OKO_CA_FILE", "OKO_TOKEN_FILE", "OKOCTL_CONTEXT"):
        monkeypatch.delenv(name, raising=False)
    return path


def run(*args: str, env: dict[str, str] | None = None, stdin: str = "") -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=env or {}, input=stdin)
    return result.exit_code, result.stdout, result.stderr


def steady(devices: list[dict[str, object]]) -> list[dict[str, object]]:
    """Device listings without what only the clock moves between two calls."""
    return [{k: v for k, v in d.items() if k != "certificate_days_left"} for d in devices]


def where(fleet: FleetCli) -> dict[str, str]:
    return {
        "OKO_FLEET": fleet.api,
        "OKO_TOKEN": fleet.admin_token,
        "OKO_CA_FILE": str(fleet.ca_file),
    }


def test_every_listing_takes_every_format_before_or_after(
    fleet: FleetCli, config: Path, tmp_path: Path
) -> None:
    code, token, _ = run("token", "create", "--site", "depot", env=where(fleet))
    assert code == 0
    store = AgentStore(tmp_path / "box")
    device_id = enroll(store, fleet.api, token.strip(), device_name="gate-7").device_id
    store.close()
    env = where(fleet)

    before = run("-o", "json", "device", "list", env=env)
    after = run("device", "list", "-o", "json", env=env)
    assert before[0] == after[0] == 0
    assert steady(json.loads(before[1])) == steady(json.loads(after[1]))
    (device,) = [d for d in json.loads(after[1]) if d["device_id"] == device_id]
    assert device["spool_depth"] == 0 and device["desired_version"] == 0  # numbers
    assert device["enrolled_at"].endswith("Z") and device["last_seen"] is None  # RFC 3339
    as_yaml = yaml.safe_load(run("device", "list", "-o", "yaml", env=env)[1])
    assert steady(as_yaml) == steady(json.loads(after[1]))
    assert f"device/{device_id}" in run("device", "list", "-o", "name", env=env)[1].splitlines()
    code, table, _ = run("device", "list", env=env)
    assert code == 0 and table.splitlines()[0].startswith("ID ")
    assert device_id in table.split()  # piped: the whole id, never cut
    wide = run("device", "list", "-o", "wide", env=env)[1]
    assert "AGENT" in wide.splitlines()[0] and "AGENT" not in table
    bare = run("--no-headers", "device", "list", env=env)[1]
    assert [r.split() for r in bare.splitlines()] == [r.split() for r in table.splitlines()[1:]]
    shown = run("device", "show", device_id, "-o", "yaml", env=env)[1]
    assert yaml.safe_load(shown)["name"] == "gate-7"

    for command in LISTINGS:
        for output in ("table", "wide", "json", "yaml", "name"):
            code, out, err = run(*command, "-o", output, env=env)
            assert code == 0, (command, output, err)
            if output == "json":
                assert isinstance(json.loads(out), list | dict), command
            if output == "name" and out:
                assert all("/" in line for line in out.splitlines()), (command, out)


def test_login_saves_a_context_that_works_without_flags(fleet: FleetCli, config: Path) -> None:
    secret = fleet.admin_token.rsplit(".", 1)[1]
    outputs: list[str] = []

    def ok(*args: str, **kw: object) -> str:
        code, out, err = run(*args, **kw)  # type: ignore[arg-type]
        outputs.extend((out, err))
        assert code == 0, err
        return out

    # A wrong token is refused by the fleet and nothing is saved.
    flags = ("--fleet", fleet.api, "--ca-file", str(fleet.ca_file))
    code, _, err = run("login", *flags, "--token", "okoa.0011223344556677.nope")
    assert code == 1 and "UNAUTHENTICATED" in err and not config.exists()
    # The token read from standard input, as `okoctl login ... < file` does.
    said = ok("login", "--name", "lab", *flags, stdin=fleet.admin_token + "\n")
    assert "context 'lab'" in said and "okoa." in said
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert ok("status", "-o", "json") and json.loads(ok("status", "-o", "json"))["version"]
    listed = json.loads(ok("context", "list", "-o", "json"))
    assert [(c["name"], c["current"], c["fleet"]) for c in listed] == [("lab", True, fleet.api)]
    # Flags and environment beat the context.
    code, _, err = run("status", env={"OKO_TOKEN": "okoa.0011223344556677.nope"})
    assert code == 1 and "UNAUTHENTICATED" in err
    code, _, err = run("status", "--fleet", "localhost:1")
    assert code == 1 and "UNAVAILABLE" in err
    # A second context; switching between them.
    ok("login", "--name", "lab-again", "--fleet", fleet.api, "--ca-file", str(fleet.ca_file),
       "--token", fleet.admin_token)  # fmt: skip
    assert ok("context", "current").strip() == "lab-again"
    ok("context", "use", "lab")
    assert ok("--context", "lab-again", "status")
    ok("context", "delete", "lab-again")
    assert [c["name"] for c in json.loads(ok("context", "list", "-o", "json"))] == ["lab"]
    # Re-login under the same name keeps the saved fleet and CA.
    ok("login", "--name", "lab", "--token", fleet.admin_token)
    assert ok("device", "list", "-o", "json")
    assert not [text for text in outputs if secret in text]  # never printed
    assert secret in config.read_text()  # only kept in the 0600 file
