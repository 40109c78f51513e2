"""A small key/value state machine (put / get / cas / delete on bytes keys).

The simulator's workload. Commands carry ``(client, seq)``: the machine remembers
each client's last sequence number and result and answers a duplicate with the
remembered result instead of applying it again (Raft thesis §6.3). That keeps a
network-duplicated forward from writing twice.
"""

from __future__ import annotations

from enum import IntEnum

from ..primitives import DecodeError, UniqueId, Wire, decode, encode, unique_id
from .machine import ApplyContext


class MapOp(IntEnum):
    PUT = 0
    GET = 1
    CAS = 2
    DELETE = 3


class MapCommand(Wire, frozen=True):
    client: bytes
    seq: int
    op: MapOp
    key: bytes
    value: bytes | None = None
    #: For CAS: the value the key must hold (``None``: must be absent).
    expected: bytes | None = None


class MapResult(Wire, frozen=True):
    ok: bool
    #: GET: the value; PUT/DELETE: the previous value; CAS: the value before.
    value: bytes | None


class MapQuery(Wire, frozen=True):
    key: bytes


class _Session(Wire, frozen=True):
    seq: int
    result: bytes


class _Image(Wire, frozen=True):
    """Sorted pairs (the canonical encoding only sorts str-keyed maps)."""

    items: tuple[tuple[bytes, bytes], ...]
    sessions: tuple[tuple[bytes, _Session], ...]


class MapMachine:
    """Deterministic bytes → bytes map with per-client duplicate suppression."""

    def __init__(self) -> None:
        self.items: dict[bytes, bytes] = {}
        self._sessions: dict[bytes, _Session] = {}

    def signature(self) -> UniqueId:
        return unique_id("pymosaik.groups.map.v1")

    def apply(self, command: bytes, ctx: ApplyContext) -> bytes:
        try:
            cmd = decode(command, MapCommand)
        except DecodeError:
            return encode(MapResult(False, None))  # deterministic on every node
        session = self._sessions.get(cmd.client)
        if session is not None and cmd.seq <= session.seq:
            return session.result if cmd.seq == session.seq else encode(MapResult(False, None))
        result = encode(self._execute(cmd))
        self._sessions[cmd.client] = _Session(cmd.seq, result)
        return result

    def _execute(self, cmd: MapCommand) -> MapResult:
        before = self.items.get(cmd.key)
        if cmd.op is MapOp.GET:
            return MapResult(True, before)
        if cmd.op is MapOp.PUT:
            if cmd.value is None:
                return MapResult(False, before)
            self.items[cmd.key] = cmd.value
            return MapResult(True, before)
        if cmd.op is MapOp.DELETE:
            self.items.pop(cmd.key, None)
            return MapResult(True, before)
        if before != cmd.expected or cmd.value is None:
            return MapResult(False, before)
        self.items[cmd.key] = cmd.value
        return MapResult(True, before)

    def query(self, query: bytes) -> bytes:
        q = decode(query, MapQuery)
        return encode(MapResult(True, self.items.get(q.key)))

    def snapshot(self) -> bytes:
        return encode(
            _Image(tuple(sorted(self.items.items())), tuple(sorted(self._sessions.items())))
        )

    def restore(self, data: bytes) -> None:
        image = decode(data, _Image)
        self.items = dict(image.items)
        self._sessions = dict(image.sessions)
