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

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from pymosaik.groups.driver import GroupError
from pymosaik.primitives import DecodeError, PeerId, SecretKey, UniqueId, Wire, decode, encode
from pymosaik.tickets import Ticket

from ..config import CoalitionConfig
from ..framework.committee import CommitteeMember
from ..framework.surface import Extractor
from ..identity import ZERO_ID
from ..modules import ModuleKind
from ..ticket_issuer import (
    MAX_TICKET_BYTES,
    IssuedTicket,
    TicketIssuer,
    recognise_coalition_issuer,
)
from .chronicle_log import (
    MEMBER_KINDS,
    ChronicleEntry,
    ChronicleKind,
    CoalitionPublished,
    EntrySignature,
    member_kind_problem,
)
from .module import BaseModuleMember, MemberContext, ModuleSpec, module_organism, wall_ms

if TYPE_CHECKING:  # web3 costs ~1 s to import; only anchoring members need it
    from .anchor import Anchor, AnchorReceipt

log = logging.getLogger("coalition.services.chronicle")

__all__ = [
    "CHRONICLE",
    "Anchored",
    "Append",
    "ChronicleMachine",
    "ChronicleMember",
    "ChronicleQuery",
    "ChronicleResult",
    "ChronicleSignCore",
    "Sign",
    "writer_issuers",
    "writer_ticket",
    "writer_ticket_root",
]

_APPEND_DOMAIN: Final = b"mosaik.chronicle.append.v1|"
#: Recorded append signatures remembered against replays.
APPEND_MEMORY: Final = 65536
#: Most entries one query returns.
MAX_QUERY: Final = 512


class Append(Wire, frozen=True, tag="append"):
    """An append signed by ``signer``: the coalition operator for operator kinds; for member
    kinds (D11) the member or agent itself, with ``ticket`` — its Chronicle writer ticket (an
    encoded `IssuedTicket`), checked by every replica against ``requested_at_ms``."""

    kind: ChronicleKind
    requested_at_ms: int
    signer: bytes
    signature: bytes
    ticket: bytes = b""

    @classmethod
    def signed(
        cls, key: SecretKey, kind: ChronicleKind, now_ms: int, *, ticket: bytes = b""
    ) -> Append:
        sig = key.sign(_APPEND_DOMAIN + encode((kind, now_ms)))
        return cls(kind, now_ms, key.peer_id.bytes, sig, ticket)

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
        self,
        coalition: UniqueId,
        committee: Sequence[PeerId],
        operators: Sequence[PeerId],
        *,
        writer_issuers: Mapping[UniqueId, Sequence[PeerId]] | None = None,
    ) -> None:
        """``writer_issuers``: ticket root → the keys that may sign Chronicle writer tickets
        under it (member kinds need one; see `writer_ticket_root`)."""
        self.coalition = coalition
        self._committee = frozenset(p.bytes for p in committee)
        self._operators = frozenset(p.bytes for p in operators)
        self._issuers = {
            root: frozenset(k.bytes for k in keys) for root, keys in (writer_issuers or {}).items()
        }
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
        if isinstance(cmd.kind, MEMBER_KINDS):
            why = self._member_append_problem(cmd)
            if why is not None:
                return self._result(False, why)
        elif cmd.signer not in self._operators or not cmd.verify():
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

    def _member_append_problem(self, cmd: Append) -> str | None:
        """D11: a member kind is signed by the signer it names, who holds a writer ticket valid
        at the append's own time (deterministic: no replica reads a clock)."""
        kind = cmd.kind
        assert isinstance(kind, MEMBER_KINDS)
        if kind.signer != cmd.signer or not cmd.verify():
            return "a member entry is signed by the signer it names"
        if (why := member_kind_problem(kind)) is not None:
            return why
        try:
            t = decode(cmd.ticket, IssuedTicket, max_size=MAX_TICKET_BYTES)
        except DecodeError:
            return "a member entry needs a Chronicle writer ticket"
        keys = self._issuers.get(t.root)
        if keys is None or t.issuer not in keys:
            return "the writer ticket is not from an issuer this Chronicle recognises"
        if t.subject != cmd.signer:
            return "the writer ticket was issued to another key"
        if not PeerId(t.issuer).verify(t.signature, t.signing_bytes()):
            return "bad writer ticket signature"
        if t.issued_ms > cmd.requested_at_ms + 60_000:
            return "the writer ticket was issued after the append"
        if t.expires_ms is not None and t.expires_ms < cmd.requested_at_ms:
            return "the writer ticket had expired"
        return None

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


