"""Experiments: scored on the same outcomes, sealed at the window's end, adopted by rotation;
the candidate must run on a short grant covering the window; a staging winner is published only
through its promoted production deployment."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from coalition import AclClause, AclComposition, CoalitionConfig, TicketIssuerConfig
from coalition.framework.evidence import EvidencePointer
from coalition.retirement import AtAlmanacTick, ComponentKind, ComponentRef, RetirementReason
from coalition.services.almanac import AlmanacRange
from coalition.ticket_issuer import TicketIssuer, recognise_coalition_issuer
from organisms.compute.items import ComputeGrant, ComputeLog, LogBody, UsageMetrics, provider_id
from organisms.experiments.machine import (
    Body,
    ExperimentConfig,
    ExperimentMachine,
    ExperimentResult,
    ObserveGrant,
    ObserveGrantEnd,
    ObserveOutcome,
    Promote,
    Propose,
    SealReport,
    Signed,
)
from organisms.experiments.staging import (
    producer_refusal,
    staging_clause,
    staging_issuer,
    staging_root,
)
from pymosaik.primitives import UNIVERSE, PeerId, SecretKey, UniqueId, decode, encode
from pymosaik.tee import TDX_CLASS, SimulatedTdx, Tdx
from pymosaik.tickets import Ticket

KEYS = [SecretKey(bytes([i]) * 32) for i in range(1, 4)]
PROVIDER = SecretKey(b"\x09" * 32)
AGENT = ComponentRef(ComponentKind.ORGANISM, "forecaster", UniqueId.from_parts("agent"))
CAND = ComponentRef(ComponentKind.ORGANISM, "forecaster-b", UniqueId.from_parts("candidate"))
PROD = ComponentRef(ComponentKind.ORGANISM, "forecaster-v2", UniqueId.from_parts("promoted"))
IMAGE, MRTD = b"\x11" * 32, b"\x22" * 48
TICK = 1_000  # ms per Almanac tick
WINDOW = AlmanacRange(100, 119)  # 20 ticks
OPENS = 100_000
CLOSES = OPENS + 20 * TICK  # 120_000


def ptr(tick: int, n: int) -> EvidencePointer:
    return EvidencePointer(
        UniqueId.from_parts(f"m{n}"), tick, tick, UniqueId.from_parts(f"{tick}.{n}")
    )


def cmd(body: Body, member: int = 1) -> Signed:
    return Signed.by(KEYS[member - 1], member, body)


def grant(
    start: int = OPENS - 500, end: int = CLOSES + 500, image: bytes = IMAGE, mrtd: bytes = b""
) -> ComputeGrant:
    return ComputeGrant(
        b"\x05" * 32,
        provider_id(PROVIDER.peer_id.bytes),
        image,
        start,
        end,
        mrtd,
        10,
        "eu",
        1_000,
        512,
        b"\x07" * 32,
    )


def ended(at_ms: int, grant_id: bytes = b"\x05" * 32) -> ObserveGrantEnd:
    body = LogBody(grant_id, b"", OPENS, at_ms, UsageMetrics(1, 1, 0), completed=False)
    return ObserveGrantEnd(ComputeLog.signed(PROVIDER, body), PROVIDER.peer_id.bytes)


def machine() -> ExperimentMachine:
    cfg = ExperimentConfig(
        "exp", AGENT, min_observations=10, margin_bps=100, tick_ms=TICK, grant_slack_ms=TICK
    )
    return ExperimentMachine(cfg, [k.peer_id for k in KEYS])


def run(
    own_err: int,
    cand_err: int,
    ticks: int = 12,
    *,
    with_grant: ComputeGrant | None = None,
    staging: bool = False,
) -> ExperimentMachine:
    m = machine()
    assert m.step(cmd(Propose(CAND, WINDOW, IMAGE, OPENS, staging))).ok
    if with_grant is not None:
        assert m.step(cmd(ObserveGrant(with_grant))).ok
    for t in range(100, 100 + ticks):
        o = ObserveOutcome(t, own_err, cand_err, ptr(t, 1), ptr(t, 2), ptr(t, 3))
        assert m.step(cmd(o, member=1 + t % 3)).ok
    return m


def test_better_candidate_on_a_covering_grant_is_adopted_by_a_rotation_marker() -> None:
    m = run(own_err=800, cand_err=300, with_grant=grant())
    assert m.step(cmd(SealReport(119))).reason == "the window has not closed"
    out = m.step(cmd(SealReport(120)))
    assert out.report is not None and out.report.verdict == "adopt" and out.report.reason == ""
    assert (out.report.own_score_bps, out.report.candidate_score_bps) == (9_200, 9_700)
    assert out.report.observations == 12 and len(out.report.evidence) == 36
    assert out.report.grant_id == grant().request_id
    assert out.rotation is not None and out.rotation.reason is RetirementReason.ROTATION
    assert out.rotation.replacement == CAND and out.rotation.effective_at == AtAlmanacTick(120)
    assert m.step(cmd(Propose(CAND, AlmanacRange(200, 210), IMAGE, 0))).reason == (
        "the agent has rotated to an adopted candidate"
    )


def test_worse_candidate_is_rejected_and_close_or_thin_results_are_inconclusive() -> None:
    g = grant()
    worse = run(own_err=300, cand_err=800, with_grant=g).step(cmd(SealReport(120)))
    assert worse.report is not None and worse.report.verdict == "reject" and worse.rotation is None
    close = run(own_err=300, cand_err=250, with_grant=g).step(cmd(SealReport(120)))
    assert close.report is not None and close.report.verdict == "inconclusive"
    thin = run(own_err=900, cand_err=100, ticks=5, with_grant=g).step(cmd(SealReport(120)))
    assert thin.report is not None and thin.report.verdict == "inconclusive"


def test_a_candidate_without_a_grant_or_whose_grant_ended_early_is_never_adopted() -> None:
    # the same scores that adopt above: without a grant, the window is inconclusive
    bare = run(own_err=800, cand_err=300).step(cmd(SealReport(120)))
    assert bare.report is not None and bare.report.verdict == "inconclusive"
    assert (
        bare.reason
        == bare.report.reason
        == ("no grant covering the window was observed: the candidate ran on no grant")
    )
    assert bare.rotation is None and bare.report.grant_id == b""

    # the provider's signed log says the grant stopped at 115 s, five ticks before the close
    m = run(own_err=800, cand_err=300, with_grant=grant())
    assert m.step(cmd(ended(115_000))).ok
    assert m.step(cmd(ended(200_000))).ok  # only the first log counts
    early = m.step(cmd(SealReport(120)))
    assert early.report is not None and early.report.verdict == "inconclusive"
    assert early.report.reason == (
        "the candidate's grant ended at 115000 ms, before the window closed at 120000 ms"
    )
    assert early.rotation is None and m.rotation is None

    # a log at the window's close is a grant that lasted: adoptable
    m = run(own_err=800, cand_err=300, with_grant=grant())
    assert m.step(cmd(ended(CLOSES))).ok
    assert m.step(cmd(SealReport(120))).rotation is not None


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (grant(start=OPENS + 1), "does not cover the window [100000, 120000) ms"),
        (grant(end=CLOSES - 1), "does not cover the window [100000, 120000) ms"),
        (grant(start=OPENS - TICK - 1), "the grant is not short"),
        (grant(end=CLOSES + TICK + 1), "the grant is not short"),
        (grant(start=0, end=30 * 86_400_000), "the grant is not short"),
        (grant(start=CLOSES, end=OPENS), "malformed grant: its validity window is empty"),
        (grant(image=b"\x33" * 32), "the grant runs another image than the candidate's"),
    ],
)
def test_grants_that_are_not_short_or_do_not_cover_are_refused_unchanged(
    bad: ComputeGrant, reason: str
) -> None:
    m = run(own_err=800, cand_err=300)
    before = m.snapshot()
    out = m.step(cmd(ObserveGrant(bad)))
    assert not out.ok and reason in out.reason
    assert m.snapshot() == before
    # the slack's edges are inside the rule
    assert m.step(cmd(ObserveGrant(grant(start=OPENS - TICK, end=CLOSES + TICK)))).ok


def test_hostile_grant_commands_are_refused_with_a_reason_and_change_nothing() -> None:
    m = run(own_err=800, cand_err=300, with_grant=grant())
    before = m.snapshot()
    # a second, different grant cannot replace the recorded one; the same one is idempotent
    other = grant(start=OPENS - 400)
    assert m.step(cmd(ObserveGrant(other))).reason == (
        "the experiment already runs on another grant"
    )
    assert m.step(cmd(ObserveGrant(grant()))).reason == "grant already observed"
    # a log forged by someone else, or for another grant, cannot end the grant early
    forged = ended(101_000)
    forged = ObserveGrantEnd(forged.log, SecretKey(b"\x0a" * 32).peer_id.bytes)
    assert m.step(cmd(forged)).reason == "the log is not signed by the grant's provider"
    tampered = ObserveGrantEnd(
        ComputeLog(
            LogBody(grant().request_id, b"", 0, 101_000, UsageMetrics(0, 0, 0), False),
            ended(119_000).log.signature,
        ),
        PROVIDER.peer_id.bytes,
    )
    assert m.step(cmd(tampered)).reason == "the log is not signed by the grant's provider"
    assert m.step(cmd(ended(101_000, b"\x06" * 32))).reason == "the log is for another grant"
    # a grant observed by a non-member, and bytes that do not decode
    outsider = Signed.by(SecretKey(b"\x0b" * 32), 1, ObserveGrant(other))
    assert m.step(outsider).reason == "bad signature"
    raw = decode(m.apply(b"\x93\x01garbage"), ExperimentResult)
    assert not raw.ok and raw.reason.startswith("malformed command")
    assert m.snapshot() == before


def test_staging_winner_is_published_only_through_its_promoted_production_deployment() -> None:
    m = run(own_err=800, cand_err=300, with_grant=grant(), staging=True)
    out = m.step(cmd(SealReport(120)))
    assert out.report is not None and out.report.verdict == "adopt" and out.report.staging
    assert out.rotation is None and m.rotation is None  # production sees nothing yet
    assert out.reason == "adopted in staging: awaits Promote"
    assert m.step(cmd(Propose(CAND, AlmanacRange(200, 210), IMAGE, 0))).reason == (
        "an adopted staging candidate awaits promotion"
    )

    tdx = grant(start=CLOSES, end=CLOSES + 86_400_000, image=b"\x44" * 32, mrtd=MRTD)
    before = m.snapshot()
    refusals = {
        Promote(PROD, PROD, MRTD, tdx, 121): "promotes another candidate than the adopted one",
        Promote(CAND, CAND, MRTD, tdx, 121): (
            "the production deployment is a new Config, not the staging one or the agent"
        ),
        Promote(CAND, AGENT, MRTD, tdx, 121): (
            "the production deployment is a new Config, not the staging one or the agent"
        ),
        Promote(CAND, PROD, b"", grant(), 121): (
            "a production deployment is TDX-gated: a 48-byte MRTD"
        ),
        Promote(CAND, PROD, b"\x23" * 48, tdx, 121): "the grant expects other TDX measurements",
        Promote(CAND, PROD, MRTD, grant(end=CLOSES, mrtd=MRTD), 121): (
            "the production grant is not live after the window"
        ),
        Promote(CAND, PROD, MRTD, tdx, 119): "the window has not closed",
    }
    for bad, reason in refusals.items():
        assert m.step(cmd(bad)).reason == reason
    assert m.snapshot() == before

    promoted = m.step(cmd(Promote(CAND, PROD, MRTD, tdx, 121)))
    assert promoted.ok and promoted.rotation is not None
    # the marker names the production deployment, never the staging committee
    assert promoted.rotation.replacement == PROD
    assert promoted.rotation.effective_at == AtAlmanacTick(121)
    assert m.step(cmd(Promote(CAND, PROD, MRTD, tdx, 122))).reason == (
        "the agent has rotated to an adopted candidate"
    )


def test_refusals_and_replay() -> None:
    m = machine()
    assert m.step(cmd(SealReport(1))).reason == "no experiment running"
    assert m.step(cmd(ObserveGrant(grant()))).reason == "no experiment running"
    assert m.step(cmd(Promote(CAND, PROD, MRTD, grant(), 1))).reason == (
        "no adopted staging candidate awaits promotion"
    )
    assert m.step(cmd(Propose(AGENT, AlmanacRange(1, 2), IMAGE, 0))).reason == (
        "the candidate is the production agent"
    )
    assert m.step(cmd(Propose(CAND, AlmanacRange(1, 2), b"short", 0))).reason == (
        "the candidate's image is a 32-byte content hash"
    )
    assert m.step(cmd(Propose(CAND, AlmanacRange(1, 2), IMAGE, 0))).ok
    assert m.step(cmd(Propose(CAND, AlmanacRange(1, 2), IMAGE, 0))).reason == (
        "an experiment is already running"
    )
    assert m.step(cmd(ended(5))).reason == "no grant recorded for this experiment"
    far = ObserveOutcome(50, 1, 1, ptr(50, 1), ptr(50, 2), ptr(50, 3))
    assert m.step(cmd(far)).reason == "tick outside the experiment window"
    forged = Signed(1, SealReport(3), KEYS[1].sign(b"x"))
    assert m.step(forged).reason == "bad signature"
    # every command through apply (bytes in, bytes out) and a replica restored from a snapshot
    staged = run(own_err=800, cand_err=300, with_grant=grant(), staging=True)
    staged.apply(encode(cmd(SealReport(120))))
    for src in (m, staged):
        copy = machine()
        copy.restore(src.snapshot())
        assert copy.snapshot() == src.snapshot()
        assert copy.awaiting == src.awaiting and copy.running == src.running


@dataclass(frozen=True)
class Entry:
    """A producer's discovery entry as a consumer's catalog holds it (what `PeerView` reads)."""

    peer_id: PeerId
    tickets: tuple[Ticket, ...]
    network_id: UniqueId = UNIVERSE


def test_staging_tickets_are_their_own_class_which_production_validators_refuse() -> None:
    operator, agent_key, member = SecretKey(b"\x0c" * 32), SecretKey(b"\x0d" * 32), KEYS[0]
    acl = AclComposition.all_of(AclClause.require_peer(operator.peer_id.bytes))
    coalition = CoalitionConfig(instance_name="c", ticket_issuer=TicketIssuerConfig("c", acl))
    production = recognise_coalition_issuer(coalition)
    tdx = Tdx.with_verifiers(SimulatedTdx(operator.peer_id)).allow_simulated().require_mrtd(MRTD)
    clause = staging_clause(AGENT.stable_id, [agent_key.peer_id])
    root = staging_root(AGENT.stable_id)
    assert root not in (coalition.ticket_issuer_root(), staging_root(CAND.stable_id), TDX_CLASS)

    staged = Entry(
        member.peer_id,
        (staging_issuer(AGENT.stable_id, agent_key).issue(member.peer_id, UNIVERSE, 0, None),),
    )
    prod = Entry(
        member.peer_id,
        (TicketIssuer.for_coalition(coalition, operator).issue(member.peer_id, UNIVERSE, 0, None),),
    )
    assert producer_refusal(production, staged, 1) == "no valid ticket of the required class"
    assert producer_refusal(tdx, staged, 1) == "no valid ticket of the required class"
    assert producer_refusal(clause, staged, 1) is None  # the opt-in clause accepts it
    assert producer_refusal(production, prod, 1) is None
    assert producer_refusal(clause, prod, 1) == "no valid ticket of the required class"
    # staging tickets the agent did not sign, or issued to another peer, fail the clause too
    forged = staging_issuer(AGENT.stable_id, operator).issue(member.peer_id, UNIVERSE, 0, None)
    assert producer_refusal(clause, Entry(member.peer_id, (forged,)), 1) is not None
    assert producer_refusal(clause, Entry(KEYS[1].peer_id, staged.tickets), 1) is not None
