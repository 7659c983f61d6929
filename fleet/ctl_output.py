"""okoctl output, shared by every command: `-o table|wide|json|yaml|name`, `--no-headers`.

Formats (the global `-o/--output`, before or after the command):

* `table` (default): on a terminal a rich table fitted to its width (cells cut with "…"
  only there); piped or redirected, plain columns with UPPERCASE headers that are never cut
  or wrapped, so `okoctl device list | awk '{print $1}'` gets whole ids. Empty cells are
  `-` in plain columns. `--no-headers` drops the header line.
* `wide`: the table plus the columns marked `wide=True`.
* `json` / `yaml`: the objects themselves (`fleet.ctl_data.to_dict`): a list for a listing,
  one object for `show`; numbers as numbers, times RFC 3339 UTC, unset messages `null`.
  `--json` is kept as a shorthand for `-o json`.
* `name`: `kind/id` per line, like kubectl (`device/dev-3f2a...`), for `xargs`.

How a new listing command adopts it (one definition, one call)::

    from fleet.ctl_output import Column, Ctl, cli_errors, listing

    MODEL_COLUMNS = (
        Column("name", lambda m: m.name),           # the first column is the id for `-o name`
        Column("version", lambda m: m.version),
        Column("sha256", lambda m: m.sha256, wide=True),   # only with -o wide
    )

    @app.command("list")
    @cli_errors
    def model_list(ctx: typer.Context) -> None:
        \"\"\"Models in the registry.\"\"\"
        ctl: Ctl = ctx.obj
        with ctl.connection.open() as s:
            reply = s.call(s.models.ListModels, pb.ListModelsRequest())
        listing(ctl, "model", reply.models, MODEL_COLUMNS)

Another area adds a column to an existing listing by appending a `Column` to its tuple
(e.g. `DEVICE_COLUMNS` in `fleet/ctl.py`). A command showing one object starts with
`if machine_output(ctl, item, "model", item.name): return` and then prints its `fields`
table. Long-running streams (`events tail`) use `Stream`. Cells are passed through
`printable`: a box-sent value can never drive the terminal. Nothing here reads globals:
the format comes from the `Ctl` the root command put in `ctx.obj` (found through click's
running command by the plain `table`/`fields`/`print_json` helpers too, see `use`).
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

import yaml
from rich.console import Console
from rich.table import Table
from rich.text import Text

from fleet.client import ClientError, Connection
from fleet.ctl_data import as_data, printable, to_dict
from fleet.ctl_time import ago, clock, when
from fleet.exits import FAILURE, USAGE, fail

__all__ = [
    "Column",
    "Ctl",
    "Output",
    "Stream",
    "ago",
    "cli_errors",
    "clock",
    "fields",
    "listing",
    "machine_output",
    "print_json",
    "printable",
    "table",
    "to_dict",
    "when",
]

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
EMPTY = "-"


class Output(StrEnum):
    """The `-o/--output` formats."""

    TABLE = "table"
    WIDE = "wide"
    JSON = "json"
    YAML = "yaml"
    NAME = "name"


class Ctl:
    """What the global options decided, handed to every command as `ctx.obj`.

    The connection is resolved (flags, environment, then the okoctl context) on first use,
    so commands that never call the fleet never read the config file.
    """

    def __init__(
        self,
        connect: Callable[[], Connection] | Connection,
        output: Output = Output.TABLE,
        no_headers: bool = False,
    ) -> None:
        self._connect = connect if callable(connect) else (lambda: connect)
        self.output = output
        self.no_headers = no_headers

    @functools.cached_property
    def connection(self) -> Connection:
        """Where and how to reach the fleet (resolved once)."""
        return self._connect()

    @property
    def json(self) -> bool:
        """True for `-o json` and `-o yaml`: print data (`print_json`), not a table."""
        return self.output in (Output.JSON, Output.YAML)


# The running command's Ctl, for the helpers called without one (`table`, `print_json`).
# A context variable, set by the root command for each invocation (each thread of a test
# running okoctl in-process sees its own).
_CURRENT: ContextVar[Ctl | None] = ContextVar("okoctl_ctl", default=None)


def use(ctl: Ctl) -> Ctl:
    """Make `ctl` the running command's (the root command calls this once)."""
    _CURRENT.set(ctl)
    return ctl


def current() -> Ctl:
    """The running command's `Ctl` (defaults when called outside okoctl)."""
    return _CURRENT.get() or Ctl(Connection())