# ---- the module: declaration, member side ---------------------------------------------

#: How often a member steps its signing core.
SIGN_POLL_S: Final = 0.1


def writer_ticket_root(coalition: CoalitionConfig) -> UniqueId:
    """The root of Chronicle writer tickets the coalition operator signs (D11)."""
    root = coalition.module_root(ModuleKind.CHRONICLE)
    if root is None:
        raise ValueError(f"coalition {coalition.instance_name!r} ships no chronicle")
    return root.derive("writers")


def writer_issuers(coalition: CoalitionConfig, operator: PeerId) -> dict[UniqueId, list[PeerId]]:
    """Who may sign Chronicle writer tickets: the coalition operator under
    `writer_ticket_root`, and the coalition's ticket issuer (if it ships one) under its root."""
    out = {writer_ticket_root(coalition): [operator]}
    if coalition.ticket_issuer is not None:
        try:
            issuer = recognise_coalition_issuer(coalition)
        except ValueError:
            return out  # an issuer without keys signs nothing anyone can check
        out[issuer.root] = sorted(issuer.keys, key=lambda k: k.bytes)
    return out


def writer_ticket(
    coalition: CoalitionConfig,
    operator_key: SecretKey,
    subject: PeerId,
    network: UniqueId,
    *,
    now_ms: int,
    ttl_ms: int | None,
) -> Ticket:
    """A Chronicle writer ticket for ``subject``, signed by the coalition operator."""
    return TicketIssuer(writer_ticket_root(coalition), operator_key).issue(
        subject, network, now_ms, ttl_ms
    )


def _machine(
    coalition: CoalitionConfig,
    peers: Sequence[PeerId],
    operator: PeerId,
    member_operators: Mapping[UniqueId, PeerId] | None,
) -> tuple[ChronicleMachine, Extractor]:
    def sealed(result: bytes) -> list[bytes]:
        return [encode(e) for e in decode(result, ChronicleResult).entries]

    machine = ChronicleMachine(
        coalition.stable_id(),
        peers,
        [operator],
        writer_issuers=writer_issuers(coalition, operator),
    )
    return machine, sealed


