"""The opinion machine: signed observations in, one committed outcome per question.

Two declared rules, chosen in the organism's content:

* ``quorum``: categorical answers; the outcome is the first answer ``k`` members gave, committed
  the moment it reaches ``k``; everyone who answered otherwise is dissent.
* ``median``: integer answers (basis points, micro-units…, D10); once ``k`` members answered,
  the outcome is the lower median of the answers, and dissent is every member farther than
  ``tolerance_bps`` of it (a price oracle's outlier feeds).

Late observations for a decided question are kept as dissent if they disagree, so the record
of who disagreed is complete. Deterministic over committed commands, like any machine here.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Final

from coalition.member_commands import MemberSignatures, apply_decoded
from pymosaik.primitives import PeerId, SecretKey, UniqueId, Wire, decode, encode

HISTORY: Final = 4096
MAX_OPEN: Final = 1024
_DOMAIN: Final = b"opinions.observe.v1|"


class OpinionRule(Wire, frozen=True):
    kind: str  # "quorum" or "median"
    k: int
    tolerance_bps: int = 0

    def check(self, n: int) -> None:
        if self.kind not in ("quorum", "median"):
            raise ValueError(f"unknown rule {self.kind!r}")
        if not 1 <= self.k <= n:
            raise ValueError(f"k must be in 1..{n}")
        if self.tolerance_bps < 0:
            raise ValueError("tolerance is non-negative")


class Observe(Wire, frozen=True):
    member: int
    question: bytes  # 32-byte id of what is being asked (e.g. blake3 of "ETH/USD at tick 812")
    answer: bytes  # categorical (quorum) or a signed 64-bit integer, 8 bytes big-endian (median)


class SignedObserve(Wire, frozen=True):
    body: Observe
    signature: bytes

    @classmethod
    def by(cls, key: SecretKey, body: Observe) -> SignedObserve:
        return cls(body, MemberSignatures.sign(_DOMAIN, key, body))


class Outcome(Wire, frozen=True):
    question: bytes
    answer: bytes
    votes: tuple[tuple[int, bytes], ...]  # (member, answer) that the rule counted, by member
    dissent: tuple[tuple[int, bytes], ...]  # (member, answer) that disagreed, by member


class OpinionResult(Wire, frozen=True):
    ok: bool
    reason: str = ""
    outcome: Outcome | None = None


def int_answer(value: int) -> bytes:
    return value.to_bytes(8, "big", signed=True)


def answer_int(answer: bytes) -> int:
    return int.from_bytes(answer, "big", signed=True)


class OpinionMachine:
    def __init__(self, name: str, rule: OpinionRule, committee: Sequence[PeerId]) -> None:
        rule.check(len(committee))
        self.name, self.rule = name, rule
        self._sigs = MemberSignatures(_DOMAIN, committee)
        self._open: dict[bytes, dict[int, bytes]] = {}
        self.outcomes: dict[bytes, Outcome] = {}
        self._order: deque[bytes] = deque()

    def signature(self) -> UniqueId:
        r = self.rule
        return UniqueId.from_parts(f"opinions|{self.name}|{r.kind}|k={r.k}|tol={r.tolerance_bps}")

    def apply(self, command: bytes, ctx: object = None) -> bytes:
        return apply_decoded(
            command, SignedObserve, self.step, lambda why: OpinionResult(False, why)
        )

    def step(self, signed: SignedObserve) -> OpinionResult:
        o = signed.body
        refused = self._sigs.check(o.member, o, signed.signature)
        if refused is not None:
            return OpinionResult(False, refused)
        if len(o.question) != 32:
            return OpinionResult(False, "a question id is 32 bytes")
        if self.rule.kind == "median" and len(o.answer) != 8:
            return OpinionResult(False, "a median answer is an 8-byte integer")
        if not 0 < len(o.answer) <= 256:
            return OpinionResult(False, "an answer is 1..256 bytes")
        decided = self.outcomes.get(o.question)
        if decided is not None:
            return self._late(decided, o)
        votes = self._open.setdefault(o.question, {})
        if o.member in votes:
            return OpinionResult(True, "already observed")
        if len(self._open) > MAX_OPEN:
            del self._open[o.question]
            return OpinionResult(False, "too many open questions")
        votes[o.member] = o.answer
        outcome = self._decide(o.question, votes)
        if outcome is None:
            return OpinionResult(True)
        del self._open[o.question]
        self.outcomes[o.question] = outcome
        self._order.append(o.question)
        if len(self._order) > HISTORY:
            self.outcomes.pop(self._order.popleft(), None)
        return OpinionResult(True, outcome=outcome)

    def _decide(self, question: bytes, votes: dict[int, bytes]) -> Outcome | None:
        k = self.rule.k
        ranked = sorted(votes.items())
        if self.rule.kind == "quorum":
            tally: dict[bytes, int] = {}
            for _, a in ranked:
                tally[a] = tally.get(a, 0) + 1
            winner = next((a for a, c in tally.items() if c >= k), None)
            if winner is None:
                return None
            return Outcome(
                question,
                winner,
                tuple((m, a) for m, a in ranked if a == winner),
                tuple((m, a) for m, a in ranked if a != winner),
            )
        if len(votes) < k:
            return None
        values = sorted(answer_int(a) for _, a in ranked)
        median = values[(len(values) - 1) // 2]
        out = tuple((m, a) for m, a in ranked if self._dissents(answer_int(a), median))
        return Outcome(question, int_answer(median), tuple(ranked), out)

    def _dissents(self, value: int, median: int) -> bool:
        if self.rule.kind == "quorum":
            return value != median
        return abs(value - median) * 10_000 > self.rule.tolerance_bps * abs(median)

    def _late(self, decided: Outcome, o: Observe) -> OpinionResult:
        members = {m for m, _ in decided.votes} | {m for m, _ in decided.dissent}
        if o.member in members:
            return OpinionResult(True, "already observed")
        disagrees = (
            o.answer != decided.answer
            if self.rule.kind == "quorum"
            else self._dissents(answer_int(o.answer), answer_int(decided.answer))
        )
        if disagrees:
            dissent = tuple(sorted((*decided.dissent, (o.member, o.answer))))
            self.outcomes[o.question] = Outcome(
                decided.question, decided.answer, decided.votes, dissent
            )
        return OpinionResult(True, "decided before this observation")

    def query(self, query: bytes) -> bytes:
        return encode(tuple(self.outcomes[q] for q in self._order if q in self.outcomes))

    def snapshot(self) -> bytes:
        return encode(
            (
                tuple((q, tuple(sorted(v.items()))) for q, v in sorted(self._open.items())),
                tuple(self.outcomes[q] for q in self._order),
            )
        )

    def restore(self, data: bytes) -> None:
        open_, outcomes = decode(
            data,
            tuple[tuple[tuple[bytes, tuple[tuple[int, bytes], ...]], ...], tuple[Outcome, ...]],
        )
        self._open = {q: dict(v) for q, v in open_}
        self.outcomes = {o.question: o for o in outcomes}
        self._order = deque(o.question for o in outcomes)