def cli_errors(fn: F) -> F:
    """One line on stderr: a refused call exits 1, a bad value or file 2 (`fleet.exits`)."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ClientError as err:  # its message may quote what a box sent: escaped
            fail(printable(str(err), newlines=True), FAILURE)
        except ValueError as err:  # a duration, role, file or context the user gave
            fail(printable(str(err), newlines=True), USAGE)

    return run  # type: ignore[return-value]


@dataclass(frozen=True)
class Column(Generic[T]):
    """One table column: its header and how to get the cell from an item."""

    header: str
    value: Callable[[T], object]
    wide: bool = False  # shown with `-o wide` only
    width: int = 0  # `Stream` only: pad to this many characters


def _is_tty() -> bool:
    try:
        return sys.stdout.isatty()
    except (ValueError, AttributeError):  # closed or replaced stream
        return False


def _cell(value: object) -> str:
    return printable("" if value is None else str(value))


def plain_table(headers: Sequence[str], rows: Sequence[Sequence[str]], with_headers: bool) -> str:
    """Rows as space-aligned columns, never cut (what a pipe gets), kubectl's layout."""
    lines = [[h.upper() for h in headers]] if with_headers else []
    lines += [[c or EMPTY for c in row] for row in rows]
    if not lines:
        return ""
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers))]
    return "\n".join(
        "   ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )


def _print_rows(title: str, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    ctl = current()
    if not _is_tty():
        text = plain_table(headers, rows, not ctl.no_headers)
        if text:
            print(text)
        return
    out = Table(title=title or None, title_justify="left", show_header=not ctl.no_headers)
    for header in headers:
        out.add_column(header, no_wrap=True, overflow="ellipsis")
    for row in rows:
        # Text, not str: rich would read '[...]' in a box-sent value as markup.
        out.add_row(*(Text(cell) for cell in row))
    Console().print(out)


def print_json(data: Any) -> None:
    """Print messages or data for `-o json` (indented, key-sorted) or `-o yaml`."""
    ctl = current()
    out = as_data(data)
    # Plain print, not rich: scripts need exact output without markup or wrapping.
    if ctl.output is Output.YAML:
        print(yaml.safe_dump(out, sort_keys=True, allow_unicode=True), end="")
    else:
        print(json.dumps(out, indent=2, sort_keys=True))


def listing(
    ctl: Ctl,
    kind: str,
    items: Iterable[T],
    columns: Sequence[Column[T]],
    *,
    key: Callable[[T], object] | None = None,
    title: str = "",
) -> None:
    """Print `items` in the format `ctl` asks for (the whole of a listing command's output).

    `kind` names one item (`device`) for `-o name`; `key` gives its id (default: the
    first column). The table's title defaults to `kind` + "s".
    """
    items = list(items)
    if ctl.json:
        print_json(items)
        return
    if ctl.output is Output.NAME:
        ident = key or columns[0].value
        for item in items:
            print(_cell(f"{kind}/{ident(item)}"))
        return
    if not items:  # kubectl's way: nothing on stdout, a note on stderr
        print(f"No {title or kind + 's'} found.", file=sys.stderr)
        return
    shown = [c for c in columns if ctl.output is Output.WIDE or not c.wide]
    rows = [[_cell(c.value(item)) for c in shown] for item in items]
    _print_rows(title or f"{kind}s", [c.header for c in shown], rows)


def machine_output(ctl: Ctl, item: Any, kind: str, key: object) -> bool:
    """Print one object for `-o json/yaml/name` and return True; False: print it your way."""
    if ctl.json:
        print_json(item)
        return True
    if ctl.output is Output.NAME:
        print(_cell(f"{kind}/{key}"))
        return True
    return False


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print ready-made rows as a table under `title` (prefer `listing` for new commands).

    `-o name` needs to know the kind and id of each row, which only `listing` does: here it
    is refused with a usage error rather than guessed.
    """
    if current().output is Output.NAME:
        raise ValueError("-o name is not supported by this command; use -o json")
    _print_rows(title, columns, [[_cell(cell) for cell in row] for row in rows])


def fields(title: str, items: Sequence[tuple[str, Any]]) -> None:
    """Print name/value pairs, one object's details: two columns (plain when piped)."""
    cells = [(name, _cell(value)) for name, value in items]
    if not _is_tty():
        print(_cell(title))
        width = max((len(name) for name, _ in cells), default=0)
        for name, value in cells:
            print(f"  {name.ljust(width)}   {value or EMPTY}".rstrip())
        return
    out = Table(title=Text(_cell(title)), title_justify="left", show_header=False)
    out.add_column(style="bold")
    out.add_column()
    for name, value in cells:
        out.add_row(name, Text(value))
    Console().print(out)


class Stream(Generic[T]):
    """Items printed one by one as they arrive (`events tail`), in the chosen format.

    JSON is one compact object per line (NDJSON), YAML one document per item (`---`),
    tables one padded line per item under a header printed once.
    """

    def __init__(
        self,
        ctl: Ctl,
        kind: str,
        columns: Sequence[Column[T]],
        key: Callable[[T], object] | None = None,
    ) -> None:
        self.ctl = ctl
        self.kind = kind
        self.key = key or columns[0].value
        self.columns = [c for c in columns if ctl.output is Output.WIDE or not c.wide]
        self._headed = ctl.no_headers

    def _line(self, cells: Sequence[str]) -> str:
        widths = [max(c.width, len(c.header)) for c in self.columns]
        return "   ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    def emit(self, item: T) -> None:
        """Print one item and flush, so a pipe sees it at once."""
        out = self.ctl.output
        if out is Output.JSON:
            text = json.dumps(as_data(item), sort_keys=True, separators=(",", ":"))
        elif out is Output.YAML:
            text = "---\n" + yaml.safe_dump(as_data(item), sort_keys=True, allow_unicode=True)
            text = text.rstrip("\n")
        elif out is Output.NAME:
            text = _cell(f"{self.kind}/{self.key(item)}")
        else:
            text = self._line([_cell(c.value(item)) or EMPTY for c in self.columns])
            if not self._headed:
                self._headed = True
                text = self._line([c.header.upper() for c in self.columns]) + "\n" + text
        print(text, flush=True)
