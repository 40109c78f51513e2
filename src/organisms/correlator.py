"""Correlator: a composite organism aligning its spanned members' events on Almanac ticks.

The committee's leader observes every item of every spanned Feed (each an
``Observe`` with an evidence pointer stamped with the current tick) and, when
a tick closes, commits an ``Apply`` that cites every observed pointer no
Apply cited yet (``citable``: from the log, so a new leader applies what the
old one observed; see ``coalition.framework.composite_core``). The machine
accepts an ``Apply`` only if every cited pointer was observed before, belongs
to a closed tick and was not used already — so an `Alignment` is always
backed by evidence that is itself in the log.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from coalition.config import CoalitionConfig
from coalition.framework import (
    CommitteeMember,
    CompositeDriver,
    EvidenceBook,
    EvidencePointer,
    StallPolicy,
    SurfaceIds,
)
from coalition.framework.spec import OrganismSpec
from coalition.organism import OrganismConfig
from coalition.services.almanac import AlmanacTick
from coalition.services.committees import Almanac
from pymosaik.groups.raft import RaftConfig
from pymosaik.network import Network
from pymosaik.primitives import DecodeError, UniqueId, Wire, decode, encode
from pymosaik.transport import EndpointAddr

from .feed import Feed

__all__ = ["CORRELATOR", "Alignment", "Correlator", "CorrelatorMachine", "CorrelatorMember"]

#: (member, commit) pairs remembered as already cited.
CONSUMED_MEMORY: Final = 65536


class Observe(Wire, frozen=True, tag="observe"):
    pointer: EvidencePointer


class Apply(Wire, frozen=True, tag="apply"):
    tick: int
    pointers: tuple[EvidencePointer, ...]


class Alignment(Wire, frozen=True):
    """What each spanned member committed up to ``tick`` (item digests in commit order)."""

    tick: int
    events: tuple[tuple[UniqueId, tuple[UniqueId, ...]], ...]
    #: Spanned members with no evidence in this alignment (partial-evidence policy).
    missing: tuple[UniqueId, ...]


class CorrelatorResult(Wire, frozen=True):
    ok: bool
    reason: str = ""
    alignment: Alignment | None = None


class _Image(Wire, frozen=True):
    pointers: tuple[EvidencePointer, ...]
    last_tick: int
    consumed: tuple[tuple[UniqueId, int], ...]


_COMMAND = Observe | Apply


class CorrelatorMachine:
    def __init__(self, spanned: Sequence[UniqueId]) -> None:
        self.book = EvidenceBook(spanned)
        self.last_tick = -1
        self._consumed: dict[tuple[UniqueId, int], None] = {}

    def signature(self) -> UniqueId:
        return UniqueId.from_parts(b"organisms.correlator.v1")

    def apply(self, command: bytes, ctx: object = None) -> bytes:
        try:
            cmd: Observe | Apply = decode(command, _COMMAND)  # type: ignore[arg-type]
        except DecodeError as exc:
            return encode(CorrelatorResult(False, f"malformed command: {exc}"))
        if isinstance(cmd, Observe):
            why = self.book.record(cmd.pointer)
            return encode(CorrelatorResult(why is None, why or ""))
        return encode(self._apply(cmd))

    def _apply(self, cmd: Apply) -> CorrelatorResult:
        if cmd.tick <= self.last_tick:
            return CorrelatorResult(False, "tick already applied")
        for p in cmd.pointers:
            if not self.book.resolves(p):
                return CorrelatorResult(False, "unresolvable evidence pointer")
            if p.clock_event > cmd.tick:
                return CorrelatorResult(False, "evidence from a tick that has not closed")
            if (p.member, p.commit) in self._consumed:
                return CorrelatorResult(False, "evidence already cited")
        events: dict[UniqueId, list[EvidencePointer]] = {}
        for p in cmd.pointers:
            events.setdefault(p.member, []).append(p)
            self._consumed[(p.member, p.commit)] = None
        while len(self._consumed) > CONSUMED_MEMORY:
            del self._consumed[next(iter(self._consumed))]
        self.last_tick = cmd.tick
        aligned = tuple(
            (m, tuple(p.digest for p in sorted(ps, key=lambda p: p.commit)))
            for m, ps in sorted(events.items())
        )
        missing = tuple(sorted(self.book.spanned - events.keys()))
        return CorrelatorResult(True, alignment=Alignment(cmd.tick, aligned, missing))

    def last_observed(self, member: UniqueId) -> int | None:
        return self.book.last_observed(member)

    def citable(self) -> list[EvidencePointer]:
        return [p for p in self.book.image() if (p.member, p.commit) not in self._consumed]

    def query(self, query: bytes) -> bytes:
        return encode(self.last_tick)

    def snapshot(self) -> bytes:
        return encode(_Image(self.book.image(), self.last_tick, tuple(self._consumed)))

    def restore(self, data: bytes) -> None:
        image = decode(data, _Image)
        self.book.restore(image.pointers)
        self.last_tick = image.last_tick
        self._consumed = dict.fromkeys(image.consumed)


def _alignments(result: bytes) -> list[bytes]:
    res = decode(result, CorrelatorResult)
    return [encode(res.alignment)] if res.alignment is not None else []


#: The declaration every verb comes from (not writable: its commands come from its members).
CORRELATOR: OrganismSpec[OrganismConfig, Alignment] = OrganismSpec(
    "correlator",
    Alignment,
    lambda cfg: SurfaceIds.derive(cfg.organism_id(), writable=False),
    lambda cfg: f"correlator {cfg.name!r}",
)


@dataclass
class CorrelatorMember:
    member: CommitteeMember
    driver: CompositeDriver[AlmanacTick]

    async def close(self) -> None:
        await self.driver.close()
        for reader in (*self.driver.spans.values(), self.driver.clock):
            await reader.close()
        await self.member.close()


class Correlator:
    """``Correlator.member(...)`` runs a committee member; ``Correlator.read`` yields alignments."""

    @staticmethod
    def member(
        network: Network,
        cfg: OrganismConfig,
        committee: Sequence[EndpointAddr],
        *,
        spans: Mapping[UniqueId, OrganismConfig],
        coalition: CoalitionConfig,
        policy: StallPolicy = StallPolicy.PARTIAL,
        raft: RaftConfig | None = None,
    ) -> CorrelatorMember:
        """``spans``: each spanned member's stable id → its Feed config (from its handshake)."""
        spanned = {ref.stable_id for ref in cfg.organisms}
        if set(spans) != spanned:
            raise ValueError("spans must give a Feed config for exactly the spanned members")
        machine = CorrelatorMachine(sorted(spanned))
        member = CORRELATOR.committee(network, cfg, machine, _alignments, committee, raft=raft)
        driver = CompositeDriver(
            member,
            machine,
            {sid: Feed.read(network, feed) for sid, feed in spans.items()},
            Almanac.read(network, coalition),
            lambda p: encode(Observe(p)),
            lambda tick, ps: encode(Apply(tick, tuple(ps))),
            lambda result: decode(result, CorrelatorResult).ok,
            policy,
        )
        driver.start()
        return CorrelatorMember(member, driver)

    read = CORRELATOR.read
