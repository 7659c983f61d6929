"""okoctl contexts: saved fleet address, CA and token, like kubectl's kubeconfig.

The file is `$OKOCTL_CONFIG`, else `$XDG_CONFIG_HOME/okoctl/config.yaml`, else
`~/.config/okoctl/config.yaml`, written by `okoctl login` with mode 0600 in a 0700
directory. It holds API tokens, so okoctl refuses to read it (or a `--token-file`) when
its group or others may read it, the way ssh treats private keys.

Each setting is taken from, first to last: the command-line flag, its environment
variable (`OKO_FLEET`, `OKO_TOKEN` / `OKO_TOKEN_FILE`, `OKO_CA_FILE`), the selected
context (`--context` / `OKOCTL_CONTEXT`, else the file's current context), the default
(`localhost:7440`, no token, the system's CAs). The file is only read when a flag or
variable leaves something to fill in.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import Field, StringConstraints, ValidationError

from agent.config import Section
from agent.config.base import format_validation_error
from fleet.client import Connection
from fleet.errors import FleetError
from proto.transport import DEFAULT_API_PORT

DEFAULT_FLEET = f"localhost:{DEFAULT_API_PORT}"
CONTEXT_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,63}$"
MAX_CONTEXTS = 100
MAX_FILE_BYTES = 4 * 1024 * 1024
ContextName = Annotated[str, StringConstraints(pattern=CONTEXT_NAME)]


class ContextError(FleetError, ValueError):
    """The okoctl config file, a token file or a context name is unusable (exit code 2)."""


class ContextEntry(Section):
    """One saved fleet: where it is, what CA it has, and the token to use."""

    fleet: str = Field(
        description="The fleet's API address, HOST:PORT.", min_length=1, max_length=255
    )
    token: str = Field(
        "", description="API token (`okoa.<id>.<secret>`); never printed.", max_length=1024
    )
    ca_pem: str = Field(
        "",
        description="The fleet CA certificate (PEM), copied in by `okoctl login --ca-file`; "
        "empty: trust the system's CAs.",
        max_length=65536,
    )


class OkoctlConfig(Section):
    """okoctl's own file of contexts (mode 0600)."""

    current_context: str = Field(
        "", description="The context used when `--context` is not given.", max_length=64
    )
    contexts: dict[ContextName, ContextEntry] = Field(
        default_factory=dict,
        description="Saved fleets by name (`okoctl login --name NAME`).",
        max_length=MAX_CONTEXTS,
    )


@dataclass(frozen=True)
class Flags:
    """What the command line and environment said (None: not given)."""

    fleet: str | None = None
    token: str | None = None
    token_file: Path | None = None
    ca_file: Path | None = None
    context: str | None = None


def config_path(env: Mapping[str, str] | None = None) -> Path:
    """Where okoctl's config file is (it may not exist)."""
    env = os.environ if env is None else env
    if env.get("OKOCTL_CONFIG"):
        return Path(env["OKOCTL_CONFIG"]).expanduser()
    base = Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "okoctl" / "config.yaml"


def read_private(path: Path, what: str) -> bytes | None:
    """The bytes of a file that holds a secret; None if it does not exist.

    Refused when group or others may read it: a token there may already have leaked.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return None
    except OSError as err:
        raise ContextError(f"{what} {path}: {err.strerror}") from err
    with os.fdopen(fd, "rb") as file:
        mode = os.fstat(file.fileno()).st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ContextError(
                f"{what} {path} is accessible by group or others (mode "
                f"{stat.S_IMODE(mode):04o}) and holds an API token: refusing to read it; "
                f"run `chmod 600 {path}` (and replace the token if others could read it)"
            )
        data = file.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ContextError(f"{what} {path}: larger than {MAX_FILE_BYTES} bytes")
    return data


def load(path: Path) -> OkoctlConfig:
    """The config file's contents; an empty config if there is none."""
    data = read_private(path, "okoctl config")
    if data is None:
        return OkoctlConfig()
    try:
        doc = yaml.safe_load(data.decode("utf-8")) or {}
        return OkoctlConfig.model_validate(doc)
    except (UnicodeDecodeError, yaml.YAMLError) as err:
        raise ContextError(f"okoctl config {path}: not valid YAML: {err}") from err
    except ValidationError as err:
        raise ContextError(format_validation_error(err, f"okoctl config {path}")) from err


def save(path: Path, config: OkoctlConfig) -> None:
    """Write the config atomically, mode 0600, in a directory only the user can enter."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    text = yaml.safe_dump(config.model_dump(), sort_keys=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            os.fchmod(file.fileno(), 0o600)  # even under a permissive umask or old file
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except OSError as err:
        temp.unlink(missing_ok=True)
        raise ContextError(f"cannot write okoctl config {path}: {err.strerror}") from err


def read_token_file(path: Path) -> str:
    """The token in `--token-file` (first line, spaces trimmed)."""
    data = read_private(path, "token file")
    if data is None:
        raise ContextError(f"token file {path}: no such file")
    lines = data.decode("utf-8", errors="replace").strip().splitlines()
    return lines[0].strip() if lines else ""


def selected(config: OkoctlConfig, name: str | None) -> tuple[str, ContextEntry | None]:
    """The context `name` (or the current one): its name and entry; unknown names fail."""
    wanted = name or config.current_context
    if not wanted:
        return "", None
    entry = config.contexts.get(wanted)
    if entry is None:
        known = ", ".join(sorted(config.contexts)) or "none; create one with `okoctl login`"
        raise ContextError(f"context {wanted!r} not found (known: {known})")
    return wanted, entry


def resolve(flags: Flags, path: Path) -> Connection:
    """The connection the flags, the environment and the context say (module docstring)."""
    token = flags.token or (read_token_file(flags.token_file) if flags.token_file else None)
    entry: ContextEntry | None = None
    if flags.context or not (flags.fleet and token and flags.ca_file):
        _, entry = selected(load(path), flags.context)
    ca_pem = b""
    if flags.ca_file is None and entry is not None:
        ca_pem = entry.ca_pem.encode()
    return Connection(
        address=flags.fleet or (entry.fleet if entry else DEFAULT_FLEET),
        token=token if token is not None else (entry.token if entry else ""),
        ca_file=flags.ca_file,
        ca_pem=ca_pem,
    )


def token_id(token: str) -> str:
    """The public part of an API token (`okoa.<id>`), for display; '' for none."""
    if not token:
        return ""
    kind, _, rest = token.partition(".")
    ident = rest.partition(".")[0]
    return f"{kind}.{ident}" if ident else "(unrecognised token)"


def ca_fingerprint(pem: str) -> str:
    """Short sha256 of a stored CA PEM, to tell contexts apart; 'system CAs' for none."""
    if not pem:
        return "system CAs"
    return "sha256:" + hashlib.sha256(pem.encode()).hexdigest()[:16]
