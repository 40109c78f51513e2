"""Almanac: the coalition's shared clock beacon, ``Stream<AlmanacTick>`` (pure state machine).

Each committee member, at every cadence boundary, submits a signed
observation of its own wall clock for the next tick. The tick commits once a
strict majority of the committee has observed it, carrying the per-member
``observed_at`` vector captured at commit time. Ticks are ordering markers:
``seq`` is monotonic and gap-free; the timestamps are an advisory correlation
hint, not a cryptographic timestamp (book: "Basic services — Almanac").
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from pymosaik.groups.driver import GroupError
from pymosaik.primitives import DecodeError, PeerId, SecretKey, UniqueId, Wire, decode, encode

from ..config import CoalitionConfig
from ..framework.committee import CommitteeMember
from ..framework.surface import Extractor
from ..modules import ModuleKind
from .module import BaseModuleMember, MemberContext, ModuleSpec, module_organism, wall_ms

__all__ = [
    "ALMANAC",
    "AlmanacCore",
    "AlmanacMachine",
    "AlmanacMember",
    "AlmanacQuery",
    "AlmanacRange",
    "AlmanacResult",
    "AlmanacTick",
    "Observe",
]

_DOMAIN: Final = b"mosaik.almanac.observe.v1|"
HISTORY: Final = 4096


class AlmanacTick(Wire, frozen=True):
    seq: int
    #: (committee member PeerId bytes, observed wall clock in ms), sorted by member.
    observed_at: tuple[tuple[bytes, int], ...]

    def median_ms(self) -> int:
        """The median observation: a robust single time for the tick."""
        times = sorted(ms for _, ms in self.observed_at)
        return times[len(times) // 2]


class AlmanacRange(Wire, frozen=True):
    """Ticks ``start`` up to and including ``end``."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start <= self.end:
            raise ValueError(
                f"an AlmanacRange needs 0 <= start <= end, got {self.start}..{self.end}"
            )

    def contains(self, seq: int) -> bool:
        return self.start <= seq <= self.end


class Observe(Wire, frozen=True, tag="observe"):
    seq: int
    member: bytes
    observed_at_ms: int
    signature: bytes

    @classmethod
    def signed(cls, key: SecretKey, seq: int, observed_at_ms: int) -> Observe:
        msg = _DOMAIN + encode((seq, observed_at_ms))
        return cls(seq, key.peer_id.bytes, observed_at_ms, key.sign(msg))

    def verify(self) -> bool:
        try:
            peer = PeerId(self.member)
        except ValueError:
            return False
        return peer.verify(self.signature, _DOMAIN + encode((self.seq, self.observed_at_ms)))


class AlmanacQuery(Wire, frozen=True):
    """Ticks from ``since`` (inclusive) that are still in the machine's history."""

    since: int = 0
    limit: int = 256


class AlmanacResult(Wire, frozen=True):
    ok: bool
    reason: str = ""
    ticks: tuple[AlmanacTick, ...] = ()
    next_seq: int = 0


class _Image(Wire, frozen=True):
    next_seq: int
    pending: tuple[tuple[bytes, int], ...]
    history: tuple[AlmanacTick, ...]


