"""The experiment machine: propose, check the grant, observe, seal a report, rotate or promote.

Members observe outcomes off the log (reading the production agent's surface, the candidate's
shadow stream and what actually happened) and commit, per Almanac tick, each side's error in
basis points with evidence pointers to the three items, so anyone can recompute every score
on replay. At the window's end ``SealReport`` applies the declared rule: with at least
``min_observations`` ticks, a candidate better by at least ``margin_bps`` is adopted, one worse
by at least that is rejected, anything else is inconclusive. A rejected candidate's
fingerprint never reaches the coalition config (it stays disposable, 1042).

**The short grant.** An experiment is costed and has a declared horizon: the candidate runs on
short-lived compute (922, 998) whose grant "carries valid_to; the experiment committee retires
at that tick" (1039), requested for exactly the window (``duration_sec: EXPERIMENT_WINDOW_SEC``,
2862; "for the grant's validity window, the candidate commits …", 1074). So ``ObserveGrant``
records a grant only if it runs the candidate's image, covers the window, and reaches past
neither end of it by more than ``grant_slack_ms`` (provisioning before, retirement after);
anything else is refused with the reason and changes nothing. The provider's signed
``ComputeLog`` (``ObserveGrantEnd``) tells when the grant really ended. A window sealed with no
grant recorded, or with a grant that ended before the window closed, is inconclusive whatever
the scores say (the candidate's outputs were not the candidate on its grant): never adopted.

**Adoption.** A candidate that ran as a production-class side-organism (Pattern III/IV,
1059–1062) is adopted by a ``RetirementMarker`` rotating the agent to it, effective the tick
after the window. A candidate that ran on a *staging* committee (``Propose.staging``: non-TDX,
staging tickets, invisible to production; 819, 825–831) is never named by a marker: its Config
is absent from production validators, so a marker pointing there would strand every production
consumer. Its adoption only selects the winner (step 3); ``Promote`` names the winner's new
TDX-gated production deployment and its TDX grant (step 4), and the rotation marker names that
deployment (step 5: the publish).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Final

from coalition.framework.evidence import EvidencePointer
from coalition.member_commands import MemberSignatures, apply_decoded
from coalition.retirement import AtAlmanacTick, ComponentRef, RetirementMarker
from coalition.services.almanac import AlmanacRange
from organisms.compute.items import MRTD_LEN, ComputeGrant, ComputeLog, provider_id
from pymosaik.primitives import PeerId, SecretKey, UniqueId, Wire, decode, encode

_DOMAIN: Final = b"experiments.command.v1|"
MAX_EVIDENCE: Final = 4096
IMAGE_LEN: Final = 32


class Verdict(enum.StrEnum):
    INCONCLUSIVE = "inconclusive"
    ADOPT = "adopt"
    REJECT = "reject"


class ExperimentConfig(Wire, frozen=True):
    name: str
    agent: ComponentRef  # the production agent the candidates compete with
    min_observations: int = 10
    margin_bps: int = 100
    #: The coalition's Almanac cadence: a window of n ticks lasts n × tick_ms of grant time.
    tick_ms: int = 60_000
    #: How far a grant may reach before the window opens or after it closes (one tick).
    grant_slack_ms: int = 60_000


class Propose(Wire, frozen=True, tag="propose"):
    candidate: ComponentRef
    window: AlmanacRange
    image: bytes  # the candidate image's content hash: the grant must run exactly this
    opens_ms: int  # when the window's first tick falls (the grant's clock)
    staging: bool = False  # the candidate runs on a staging committee (adoption → Promote)


class ObserveGrant(Wire, frozen=True, tag="grant"):
    """The Compute committee granted the candidate's request (read off Compute's surface)."""

    grant: ComputeGrant


class ObserveGrantEnd(Wire, frozen=True, tag="grant-end"):
    """The provider's signed usage log for the grant; ``signer`` is its card's key."""

    log: ComputeLog
    signer: bytes


class ObserveOutcome(Wire, frozen=True, tag="outcome"):
    tick: int
    own_error_bps: int
    candidate_error_bps: int
    own: EvidencePointer
    candidate: EvidencePointer
    outcome: EvidencePointer


class SealReport(Wire, frozen=True, tag="seal"):
    tick: int


class Promote(Wire, frozen=True, tag="promote"):
    """Publish a staging winner: its TDX-gated production deployment and that deployment's grant."""

    staged: ComponentRef  # the adopted staging candidate
    production: ComponentRef  # the new Config folding the winner's parameters
    mrtd: bytes  # the production image's expected TDX measurement
    grant: ComputeGrant
    tick: int  # the Almanac tick the promotion is committed at (the marker's effective tick)


Body = Propose | ObserveGrant | ObserveGrantEnd | ObserveOutcome | SealReport | Promote


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
    #: Why the verdict is inconclusive regardless of scores (the grant rule), else empty.
    reason: str = ""
    staging: bool = False


class ExperimentResult(Wire, frozen=True):
    ok: bool
    reason: str = ""
    report: ExperimentReport | None = None
    rotation: RetirementMarker | None = None


