"""Seeded campaigns over committee opinions: members' agents answer, the median rule decides.

Each seed draws 3 or 5 members and a ``median`` rule with k = 3 (a strict majority of the
answers counted is honest when at most one member lies). Every 500 ms a question is asked:
each member up at that moment has its agent answer (honest members near the truth, one
member per seed 10 % high: an outlier feed). Members propose through a host that retries
what was lost (15 % of proposals, until the quiet tail) and sometimes delivers twice (5 %);
members crash and restart, losing what they had not yet proposed. Checkers:

- ``agree``     every replica answers every command the same way;
- ``honest``    every outcome is within a quarter of the tolerance of the truth;
- ``dissent``   every committed answer that disagrees with its question's outcome is in the
  outcome's dissent (late ones included), and none that agrees;
- ``one-vote``  a member is counted (and recorded as dissent) at most once per question, and
  only for what it said;
- ``progress``  every question with k committed answers is decided.
"""

from __future__ import annotations

from collections import defaultdict

import blake3

from pymosaik.primitives import SecretKey, decode, encode
from pymosaik.sim.rng import seeded

from ..opinions.machine import (
    Observe,
    OpinionMachine,
    OpinionResult,
    OpinionRule,
    Outcome,
    SignedObserve,
    answer_int,
    int_answer,
)
from ..opinions.organism import OpinionMemberCore
from .committee import Committee, Member
from .result import SeedResult

RUN_S = 40
TAIL_S = 10
STEP_MS = 50
ASK_MS = 500
TOLERANCE_BPS = 200
TRUTH = 1_000_000


class _MaxMachine(OpinionMachine):
    """Broken: decides the highest answer instead of the median (an outlier wins)."""

    def _decide(self, question: bytes, votes: dict[int, bytes]) -> Outcome | None:
        out = super()._decide(question, votes)
        if out is None:
            return None
        top = max(answer_int(a) for a in votes.values())
        return Outcome(out.question, int_answer(top), out.votes, out.dissent)


class _ForgetsLate(OpinionMachine):
    """Broken: a late observation that disagrees is not recorded as dissent."""

    def _late(self, decided: Outcome, o: Observe) -> OpinionResult:
        return OpinionResult(True, "decided before this observation")


class _CountsTwice(OpinionMachine):
    """Broken: a redelivered observation counts as a new vote (the first is re-filed by its
    arrival instead of its member)."""

    def step(self, signed: SignedObserve) -> OpinionResult:
        votes = self._open.get(signed.body.question)
        if votes is not None and signed.body.member in votes:
            votes[-len(votes)] = votes.pop(signed.body.member)
        return super().step(signed)


BROKEN = {
    "opinions-max": "honest",
    "opinions-forgets-late": "dissent",
    "opinions-counts-twice": "one-vote",
}
_MACHINES: dict[str | None, type[OpinionMachine]] = {
    None: OpinionMachine,
    "opinions-max": _MaxMachine,
    "opinions-forgets-late": _ForgetsLate,
    "opinions-counts-twice": _CountsTwice,
}


