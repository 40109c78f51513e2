"""TOML descriptions of coalitions, organisms and modules.

Keys mirror the dataclass fields. Every mistake is reported as one
`ConfigError` naming the file, the key path and what is wrong; unknown keys
are errors, never ignored. The layout is documented in docs/operators/toml.md.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

from pymosaik.primitives import UniqueId

from .acl import AclClause, AclComposition, AclMode, ClauseKind
from .config import CoalitionConfig
from .content import ContentParams
from .identity import UNIVERSE, derive_stable_id
from .modules import MODULE_TYPES, ModuleConfig, ModuleKind, TypedModuleConfig
from .organism import LatticeConfig, OrganismConfig, OrganismRef
from .retirement import RetirementPolicy
from .tickets import TicketIssuerConfig

__all__ = ["CoalitionFile", "ConfigError", "load_coalition", "load_organism", "parse_id"]

T = TypeVar("T")
MAX_FILE_BYTES: Final = 1024 * 1024
#: In a module ACL, ``value = "coalition"`` names this coalition's own ticket-issuer root.
OWN_ISSUER: Final = "coalition"


class ConfigError(Exception):
    """One line: the file, the key and what is wrong."""

    def __init__(self, path: Path, key: str, message: str) -> None:
        self.path, self.key, self.message = path, key, message
        where = f"{path}: {key}: " if key else f"{path}: "
        super().__init__(where + message)


@dataclass(frozen=True)
class MemberLabel:
    """Display information the handshake page shows next to a member; not fingerprinted."""

    kind: str  # "lattice" or "organism"
    name: str
    stable_id: UniqueId
    content_hash: UniqueId | None


@dataclass(frozen=True)
class CoalitionFile:
    """A parsed coalition file: the config and the labels for its members."""

    path: Path
    config: CoalitionConfig
    members: tuple[MemberLabel, ...]


def parse_id(text: str) -> UniqueId:
    """A 64-hex-digit id (either case); anything else is a ValueError."""
    return UniqueId.from_hex(text)


class _Table:
    """A TOML table being consumed key by key; leftovers are reported as unknown."""

    def __init__(self, path: Path, where: str, data: Mapping[str, Any]) -> None:
        self.path, self.where, self.data = path, where, dict(data)
        self.seen: set[str] = set()

    def key(self, name: str) -> str:
        if not name:
            return self.where
        return f"{self.where}.{name}" if self.where else name

    def error(self, name: str, message: str) -> ConfigError:
        return ConfigError(self.path, self.key(name), message)

    def _get(self, name: str, typ: type[T], typename: str, required: bool) -> T | None:
        self.seen.add(name)
        if name not in self.data:
            if required:
                raise self.error(name, "is required")
            return None
        value = self.data[name]
        if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
            raise self.error(name, f"must be {typename}, got {_toml_type(value)}")
        return value

    def str_(self, name: str, *, required: bool = False) -> str | None:
        return self._get(name, str, "a string", required)

    def int_(self, name: str) -> int | None:
        return self._get(name, int, "an integer", False)

    def bool_(self, name: str) -> bool | None:
        return self._get(name, bool, "a boolean", False)

    def table(self, name: str) -> _Table | None:
        raw = self._get(name, dict, "a table", False)
        return None if raw is None else _Table(self.path, self.key(name), raw)

    def tables(self, name: str) -> list[_Table]:
        raw = self._get(name, list, "an array of tables", False) or []
        out = []
        for i, item in enumerate(raw):
            if not isinstance(item, dict):
                raise self.error(f"{name}[{i}]", f"must be a table, got {_toml_type(item)}")
            out.append(_Table(self.path, f"{self.key(name)}[{i}]", item))
        return out

    def id_(self, name: str, *, required: bool = False) -> UniqueId | None:
        text = self.str_(name, required=required)
        return None if text is None else self.convert(name, text, parse_id)

    def convert(self, name: str, value: Any, fn: Callable[[Any], T]) -> T:
        try:
            return fn(value)
        except (ValueError, TypeError) as exc:
            raise self.error(name, str(exc)) from None

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            raise self.error(unknown[0], "unknown key")


def _toml_type(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string"}
    names |= {list: "an array", dict: "a table"}
    return names.get(type(value), type(value).__name__)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ConfigError(path, "", f"file is larger than {MAX_FILE_BYTES} bytes")
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(path, "", "no such file") from None
    except IsADirectoryError:
        raise ConfigError(path, "", "is a directory, not a TOML file") from None
    except PermissionError:
        raise ConfigError(path, "", "permission denied") from None
    except UnicodeDecodeError:
        raise ConfigError(path, "", "is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, "", f"invalid TOML: {exc}") from None
    except RecursionError:  # tomllib recurses once per nested array or inline table
        raise ConfigError(path, "", "invalid TOML: nests too deeply") from None


def _content(table: _Table | None) -> ContentParams:
    if table is None:
        return ContentParams.EMPTY
    preimage = table.str_("preimage")
    params = table.table("params")
    table.done()
    if preimage is not None and params is not None:
        raise table.error("preimage", "give either 'preimage' or 'params', not both")
    if preimage is not None:
        raw = table.convert("preimage", preimage, bytes.fromhex)
        return table.convert("preimage", raw, ContentParams.new)
    if params is not None:
        params.seen.update(params.data)
        return params.convert("", params.data, ContentParams.from_params)
    return ContentParams.EMPTY


_MODES: Final = {"open": AclMode.OPEN, "all-of": AclMode.ALL_OF, "any-of": AclMode.ANY_OF}


def _acl(table: _Table | None, own_issuer: UniqueId | None) -> AclComposition:
    if table is None:
        return AclComposition.OPEN
    mode_name = table.str_("mode", required=True)
    assert mode_name is not None
    if mode_name not in _MODES:
        raise table.error("mode", f"must be one of {', '.join(_MODES)}, got {mode_name!r}")
    clauses = []
    for clause in table.tables("clauses"):
        kind_name = clause.str_("kind", required=True)
        kind = clause.convert("kind", kind_name, ClauseKind)
        value = clause.str_("value", required=True)
        assert value is not None
        clause.done()
        if value == OWN_ISSUER and kind is ClauseKind.RECOGNISE_ISSUER:
            if own_issuer is None:
                raise clause.error("value", "'coalition' needs a [ticket_issuer] in this coalition")
            raw = own_issuer.bytes
        else:
            raw = clause.convert("value", value, bytes.fromhex)
        clauses.append(clause.convert("value", (kind, raw), lambda kv: AclClause(*kv)))
    table.done()
    return table.convert("mode", (_MODES[mode_name], tuple(clauses)), lambda a: AclComposition(*a))


def _stable_id(table: _Table, label_key: str) -> tuple[UniqueId, str]:
    """`stable_id` verbatim, or derived from `instance_name` (+ optional `network`)."""
    sid = table.id_("stable_id")
    name = table.str_("instance_name")
    network_text = table.str_("network")
    network = UNIVERSE if network_text is None else UniqueId.from_input(network_text)
    if sid is None:
        if name is None:
            raise table.error("stable_id", "give 'stable_id' or 'instance_name'")
        sid = table.convert("instance_name", name, lambda n: derive_stable_id(n, network))
    elif network_text is not None:
        raise table.error("network", "only used to derive a stable id from 'instance_name'")
    return sid, name or label_key


def load_organism(path: Path) -> OrganismConfig:
    """Parse an organism file (``kind = "organism"``)."""
    top = _Table(path, "", _read_toml(path))
    kind = top.str_("kind", required=True)
    if kind != "organism":
        raise top.error("kind", f'expected "organism", got {kind!r}')
    name = top.str_("name", required=True)
    lattices = []
    for lat in top.tables("lattices"):
        sid, label = _stable_id(lat, "lattice")
        pin = lat.id_("content_hash")
        lat.done()
        lattices.append(
            lat.convert("instance_name", (label, sid, pin), lambda a: LatticeConfig(*a))
        )
    organisms = [_organism_ref(t, path.parent) for t in top.tables("organisms")]
    content = _content(top.table("content"))
    acl = _acl(top.table("acl"), None)
    top.done()
    return top.convert(
        "name",
        (name, tuple(lattices), tuple(organisms), content, acl),
        lambda a: OrganismConfig(*a),
    )


def _organism_ref(table: _Table, base: Path) -> OrganismRef:
    role = table.str_("role", required=True)
    sid, _ = _stable_id(table, role or "organism")
    pin = table.id_("content_hash")
    config_path = table.str_("config")
    pin_content = table.bool_("pin_content")
    table.done()
    if config_path is not None:
        organism = load_organism(base / config_path)
        if pin is not None:
            raise table.error("content_hash", "give either 'content_hash' or 'config', not both")
        if pin_content:
            pin = organism.content_hash()
    elif pin_content is not None:
        raise table.error("pin_content", "needs 'config' naming the organism's file")
    return table.convert("role", (role, sid, pin), lambda a: OrganismRef(*a))


def _module(table: _Table, kind: ModuleKind, own_issuer: UniqueId | None) -> TypedModuleConfig:
    name = table.str_("name", required=True)
    content = _content(table.table("content"))
    acl = _acl(table.table("acl"), own_issuer)
    table.done()
    body = table.convert("name", (name, content, acl), lambda a: ModuleConfig(*a))
    return MODULE_TYPES[kind](body)


_POLICIES: Final = {
    "conservative": RetirementPolicy.CONSERVATIVE,
    "lenient": RetirementPolicy.LENIENT,
}


def load_coalition(path: Path) -> CoalitionFile:
    """Parse a coalition file into its CoalitionConfig and member labels."""
    top = _Table(path, "", _read_toml(path))
    kind = top.str_("kind")
    if kind not in (None, "coalition"):
        raise top.error("kind", f'expected "coalition", got {kind!r}')
    name = top.str_("instance_name", required=True)
    schema = top.int_("schema_version")
    seed = top.id_("coalition_seed")
    policy_name = top.str_("retirement_policy") or "conservative"
    if policy_name not in _POLICIES:
        raise top.error(
            "retirement_policy", f"must be conservative or lenient, got {policy_name!r}"
        )

    labels: list[MemberLabel] = []
    lattice_ids = []
    for lat in top.tables("lattices"):
        sid, label = _stable_id(lat, "lattice")
        lat.done()
        lattice_ids.append(sid)
        labels.append(MemberLabel("lattice", label, sid, None))
    refs = [_organism_ref(t, path.parent) for t in top.tables("organisms")]
    labels += [MemberLabel("organism", r.role, r.stable_id, r.content_hash) for r in refs]

    issuer = None
    if (issuer_table := top.table("ticket_issuer")) is not None:
        issuer_name = issuer_table.str_("name", required=True)
        issuer_acl = _acl(issuer_table.table("acl"), None)
        issuer_table.done()
        issuer = issuer_table.convert(
            "name", (issuer_name, issuer_acl), lambda a: TicketIssuerConfig(*a)
        )

    base: dict[str, Any] = {
        "instance_name": name,
        "lattices": lattice_ids,
        "organisms": refs,
        "ticket_issuer": issuer,
        "retirement_policy": _POLICIES[policy_name],
    }
    if schema is not None:
        base["schema_version"] = schema
    if seed is not None:
        base["coalition_seed"] = seed
    # Modules may recognise this coalition's own issuer; its root does not depend on
    # the module slots (D3), so a config without modules yields it.
    skeleton = top.convert("instance_name", base, lambda b: CoalitionConfig(**b))
    own_issuer = skeleton.ticket_issuer_root()
    for mkind in ModuleKind:
        if (mtable := top.table(mkind.value)) is not None:
            base[mkind.value] = _module(mtable, mkind, own_issuer)
    top.done()
    config = top.convert("instance_name", base, lambda b: CoalitionConfig(**b))
    return CoalitionFile(path, config, tuple(labels))