class AlmanacMachine:
    """Commits tick ``n`` once a majority of the committee observed it."""

    def __init__(self, committee: Sequence[PeerId], *, first_seq: int = 1) -> None:
        if not committee:
            raise ValueError("an Almanac committee needs at least one member")
        self._committee = frozenset(p.bytes for p in committee)
        self.next_seq = first_seq
        self._pending: dict[bytes, int] = {}
        self._history: deque[AlmanacTick] = deque(maxlen=HISTORY)

    def signature(self) -> UniqueId:
        return UniqueId.from_parts(b"coalition.almanac.v1")

    def apply(self, command: bytes, ctx: object = None) -> bytes:
        try:
            obs = decode(command, Observe)
        except DecodeError as exc:
            return encode(AlmanacResult(False, f"malformed command: {exc}", next_seq=self.next_seq))
        return encode(self._observe(obs))

    def _observe(self, obs: Observe) -> AlmanacResult:
        if obs.member not in self._committee:
            return AlmanacResult(False, "not a committee member", next_seq=self.next_seq)
        if not obs.verify():
            return AlmanacResult(False, "bad signature", next_seq=self.next_seq)
        if obs.seq != self.next_seq:
            why = "tick already committed" if obs.seq < self.next_seq else "tick is in the future"
            return AlmanacResult(False, why, next_seq=self.next_seq)
        self._pending.setdefault(obs.member, obs.observed_at_ms)
        if len(self._pending) * 2 <= len(self._committee):
            return AlmanacResult(True, next_seq=self.next_seq)
        tick = AlmanacTick(self.next_seq, tuple(sorted(self._pending.items())))
        self._history.append(tick)
        self.next_seq += 1
        self._pending = {}
        return AlmanacResult(True, ticks=(tick,), next_seq=self.next_seq)

    def query(self, query: bytes) -> bytes:
        try:
            q = decode(query, AlmanacQuery)
        except DecodeError as exc:
            return encode(AlmanacResult(False, f"malformed query: {exc}", next_seq=self.next_seq))
        ticks = tuple(t for t in self._history if t.seq >= q.since)[: max(0, q.limit)]
        return encode(AlmanacResult(True, ticks=ticks, next_seq=self.next_seq))

    def latest(self) -> AlmanacTick | None:
        return self._history[-1] if self._history else None

    def snapshot(self) -> bytes:
        return encode(
            _Image(self.next_seq, tuple(sorted(self._pending.items())), tuple(self._history))
        )

    def restore(self, data: bytes) -> None:
        image = decode(data, _Image)
        self.next_seq = image.next_seq
        self._pending = dict(image.pending)
        self._history = deque(image.history, maxlen=HISTORY)


class AlmanacCore:
    """One member's side, pure: at every cadence boundary of its own clock, observe the next
    tick of its replica once.

    ``step(machine, now_ms)`` returns the signed ``Observe`` due at ``now_ms`` (at most one per
    boundary; a member whose replica lags signs a tick already committed, which the machine
    refuses harmlessly); ``deadline()`` is the next boundary, when its host should step again.
    """

    def __init__(self, key: SecretKey, cadence_ms: int) -> None:
        if cadence_ms <= 0:
            raise ValueError("an Almanac cadence is a positive number of milliseconds")
        self._key, self.cadence_ms = key, cadence_ms
        self._boundary: int | None = None  # the last boundary observed

    def step(self, m: AlmanacMachine, now_ms: int) -> list[Observe]:
        boundary = now_ms // self.cadence_ms
        if self._boundary is None:
            self._boundary = boundary  # start at the next boundary, as a fresh member does
            return []
        if boundary <= self._boundary:
            return []
        self._boundary = boundary
        return [Observe.signed(self._key, m.next_seq, now_ms)]

    def deadline(self) -> int | None:
        if self._boundary is None:
            return None
        return (self._boundary + 1) * self.cadence_ms


# ---- the module: declaration, member side ---------------------------------------------


def _machine(
    coalition: CoalitionConfig,
    peers: Sequence[PeerId],
    operator: PeerId,
    member_operators: Mapping[UniqueId, PeerId] | None,
) -> tuple[AlmanacMachine, Extractor]:
    def ticks(result: bytes) -> list[bytes]:
        return [encode(t) for t in decode(result, AlmanacResult).ticks]

    return AlmanacMachine(peers), ticks


@dataclass
class AlmanacMember(BaseModuleMember):
    inner: AlmanacMachine | None = None

    def extra(self) -> dict[str, object]:
        assert self.inner is not None
        latest = self.inner.latest()
        return {"almanac_seq": latest.seq if latest else None}

    async def observe(self) -> None:
        """Host the member's `AlmanacCore` on the wall clock: step it at each boundary."""
        assert self.inner is not None
        cadence = self.ctx.cadence_ms
        core = AlmanacCore(self.key, cadence)
        while True:
            for obs in core.step(self.inner, wall_ms()):
                with contextlib.suppress(GroupError):
                    await self.member.execute(encode(obs))
            deadline = core.deadline()
            wait_ms = cadence if deadline is None else deadline - wall_ms()
            await asyncio.sleep(max(wait_ms, 0) / 1000)


def _start(ctx: MemberContext, member: CommitteeMember, inner: AlmanacMachine) -> AlmanacMember:
    m = AlmanacMember(ModuleKind.ALMANAC, member, ctx, inner=inner)
    m.spawn(m.observe)
    return m


ALMANAC: Final[ModuleSpec[AlmanacTick, AlmanacMachine]] = ModuleSpec(
    ModuleKind.ALMANAC,
    module_organism(ModuleKind.ALMANAC, AlmanacTick, writable=False),
    _machine,
    _start,
    (("almanac_seq", "tick"),),
)