class _Opinions(Committee[OpinionMemberCore]):
    def __init__(self, seed: int, broken: str | None) -> None:
        rng = seeded(seed)
        n = rng.choice([3, 5])
        keys = [SecretKey(rng.randbytes(32)) for _ in range(n)]
        self._index = {k.peer_id: i + 1 for i, k in enumerate(keys)}
        super().__init__(seed, rng, keys, lambda k: OpinionMemberCore(self._index[k.peer_id], k))
        self.rule = OpinionRule("median", 3, TOLERANCE_BPS)
        committee = [k.peer_id for k in keys]
        machine = _MACHINES[broken]
        self.replicas = [machine("campaign", self.rule, committee) for _ in range(n)]
        self.liar = rng.randrange(n)
        self.outbox: dict[int, list[bytes]] = defaultdict(list)
        self.truth: dict[bytes, int] = {}
        #: (question, member) → the answer the log committed first
        self.committed: dict[tuple[bytes, int], bytes] = {}

    def on_boot(self, member: Member[OpinionMemberCore]) -> None:
        super().on_boot(member)
        self.outbox[member.index].clear()  # what the last life had not sent is gone

    def tail(self) -> bool:
        return self.now >= RUN_S * 1_000

    def ask(self) -> None:
        if self.tail():
            return
        q = blake3.blake3(b"question %d" % len(self.truth)).digest()
        truth = TRUTH + self.rng.randint(-50_000, 50_000)
        self.truth[q] = truth
        self.stats["questions"] += 1
        for member in self.members:
            if not member.up or member.core is None:
                continue
            if member.index == self.liar:
                answer = truth + truth // 10
            else:
                noise = truth * TOLERANCE_BPS // 40_000  # within a quarter of the tolerance
                answer = truth + self.rng.randint(-noise, noise)
            member.core.observe(q, int_answer(answer))

    def step(self, member: Member[OpinionMemberCore]) -> None:
        if member.core is None or not member.up:
            return
        box = self.outbox[member.index]
        box += [encode(c) for c in member.core.step(self.replicas[member.index], self.now)]
        kept = []
        for cmd in box:
            if not self.tail() and self.rng.random() < 0.15:
                self.stats["lost"] += 1
                kept.append(cmd)  # the host retries it at the next step
                continue
            self.commit(cmd)
            if self.rng.random() < 0.05:
                self.stats["duplicated"] += 1
                self.commit(cmd)
        self.outbox[member.index] = kept

    def commit(self, cmd: bytes) -> None:
        results = {r.apply(cmd) for r in self.replicas}
        if len(results) != 1:
            self.violation("agree", "replicas answered a command differently")
        result = decode(results.pop(), OpinionResult)
        if result.ok:
            o = decode(cmd, SignedObserve).body
            self.committed.setdefault((o.question, o.member), o.answer)
        if result.outcome is not None:
            self.stats["decided"] += 1

    def run(self) -> SeedResult:
        for member in self.members:
            self.boot(member)
        self.every(STEP_MS, self.churn_until, RUN_S * 1_000)
        self.every(ASK_MS, self.ask)
        for member in self.members:
            self.every(STEP_MS, self.step, member)
        self.run_until((RUN_S + TAIL_S) * 1_000 - 1)
        self.final_checks()
        return self.result()

    def final_checks(self) -> None:
        m = self.replicas[0]
        answered: dict[bytes, dict[int, bytes]] = defaultdict(dict)
        for (q, member), a in self.committed.items():
            answered[q][member] = a
        for q, truth in self.truth.items():
            out = m.outcomes.get(q)
            if out is None:
                if len(answered[q]) >= self.rule.k:
                    self.violation("progress", f"question {q.hex()[:8]} has k answers, no outcome")
                continue
            value = answer_int(out.answer)
            if abs(value - truth) * 40_000 > TOLERANCE_BPS * truth:
                self.violation("honest", f"question {q.hex()[:8]}: {value} against truth {truth}")
            votes, dissenters = [v for v, _ in out.votes], [d for d, _ in out.dissent]
            if (
                len(votes) != len(set(votes))
                or len(dissenters) != len(set(dissenters))
                or any(answered[q].get(mem) != a for mem, a in (*out.votes, *out.dissent))
            ):
                self.violation("one-vote", f"question {q.hex()[:8]} counts a member wrongly")
            dissent = set(out.dissent)
            for mem, a in answered[q].items():
                if m._dissents(answer_int(a), value) != ((mem, a) in dissent):
                    self.violation("dissent", f"question {q.hex()[:8]}: member {mem} misrecorded")
        self.stats["liar-dissents"] += sum(
            1 for o in m.outcomes.values() for mem, _ in o.dissent if mem == self.liar + 1
        )


def run_seed(seed: int, broken: str | None = None) -> SeedResult:
    return _Opinions(seed, broken).run()
