"""Committee opinions on the organism rung: each member's own model answers, the rule decides.

`OPINIONS` derives its ids from the `OpinionConfig` (name and rule); its surface carries each
committed `Outcome` (answer, votes, dissent) once, when the rule decides. A member is started
with ``Opinions.member``; its agent hands in what its model concluded (``observe(question,
answer)``) and the member's pure core signs and proposes it — no write intake: only committee
members observe, and only with their own keys. ``Opinions.read`` yields the outcomes in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from coalition.framework import SurfaceIds
from coalition.framework.hosted import HostedMember
from coalition.framework.spec import OrganismSpec
from pymosaik.groups.raft import RaftConfig
from pymosaik.network import Network
from pymosaik.primitives import SecretKey, UniqueId, Wire, decode, encode
from pymosaik.transport import EndpointAddr

from .machine import Observe, OpinionMachine, OpinionResult, OpinionRule, Outcome, SignedObserve

__all__ = ["OPINIONS", "OpinionConfig", "OpinionMemberCore", "Opinions", "OpinionsMember"]

#: Observations a member holds before its core has proposed them.
MAX_QUEUED: Final = 1024


class OpinionConfig(Wire, frozen=True):
    name: str
    rule: OpinionRule


def _root(cfg: OpinionConfig) -> UniqueId:
    r = cfg.rule
    return UniqueId.from_parts(f"opinions|{cfg.name}|{r.kind}|k={r.k}|tol={r.tolerance_bps}")


OPINIONS: Final[OrganismSpec[OpinionConfig, Outcome]] = OrganismSpec(
    "opinions",
    Outcome,
    lambda cfg: SurfaceIds.derive(_root(cfg), writable=False),
    lambda cfg: f"opinions {cfg.name!r}",
)


def _outcomes(result: bytes) -> list[bytes]:
    outcome = decode(result, OpinionResult).outcome
    return [encode(outcome)] if outcome is not None else []


@dataclass
class OpinionMemberCore:
    """Pure: proposes each observation its agent handed in, once, signed by the member."""

    index: int
    key: SecretKey
    queued: list[Observe] = field(default_factory=list)
    dropped: int = 0

    def observe(self, question: bytes, answer: bytes) -> None:
        if len(self.queued) >= MAX_QUEUED:
            self.dropped += 1
            return
        self.queued.append(Observe(self.index, question, answer))

    def step(self, m: OpinionMachine, now_ms: int) -> list[SignedObserve]:
        out, self.queued = self.queued, []
        # a question the committee decided while this one queued still goes in: a late
        # answer that disagrees is recorded as dissent
        return [SignedObserve.by(self.key, o) for o in out]


@dataclass
class OpinionsMember(HostedMember[OpinionMachine, SignedObserve]):
    core: OpinionMemberCore

    def observe(self, question: bytes, answer: bytes) -> None:
        """What this member's model concluded on ``question`` (32-byte id)."""
        self.core.observe(question, answer)


class Opinions:
    read = OPINIONS.read

    @staticmethod
    def member(
        network: Network,
        cfg: OpinionConfig,
        committee: Sequence[EndpointAddr],
        *,
        raft: RaftConfig | None = None,
    ) -> OpinionsMember:
        peers = [a.peer_id for a in committee]
        machine = OpinionMachine(cfg.name, cfg.rule, peers)
        member = OPINIONS.committee(network, cfg, machine, _outcomes, committee, raft=raft)
        key = network.endpoint.secret_key
        core = OpinionMemberCore(peers.index(key.peer_id) + 1, key)
        return OpinionsMember.hosting(member, machine, core, core=core)
