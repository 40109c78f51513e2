"""`coalition`: the operator's command line.

Bad input (missing file, bad TOML, unknown key, wrong type, malformed id or
handshake) prints one line naming the file, the key and the problem, and
exits 2 without a traceback.
"""

from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path
from typing import Annotated, Final

import typer
from rich.console import Console
from rich.table import Table

from .config import CoalitionConfig, HandshakeError
from .config_file import CoalitionFile, ConfigError, load_coalition, parse_id
from .handshake_page import facts_of, write_pages

EXIT_MISMATCH: Final = 1
EXIT_BAD_INPUT: Final = 2

app = typer.Typer(
    name="coalition",
    help="Derive, verify and publish coalition fingerprints.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
# Pipes and CI logs get a fixed width so tables are not squeezed to 80 columns.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class BadInputError(Exception):
    """Raised for operator mistakes that end in one line on stderr and exit 2."""


FileArg = Annotated[Path, typer.Argument(help="A coalition TOML file.", show_default=False)]


def _load(path: Path) -> CoalitionFile:
    try:
        return load_coalition(path)
    except ConfigError as exc:
        raise BadInputError(str(exc)) from None


@app.command()
def fingerprint(
    file: FileArg,
    as_json: Annotated[
        bool, typer.Option("--json", help="Also print the root, modules, issuer and members.")
    ] = False,
) -> None:
    """Print the coalition's handshake fingerprint (stable_id) as hex."""
    loaded = _load(file)
    if as_json:
        out.print_json(json.dumps(facts_of(loaded).as_json(), ensure_ascii=False))
    else:
        out.print(loaded.config.stable_id().hex())


@app.command()
def verify(
    file: FileArg,
    expect: Annotated[str, typer.Option("--expect", help="The published fingerprint (64 hex).")],
) -> None:
    """Exit 0 when FILE's fingerprint equals --expect, 1 with a one-line reason otherwise."""
    try:
        expected = parse_id(expect.strip())
    except ValueError as exc:
        raise BadInputError(f"--expect: {exc}") from None
    actual = _load(file).config.stable_id()
    if actual != expected:
        err.print(f"mismatch: {file} derives {actual.hex()}, expected {expected.hex()}")
        raise typer.Exit(EXIT_MISMATCH)
    out.print(f"ok: {file} derives {actual.hex()}")


@app.command()
def handshake(
    file: FileArg,
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the pages.")] = Path(
        "handshake"
    ),
) -> None:
    """Write the handshake page (Markdown, HTML and JSON) operators publish."""
    loaded = _load(file)
    for path in write_pages(loaded, out_dir):
        out.print(f"wrote {path}")


@app.command()
def inspect(
    handshake_hex: Annotated[str, typer.Argument(help="A serialised CoalitionConfig (to_hex).")],
) -> None:
    """Decode a published handshake hex string and show what it names."""
    try:
        cfg = CoalitionConfig.from_hex(handshake_hex.strip())
    except HandshakeError as exc:
        raise BadInputError(f"handshake: {exc}") from None
    out.print_json(json.dumps(facts_of(cfg).as_json(), ensure_ascii=False))


def _examples_dir() -> Path:
    """The bundled example coalitions: the repository's copy, else the installed one."""
    repo = Path(__file__).resolve().parents[2] / "examples" / "coalitions"
    if repo.is_dir():
        return repo
    return Path(str(resources.files("coalition") / "_examples" / "coalitions"))


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Where to write the pages.")] = Path(
        "build/handshakes"
    ),
    examples: Annotated[
        Path | None, typer.Option("--examples", help="Directory of coalition TOML files.")
    ] = None,
) -> None:
    """Derive and verify every example coalition and write its handshake pages."""
    folder = examples or _examples_dir()
    expected_file = folder / "fingerprints.json"
    try:
        expected: dict[str, str] = json.loads(expected_file.read_text("utf-8"))
    except FileNotFoundError:
        raise BadInputError(f"{expected_file}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInputError(f"{expected_file}: invalid JSON: {exc}") from None
    files = sorted(folder.glob("*.toml"))
    if not files:
        raise BadInputError(f"{folder}: no coalition files")
    table = Table(title="Example coalitions")
    for col in ("file", "instance", "fingerprint", "members", "modules", "issuer", "check"):
        table.add_column(col)
    failures = 0
    for path in files:
        loaded = _load(path)
        cfg = loaded.config
        fp = cfg.stable_id().hex()
        round_trip = CoalitionConfig.from_hex(cfg.to_hex()) == cfg
        want = expected.get(path.name)
        ok = round_trip and want == fp
        failures += not ok
        write_pages(loaded, out_dir)
        check = "ok" if ok else ("no expected value" if want is None else "MISMATCH")
        table.add_row(
            path.name,
            cfg.instance_name,
            fp[:16] + "…",
            str(len(cfg.member_ids())),
            ", ".join(k.value for k in cfg.shipped_modules()) or "-",
            "yes" if cfg.ticket_issuer else "-",
            f"[green]{check}[/]" if ok else f"[red]{check}[/]",
        )
    out.print(table)
    out.print(f"handshake pages written to {out_dir}/")
    if failures:
        err.print(f"{failures} example(s) failed verification")
        raise typer.Exit(EXIT_MISMATCH)


def main() -> None:
    try:
        app()
    except BadInputError as exc:
        err.print(f"error: {exc}", markup=False)
        sys.exit(EXIT_BAD_INPUT)