@dataclass
class ChronicleMember(BaseModuleMember):
    inner: ChronicleMachine | None = None
    #: Where the leader anchors sealed heads (``ctx.anchor`` at start; None: not anchored).
    anchor: Anchor | None = None
    anchor_error: str | None = None

    def extra(self) -> dict[str, object]:
        assert self.inner is not None
        anchored = self.inner.anchored[-1][0] if self.inner.anchored else None
        sealed = self.inner.sealed
        return {
            "chronicle_length": sealed,
            # the sealed head's digest names the whole chain up to it (entries are hash-linked):
            # two members with different digests at one length have forked
            "chronicle_head": self.inner.entries[sealed - 1].digest().hex() if sealed else None,
            "chronicle_pending": len(self.inner.entries) - sealed,
            "anchored_seq": anchored,
            "anchor_error": self.anchor_error,
        }

    async def publish_coalition(self) -> None:
        """Record ``CoalitionPublished`` once (a deterministic request id dedupes members)."""
        coalition = self.ctx.coalition
        kind = CoalitionPublished(coalition.stable_id(), coalition.to_bytes())
        request = coalition.stable_id().derive("chronicle.coalition-published")
        cmd = Append.signed(self.ctx.operator_key, kind, wall_ms())
        while True:
            try:
                await self.member.execute(encode(cmd), request)
                return
            except GroupError:
                await asyncio.sleep(0.2)

    async def sign(self) -> None:
        """Host the member's `ChronicleSignCore`: step it as the log grows."""
        assert self.inner is not None
        core = ChronicleSignCore(self.key)
        while True:
            await asyncio.sleep(SIGN_POLL_S)
            for cmd in core.step(self.inner, wall_ms()):
                with contextlib.suppress(GroupError):
                    await self.member.execute(encode(cmd))

    async def anchor_heads(self) -> None:
        """The leader writes the sealed head to the anchor at every cadence boundary.

        Each boundary it compares the chain with the sealed head and anchors
        when the chain lacks it (a new entry, or a fresh/forgotten chain), then
        records ``Anchored`` in the log. Anchor failures (unreachable node,
        revert) are logged and retried at the next boundary; they never stop
        the member.
        """
        assert self.inner is not None
        chronicle = self.ctx.coalition.module_root(ModuleKind.CHRONICLE)
        assert chronicle is not None
        anchor_error = _anchor_error_type()
        cadence = self.ctx.cadence_ms
        registered = False
        while True:
            now = wall_ms()
            await asyncio.sleep((cadence - now % cadence) / 1000)
            inner = self.inner
            if not self.member.group.is_leader or inner.sealed == 0:
                continue
            head = inner.entries[inner.sealed - 1]
            try:
                if not registered:
                    await asyncio.to_thread(_register, self.anchor, chronicle)
                    registered = True
                receipt = await asyncio.to_thread(self._anchor_once, chronicle, head)
            except (anchor_error, OSError) as exc:
                registered = False  # a fresh chain forgets registrations: try again
                self.anchor_error = str(exc)
                log.warning("chronicle: anchoring seq %d failed: %s", head.seq, exc)
                continue
            self.anchor_error = None
            recorded = inner.anchored[-1][0] if inner.anchored else -1
            if receipt is not None or recorded < head.seq:
                tx = receipt.tx_hash if receipt is not None else "already-on-chain"
                with contextlib.suppress(GroupError):
                    await self.member.execute(encode(Anchored(head.seq, head.digest(), tx)))

    def _anchor_once(self, chronicle: UniqueId, head: ChronicleEntry) -> AnchorReceipt | None:
        """Anchor ``head`` unless the chain already holds it (then None)."""
        anchor = self.anchor
        assert anchor is not None
        latest = anchor.latest(chronicle)
        if latest is not None and latest[0] >= head.seq:
            if latest[0] == head.seq and latest[1] != head.digest():
                raise _anchor_error_type()(f"the chain holds another digest for seq {head.seq}")
            return None
        return anchor.anchor(chronicle, head.seq, head.digest())


def _register(anchor: Anchor | None, chronicle: UniqueId) -> None:
    assert anchor is not None
    try:
        anchor.register(chronicle)
    except _anchor_error_type() as exc:
        if "already registered" not in str(exc):
            raise


def _anchor_error_type() -> type[Exception]:
    """`AnchorError`, imported only where anchoring runs (web3 is slow to import)."""
    from .anchor import AnchorError  # noqa: PLC0415 - deferred heavy import

    return AnchorError


def _start(ctx: MemberContext, member: CommitteeMember, inner: ChronicleMachine) -> ChronicleMember:
    c = ChronicleMember(ModuleKind.CHRONICLE, member, ctx, inner=inner, anchor=ctx.anchor)
    c.spawn(c.publish_coalition)
    c.spawn(c.sign)
    if ctx.anchor is not None:
        c.spawn(c.anchor_heads)
    return c


CHRONICLE: Final[ModuleSpec[ChronicleEntry, ChronicleMachine]] = ModuleSpec(
    ModuleKind.CHRONICLE,
    module_organism(ModuleKind.CHRONICLE, ChronicleEntry, writable=True),
    _machine,
    _start,
    (("chronicle_length", "length"), ("anchored_seq", "anchored")),
)
