"""Experiments: scored on the same outcomes, sealed at the window's end, adopted by rotation."""

from __future__ import annotations

from coalition.framework.evidence import EvidencePointer
from coalition.retirement import AtAlmanacTick, ComponentKind, ComponentRef, RetirementReason
from coalition.services.almanac import AlmanacRange
from organisms.experiments.machine import (
    ExperimentConfig,
    ExperimentMachine,
    ObserveGrant,
    ObserveOutcome,
    Propose,
    SealReport,
    Signed,
)
from pymosaik.primitives import SecretKey, UniqueId

KEYS = [SecretKey(bytes([i]) * 32) for i in range(1, 4)]
AGENT = ComponentRef(ComponentKind.ORGANISM, "forecaster", UniqueId.from_parts("agent"))
CAND = ComponentRef(ComponentKind.ORGANISM, "forecaster-b", UniqueId.from_parts("candidate"))


def ptr(tick: int, n: int) -> EvidencePointer:
    return EvidencePointer(
        UniqueId.from_parts(f"m{n}"), tick, tick, UniqueId.from_parts(f"{tick}.{n}")
    )


def cmd(body, member: int = 1) -> Signed:
    return Signed.by(KEYS[member - 1], member, body)


def run(own_err: int, cand_err: int, ticks: int = 12) -> ExperimentMachine:
    m = ExperimentMachine(
        ExperimentConfig("exp", AGENT, min_observations=10, margin_bps=100),
        [k.peer_id for k in KEYS],
    )
    assert m.step(cmd(Propose(CAND, AlmanacRange(100, 119)))).ok
    assert m.step(cmd(ObserveGrant(b"\x01" * 32, 10_000))).ok
    for t in range(100, 100 + ticks):
        o = ObserveOutcome(t, own_err, cand_err, ptr(t, 1), ptr(t, 2), ptr(t, 3))
        assert m.step(cmd(o, member=1 + t % 3)).ok
    return m


def test_better_candidate_is_adopted_by_a_rotation_marker() -> None:
    m = run(own_err=800, cand_err=300)
    assert m.step(cmd(SealReport(119))).reason == "the window has not closed"
    out = m.step(cmd(SealReport(120)))
    assert out.report is not None and out.report.verdict == "adopt"
    assert (out.report.own_score_bps, out.report.candidate_score_bps) == (9_200, 9_700)
    assert out.report.observations == 12 and len(out.report.evidence) == 36
    assert out.rotation is not None and out.rotation.reason is RetirementReason.ROTATION
    assert out.rotation.replacement == CAND and out.rotation.effective_at == AtAlmanacTick(120)
    assert m.step(cmd(Propose(CAND, AlmanacRange(200, 210)))).reason == (
        "the agent has rotated to an adopted candidate"
    )


def test_worse_candidate_is_rejected_and_close_or_thin_results_are_inconclusive() -> None:
    worse = run(own_err=300, cand_err=800).step(cmd(SealReport(120)))
    assert worse.report is not None and worse.report.verdict == "reject" and worse.rotation is None
    close = run(own_err=300, cand_err=250).step(cmd(SealReport(120)))
    assert close.report is not None and close.report.verdict == "inconclusive"
    thin = run(own_err=900, cand_err=100, ticks=5).step(cmd(SealReport(120)))
    assert thin.report is not None and thin.report.verdict == "inconclusive"


def test_refusals() -> None:
    m = ExperimentMachine(ExperimentConfig("exp", AGENT), [k.peer_id for k in KEYS])
    assert m.step(cmd(SealReport(1))).reason == "no experiment running"
    assert m.step(cmd(Propose(AGENT, AlmanacRange(1, 2)))).reason == (
        "the candidate is the production agent"
    )
    assert m.step(cmd(Propose(CAND, AlmanacRange(1, 2)))).ok
    assert (
        m.step(cmd(Propose(CAND, AlmanacRange(1, 2)))).reason == "an experiment is already running"
    )
    far = ObserveOutcome(50, 1, 1, ptr(50, 1), ptr(50, 2), ptr(50, 3))
    assert m.step(cmd(far)).reason == "tick outside the experiment window"
    forged = Signed(1, SealReport(3), KEYS[1].sign(b"x"))
    assert m.step(forged).reason == "bad signature"
    copy = ExperimentMachine(ExperimentConfig("exp", AGENT), [k.peer_id for k in KEYS])
    copy.restore(m.snapshot())
    assert copy.snapshot() == m.snapshot()
