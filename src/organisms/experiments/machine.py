"""The experiment machine: propose, observe, seal a report, and rotate on adoption.

Members observe outcomes off the log (reading the production agent's surface, the candidate's
shadow stream and what actually happened) and commit, per Almanac tick, each side's error in
basis points with evidence pointers to the three items, so anyone can recompute every score
on replay. At the window's end ``SealReport`` applies the declared rule: with at least
``min_observations`` ticks, a candidate better by at least ``margin_bps`` is adopted, one worse
by at least that is rejected, anything else is inconclusive. Adoption commits a
``RetirementMarker`` rotating the agent to the candidate (effective the tick after the window);
a rejected candidate's fingerprint never reaches the coalition config (it stays disposable).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Final

from coalition.framework.evidence import EvidencePointer
from coalition.member_commands import MemberSignatures, apply_decoded
from coalition.retirement import AtAlmanacTick, ComponentRef, RetirementMarker
from coalition.services.almanac import AlmanacRange
from pymosaik.primitives import PeerId, SecretKey, UniqueId, Wire, decode, encode

_DOMAIN: Final = b"experiments.command.v1|"
MAX_EVIDENCE: Final = 4096


class Verdict(enum.StrEnum):
    INCONCLUSIVE = "inconclusive"
    ADOPT = "adopt"
    REJECT = "reject"


class ExperimentConfig(Wire, frozen=True):
    name: str
    agent: ComponentRef  # the production agent the candidates compete with
    min_observations: int = 10
    margin_bps: int = 100


class Propose(Wire, frozen=True, tag="propose"):
    candidate: ComponentRef
    window: AlmanacRange


class ObserveGrant(Wire, frozen=True, tag="grant"):
    grant_id: bytes
    valid_to_ms: int


class ObserveOutcome(Wire, frozen=True, tag="outcome"):
    tick: int
    own_error_bps: int
    candidate_error_bps: int
    own: EvidencePointer
    candidate: EvidencePointer
    outcome: EvidencePointer


class SealReport(Wire, frozen=True, tag="seal"):
    tick: int


Body = Propose | ObserveGrant | ObserveOutcome | SealReport


class Signed(Wire, frozen=True):
    member: int
    body: Body
    signature: bytes

    @classmethod
    def by(cls, key: SecretKey, member: int, body: Body) -> Signed:
        return cls(member, body, MemberSignatures.sign(_DOMAIN, key, body))


class ExperimentReport(Wire, frozen=True):
    candidate: ComponentRef
    window: AlmanacRange
    own_score_bps: int  # 10,000 minus the mean error
    candidate_score_bps: int
    observations: int
    verdict: str
    evidence: tuple[EvidencePointer, ...]
    grant_id: bytes


class ExperimentResult(Wire, frozen=True):
    ok: bool
    reason: str = ""
    report: ExperimentReport | None = None
    rotation: RetirementMarker | None = None


class ExperimentMachine:
    """One experiment at a time; reports accumulate."""

    def __init__(self, cfg: ExperimentConfig, committee: Sequence[PeerId]) -> None:
        self.cfg = cfg
        self._sigs = MemberSignatures(_DOMAIN, committee)
        self.candidate: Propose | None = None
        self.grant: ObserveGrant | None = None
        self._seen: dict[int, ObserveOutcome] = {}
        self.reports: list[ExperimentReport] = []
        self.rotation: RetirementMarker | None = None

    def signature(self) -> UniqueId:
        c = self.cfg
        return UniqueId.from_parts(
            f"experiments|{c.name}|{c.agent.stable_id}|{c.min_observations}|{c.margin_bps}"
        )

    def apply(self, command: bytes, ctx: object = None) -> bytes:
        return apply_decoded(command, Signed, self.step, lambda why: ExperimentResult(False, why))

    def step(self, signed: Signed) -> ExperimentResult:
        refused = self._sigs.check(signed.member, signed.body, signed.signature)
        if refused is not None:
            return ExperimentResult(False, refused)
        body = signed.body
        if self.rotation is not None:
            return ExperimentResult(False, "the agent has rotated to an adopted candidate")
        if isinstance(body, Propose):
            if self.candidate is not None:
                return ExperimentResult(False, "an experiment is already running")
            if body.candidate.stable_id == self.cfg.agent.stable_id:
                return ExperimentResult(False, "the candidate is the production agent")
            self.candidate, self.grant, self._seen = body, None, {}
            return ExperimentResult(True)
        if self.candidate is None:
            return ExperimentResult(False, "no experiment running")
        if isinstance(body, ObserveGrant):
            if self.grant is None:
                self.grant = body
            return ExperimentResult(True)
        if isinstance(body, ObserveOutcome):
            return self._observe(body)
        return self._seal(body)

    def _observe(self, o: ObserveOutcome) -> ExperimentResult:
        assert self.candidate is not None
        if not self.candidate.window.contains(o.tick):
            return ExperimentResult(False, "tick outside the experiment window")
        if min(o.own_error_bps, o.candidate_error_bps) < 0:
            return ExperimentResult(False, "errors are non-negative basis points")
        if o.tick in self._seen or len(self._seen) >= MAX_EVIDENCE:
            return ExperimentResult(True, "tick already observed")
        self._seen[o.tick] = o
        return ExperimentResult(True)

    def _seal(self, s: SealReport) -> ExperimentResult:
        assert self.candidate is not None
        window = self.candidate.window
        if s.tick <= window.end:
            return ExperimentResult(False, "the window has not closed")
        obs = [self._seen[t] for t in sorted(self._seen)]
        n = len(obs)
        own = 10_000 - (sum(o.own_error_bps for o in obs) // n if n else 10_000)
        cand = 10_000 - (sum(o.candidate_error_bps for o in obs) // n if n else 10_000)
        margin = self.cfg.margin_bps
        if n < self.cfg.min_observations:
            verdict = Verdict.INCONCLUSIVE
        elif cand >= own + margin:
            verdict = Verdict.ADOPT
        elif cand <= own - margin:
            verdict = Verdict.REJECT
        else:
            verdict = Verdict.INCONCLUSIVE
        evidence = tuple(p for o in obs for p in (o.own, o.candidate, o.outcome))
        report = ExperimentReport(
            self.candidate.candidate,
            window,
            own,
            cand,
            n,
            verdict.value,
            evidence,
            self.grant.grant_id if self.grant else b"",
        )
        self.reports.append(report)
        rotation = None
        if verdict is Verdict.ADOPT:
            rotation = RetirementMarker.rotation(
                AtAlmanacTick(window.end + 1), self.candidate.candidate
            )
            self.rotation = rotation
        self.candidate, self.grant, self._seen = None, None, {}
        return ExperimentResult(True, report=report, rotation=rotation)

    def query(self, query: bytes) -> bytes:
        return encode(tuple(self.reports))

    def snapshot(self) -> bytes:
        seen = tuple(self._seen[t] for t in sorted(self._seen))
        return encode((self.candidate, self.grant, seen, tuple(self.reports), self.rotation))

    def restore(self, data: bytes) -> None:
        cand, grant, seen, reports, rotation = decode(
            data,
            tuple[
                Propose | None,
                ObserveGrant | None,
                tuple[ObserveOutcome, ...],
                tuple[ExperimentReport, ...],
                RetirementMarker | None,
            ],
        )
        self.candidate, self.grant = cand, grant
        self._seen = {o.tick: o for o in seen}
        self.reports, self.rotation = list(reports), rotation