class Running(Wire, frozen=True):
    """The experiment in progress: what was proposed, its grant, how the grant ended."""

    proposal: Propose
    grant: ComputeGrant | None = None
    grant_ended_ms: int | None = None


class AwaitingPromotion(Wire, frozen=True):
    """A staging winner adopted; production does not see it until ``Promote``."""

    report: ExperimentReport
    closes_ms: int


class ExperimentMachine:
    """One experiment at a time; reports accumulate."""

    def __init__(self, cfg: ExperimentConfig, committee: Sequence[PeerId]) -> None:
        if cfg.tick_ms <= 0 or cfg.grant_slack_ms < 0:
            raise ValueError("tick_ms must be positive and grant_slack_ms non-negative")
        self.cfg = cfg
        self._sigs = MemberSignatures(_DOMAIN, committee)
        self.running: Running | None = None
        self._seen: dict[int, ObserveOutcome] = {}
        self.reports: list[ExperimentReport] = []
        self.awaiting: AwaitingPromotion | None = None
        self.rotation: RetirementMarker | None = None

    @property
    def candidate(self) -> Propose | None:
        return None if self.running is None else self.running.proposal

    @property
    def grant(self) -> ComputeGrant | None:
        return None if self.running is None else self.running.grant

    def signature(self) -> UniqueId:
        c = self.cfg
        return UniqueId.from_parts(
            f"experiments|{c.name}|{c.agent.stable_id}|{c.min_observations}|{c.margin_bps}"
            f"|{c.tick_ms}|{c.grant_slack_ms}"
        )

    def closes_ms(self, p: Propose) -> int:
        """When the window closes in grant time: the end of its last tick."""
        return p.opens_ms + (p.window.end - p.window.start + 1) * self.cfg.tick_ms

    def apply(self, command: bytes, ctx: object = None) -> bytes:
        return apply_decoded(command, Signed, self.step, lambda why: ExperimentResult(False, why))

    def step(self, signed: Signed) -> ExperimentResult:
        refused = self._sigs.check(signed.member, signed.body, signed.signature)
        if refused is not None:
            return ExperimentResult(False, refused)
        body = signed.body
        if self.rotation is not None:
            return ExperimentResult(False, "the agent has rotated to an adopted candidate")
        if isinstance(body, Promote):
            return self._promote(body)
        if self.awaiting is not None:
            return ExperimentResult(False, "an adopted staging candidate awaits promotion")
        if isinstance(body, Propose):
            return self._propose(body)
        if self.running is None:
            return ExperimentResult(False, "no experiment running")
        if isinstance(body, ObserveGrant):
            return self._grant(self.running, body.grant)
        if isinstance(body, ObserveGrantEnd):
            return self._grant_end(self.running, body)
        if isinstance(body, ObserveOutcome):
            return self._observe(body)
        return self._seal(self.running, body)

    def _propose(self, p: Propose) -> ExperimentResult:
        if self.running is not None:
            return ExperimentResult(False, "an experiment is already running")
        if p.candidate.stable_id == self.cfg.agent.stable_id:
            return ExperimentResult(False, "the candidate is the production agent")
        if len(p.image) != IMAGE_LEN:
            return ExperimentResult(False, "the candidate's image is a 32-byte content hash")
        if p.opens_ms < 0:
            return ExperimentResult(False, "the window opens at a non-negative time")
        self.running, self._seen = Running(p), {}
        return ExperimentResult(True)

    def _grant(self, run: Running, g: ComputeGrant) -> ExperimentResult:
        """The short-grant rule (module docstring): refused grants change nothing."""
        if run.grant is not None:
            if g == run.grant:
                return ExperimentResult(True, "grant already observed")
            return ExperimentResult(False, "the experiment already runs on another grant")
        p = run.proposal
        if g.valid_to_ms <= g.valid_from_ms:
            return ExperimentResult(False, "malformed grant: its validity window is empty")
        if g.content_hash != p.image:
            return ExperimentResult(False, "the grant runs another image than the candidate's")
        opens, closes, slack = p.opens_ms, self.closes_ms(p), self.cfg.grant_slack_ms
        if g.valid_from_ms > opens or g.valid_to_ms < closes:
            return ExperimentResult(
                False,
                f"the grant [{g.valid_from_ms}, {g.valid_to_ms}) ms does not cover the "
                f"window [{opens}, {closes}) ms",
            )
        if g.valid_from_ms < opens - slack or g.valid_to_ms > closes + slack:
            return ExperimentResult(
                False,
                f"the grant is not short: [{g.valid_from_ms}, {g.valid_to_ms}) ms reaches more "
                f"than {slack} ms past the window [{opens}, {closes}) ms",
            )
        self.running = Running(p, g)
        return ExperimentResult(True)

    def _grant_end(self, run: Running, e: ObserveGrantEnd) -> ExperimentResult:
        g = run.grant
        if g is None:
            return ExperimentResult(False, "no grant recorded for this experiment")
        if e.log.body.grant_id != g.request_id:
            return ExperimentResult(False, "the log is for another grant")
        if provider_id(e.signer) != g.provider or not e.log.verify(e.signer):
            return ExperimentResult(False, "the log is not signed by the grant's provider")
        if run.grant_ended_ms is None:
            self.running = Running(run.proposal, g, e.log.body.window_to_ms)
        return ExperimentResult(True)

    def _observe(self, o: ObserveOutcome) -> ExperimentResult:
        assert self.running is not None
        if not self.running.proposal.window.contains(o.tick):
            return ExperimentResult(False, "tick outside the experiment window")
        if min(o.own_error_bps, o.candidate_error_bps) < 0:
            return ExperimentResult(False, "errors are non-negative basis points")
        if o.tick in self._seen or len(self._seen) >= MAX_EVIDENCE:
            return ExperimentResult(True, "tick already observed")
        self._seen[o.tick] = o
        return ExperimentResult(True)

    def _not_adoptable(self, run: Running) -> str:
        """Why the window's result cannot stand whatever the scores ("" when it can)."""
        closes = self.closes_ms(run.proposal)
        if run.grant is None:
            return "no grant covering the window was observed: the candidate ran on no grant"
        if run.grant_ended_ms is not None and run.grant_ended_ms < closes:
            return (
                f"the candidate's grant ended at {run.grant_ended_ms} ms, before the window "
                f"closed at {closes} ms"
            )
        return ""

    def _seal(self, run: Running, s: SealReport) -> ExperimentResult:
        p = run.proposal
        window = p.window
        if s.tick <= window.end:
            return ExperimentResult(False, "the window has not closed")
        obs = [self._seen[t] for t in sorted(self._seen)]
        n = len(obs)
        own = 10_000 - (sum(o.own_error_bps for o in obs) // n if n else 10_000)
        cand = 10_000 - (sum(o.candidate_error_bps for o in obs) // n if n else 10_000)
        margin = self.cfg.margin_bps
        why = self._not_adoptable(run)
        if why or n < self.cfg.min_observations:
            verdict = Verdict.INCONCLUSIVE
        elif cand >= own + margin:
            verdict = Verdict.ADOPT
        elif cand <= own - margin:
            verdict = Verdict.REJECT
        else:
            verdict = Verdict.INCONCLUSIVE
        evidence = tuple(q for o in obs for q in (o.own, o.candidate, o.outcome))
        grant_id = run.grant.request_id if run.grant else b""
        report = ExperimentReport(
            p.candidate, window, own, cand, n, verdict.value, evidence, grant_id, why, p.staging
        )
        self.reports.append(report)
        self.running, self._seen = None, {}
        if verdict is not Verdict.ADOPT:
            return ExperimentResult(True, why, report=report)
        if p.staging:  # selected, not published: production never sees the staging Config
            self.awaiting = AwaitingPromotion(report, self.closes_ms(p))
            return ExperimentResult(True, "adopted in staging: awaits Promote", report=report)
        rotation = RetirementMarker.rotation(AtAlmanacTick(window.end + 1), p.candidate)
        self.rotation = rotation
        return ExperimentResult(True, report=report, rotation=rotation)

    def _promote(self, pr: Promote) -> ExperimentResult:
        """Steps 4–5 of the staging → promote → publish cycle (826–827)."""
        waiting = self.awaiting
        if waiting is None:
            return ExperimentResult(False, "no adopted staging candidate awaits promotion")
        report, g = waiting.report, pr.grant
        if pr.staged != report.candidate:
            return ExperimentResult(False, "promotes another candidate than the adopted one")
        if pr.production.stable_id in (report.candidate.stable_id, self.cfg.agent.stable_id):
            return ExperimentResult(
                False, "the production deployment is a new Config, not the staging one or the agent"
            )
        if len(pr.mrtd) != MRTD_LEN:
            return ExperimentResult(False, "a production deployment is TDX-gated: a 48-byte MRTD")
        if g.expected_mrtd != pr.mrtd:
            return ExperimentResult(False, "the grant expects other TDX measurements")
        if g.valid_to_ms <= max(g.valid_from_ms, waiting.closes_ms):
            return ExperimentResult(False, "the production grant is not live after the window")
        if pr.tick <= report.window.end:
            return ExperimentResult(False, "the window has not closed")
        rotation = RetirementMarker.rotation(AtAlmanacTick(pr.tick), pr.production)
        self.awaiting, self.rotation = None, rotation
        return ExperimentResult(True, report=report, rotation=rotation)

    def query(self, query: bytes) -> bytes:
        return encode(tuple(self.reports))

    def snapshot(self) -> bytes:
        seen = tuple(self._seen[t] for t in sorted(self._seen))
        return encode((self.running, seen, tuple(self.reports), self.awaiting, self.rotation))

    def restore(self, data: bytes) -> None:
        run, seen, reports, awaiting, rotation = decode(
            data,
            tuple[
                Running | None,
                tuple[ObserveOutcome, ...],
                tuple[ExperimentReport, ...],
                AwaitingPromotion | None,
                RetirementMarker | None,
            ],
        )
        self.running, self._seen = run, {o.tick: o for o in seen}
        self.reports, self.awaiting, self.rotation = list(reports), awaiting, rotation
