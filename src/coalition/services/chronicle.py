"""Chronicle's committee machine: append, seal by a majority of member signatures, anchor.

* ``Append`` comes from the coalition operator (signed): the machine assigns
  ``seq``, links ``prev`` and stamps the coalition fingerprint it serves.
* Each committee member signs every appended entry's digest (``Sign``); an
  entry is *sealed* once a strict majority of the committee signed it, and
  entries are sealed — and published — strictly in order.
* ``Anchored`` records that the chain head at ``seq`` was written to the
  external anchor (the leader does that at each cadence boundary).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from pymosaik.primitives import DecodeError, PeerId, SecretKey, UniqueId, Wire, decode, encode

from ..identity import ZERO_ID
from .chronicle_log import ChronicleEntry, ChronicleKind, EntrySignature

__all__ = [
    "Anchored",
    "Append",
    "ChronicleMachine",
    "ChronicleQuery",
    "ChronicleResult",
    "ChronicleSignCore",
    "Sign",
]

_APPEND_DOMAIN: Final = b"mosaik.chronicle.append.v1|"
#: Recorded append signatures remembered against replays.
APPEND_MEMORY: Final = 65536
#: Most entries one query returns.
MAX_QUERY: Final = 512


class Append(Wire, frozen=True, tag="append"):
    kind: ChronicleKind
    requested_at_ms: int
    signer: bytes
    signature: bytes

    @classmethod
    def signed(cls, key: SecretKey, kind: ChronicleKind, now_ms: int) -> Append:
        return cls(
            kind, now_ms, key.peer_id.bytes, key.sign(_APPEND_DOMAIN + encode((kind, now_ms)))
        )

    def verify(self) -> bool:
        try:
            peer = PeerId(self.signer)
        except ValueError:
            return False
        return peer.verify(
            self.signature, _APPEND_DOMAIN + encode((self.kind, self.requested_at_ms))
        )


class Sign(Wire, frozen=True, tag="sign"):
    seq: int
    signature: EntrySignature


class Anchored(Wire, frozen=True, tag="anchored"):
    seq: int
    digest: UniqueId
    receipt: str


class ChronicleQuery(Wire, frozen=True):
    since: int = 0
    limit: int = MAX_QUERY


class ChronicleResult(Wire, frozen=True):
    ok: bool
    reason: str = ""
    #: Entries that became sealed by this command (to publish), or the query's answer.
    entries: tuple[ChronicleEntry, ...] = ()
    length: int = 0
    sealed: int = 0
    anchored: tuple[tuple[int, UniqueId], ...] = ()


class _Image(Wire, frozen=True):
    entries: tuple[ChronicleEntry, ...]
    sealed: int
    anchored: tuple[tuple[int, UniqueId], ...]
    appended: tuple[bytes, ...]


_COMMAND = Append | Sign | Anchored


class ChronicleMachine:
    def __init__(
        self, coalition: UniqueId, committee: Sequence[PeerId], operators: Sequence[PeerId]
    ) -> None:
        self.coalition = coalition
        self._committee = frozenset(p.bytes for p in committee)
        self._operators = frozenset(p.bytes for p in operators)
        self.entries: list[ChronicleEntry] = []
        #: Entries [0, sealed) carry a majority of committee signatures.
        self.sealed = 0
        self.anchored: list[tuple[int, UniqueId]] = []
        #: Signatures of recorded appends: a replayed signed append is refused.
        self._appended: dict[bytes, None] = {}

    def signature(self) -> UniqueId:
        return UniqueId.from_parts(b"coalition.chronicle.v1")

    def apply(self, command: bytes, ctx: object = None) -> bytes:
        try:
            cmd: Append | Sign | Anchored = decode(command, _COMMAND)  # type: ignore[arg-type]
        except DecodeError as exc:
            return self._result(False, f"malformed command: {exc}")
        if isinstance(cmd, Append):
            return self._append(cmd)
        if isinstance(cmd, Sign):
            return self._sign(cmd)
        return self._anchored(cmd)

    def _result(
        self, ok: bool, reason: str = "", entries: tuple[ChronicleEntry, ...] = ()
    ) -> bytes:
        return encode(
            ChronicleResult(
                ok, reason, entries, len(self.entries), self.sealed, tuple(self.anchored[-1:])
            )
        )

    def _append(self, cmd: Append) -> bytes:
        if cmd.signer not in self._operators or not cmd.verify():
            return self._result(False, "append not signed by a coalition operator")
        if cmd.signature in self._appended:
            return self._result(False, "this signed append was already recorded")
        prev = self.entries[-1].digest() if self.entries else ZERO_ID
        entry = ChronicleEntry(
            len(self.entries), cmd.kind, self.coalition, prev, cmd.requested_at_ms
        )
        self.entries.append(entry)
        self._appended[cmd.signature] = None
        while len(self._appended) > APPEND_MEMORY:
            del self._appended[next(iter(self._appended))]
        return self._result(True)

    def _sign(self, cmd: Sign) -> bytes:
        if not 0 <= cmd.seq < len(self.entries):
            return self._result(False, "no such entry")
        sig = cmd.signature
        if sig.signer not in self._committee:
            return self._result(False, "not a committee member")
        entry = self.entries[cmd.seq]
        if not sig.verify(entry.digest()):
            return self._result(False, "bad signature")
        if any(s.signer == sig.signer for s in entry.quorum_signatures):
            return self._result(True)
        sigs = tuple(sorted((*entry.quorum_signatures, sig), key=lambda s: s.signer))
        self.entries[cmd.seq] = ChronicleEntry(
            entry.seq, entry.kind, entry.coalition, entry.prev, entry.committed_at_ms, (), sigs
        )
        newly: list[ChronicleEntry] = []
        while self.sealed < len(self.entries) and self._has_majority(self.entries[self.sealed]):
            newly.append(self.entries[self.sealed])
            self.sealed += 1
        return self._result(True, entries=tuple(newly))

    def _has_majority(self, entry: ChronicleEntry) -> bool:
        return len({s.signer for s in entry.quorum_signatures}) * 2 > len(self._committee)

    def _anchored(self, cmd: Anchored) -> bytes:
        if not 0 <= cmd.seq < self.sealed or self.entries[cmd.seq].digest() != cmd.digest:
            return self._result(False, "anchored digest is not a sealed head")
        if self.anchored and cmd.seq <= self.anchored[-1][0]:
            return self._result(True)
        self.anchored.append((cmd.seq, cmd.digest))
        return self._result(True)

    def unsigned_by(self, member: PeerId) -> list[ChronicleEntry]:
        """Entries ``member`` has not signed yet (what its driver should sign)."""
        return [
            e
            for e in self.entries[self.sealed :]
            if all(s.signer != member.bytes for s in e.quorum_signatures)
        ]

    def query(self, query: bytes) -> bytes:
        try:
            q = decode(query, ChronicleQuery)
        except DecodeError as exc:
            return self._result(False, f"malformed query: {exc}")
        sealed = self.entries[: self.sealed]
        window = tuple(sealed[max(0, q.since) : max(0, q.since) + min(q.limit, MAX_QUERY)])
        return encode(
            ChronicleResult(True, "", window, len(self.entries), self.sealed, tuple(self.anchored))
        )

    def snapshot(self) -> bytes:
        return encode(
            _Image(tuple(self.entries), self.sealed, tuple(self.anchored), tuple(self._appended))
        )

    def restore(self, data: bytes) -> None:
        image = decode(data, _Image)
        self.entries = list(image.entries)
        self.sealed = image.sealed
        self.anchored = list(image.anchored)
        self._appended = dict.fromkeys(image.appended)


class ChronicleSignCore:
    """One member's signing side, pure: sign every entry its replica holds unsigned by it.

    ``step(machine, now_ms)`` returns a ``Sign`` for each such entry not proposed in the last
    ``resend_ms`` (a proposal lost in a leader change is made again; a repeat the machine
    already has is acknowledged and changes nothing).
    """

    def __init__(self, key: SecretKey, *, resend_ms: int = 2_000) -> None:
        self._key, self._resend = key, resend_ms
        self._me = key.peer_id
        self._proposed: dict[int, int] = {}  # seq -> when

    def step(self, m: ChronicleMachine, now_ms: int) -> list[Sign]:
        out: list[Sign] = []
        wanted = m.unsigned_by(self._me)
        for entry in wanted:
            at = self._proposed.get(entry.seq)
            if at is not None and now_ms - at < self._resend:
                continue
            self._proposed[entry.seq] = now_ms
            out.append(Sign(entry.seq, entry.sign(self._key)))
        if len(self._proposed) > len(wanted):  # forget what the log now holds
            still = {e.seq for e in wanted}
            self._proposed = {s: t for s, t in self._proposed.items() if s in still}
        return out
