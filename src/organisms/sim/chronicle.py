"""Seeded campaigns over Chronicle committees: members' `ChronicleSignCore`s and replicas.

Each seed draws 3 or 5 members, crashes and restarts, 15 % of proposals lost with leader
changes and an operator appending at random for 60 s, then a 20 s quiet tail. Checkers:

- ``order``     sealed entries carry seq 0, 1, 2, … and each links its predecessor's digest;
- ``quorum``    every sealed entry carries verified signatures of a strict majority;
- ``no-fork``   every replica holds the same sealed prefix;
- ``progress``  every append is sealed by the end of the quiet tail.
"""

from __future__ import annotations

from coalition.identity import ZERO_ID
from coalition.services.chronicle import Append, ChronicleMachine, ChronicleSignCore
from coalition.services.chronicle_log import ChronicleEntry, Other
from pymosaik.primitives import SecretKey, UniqueId, encode
from pymosaik.sim.rng import seeded

from .committee import Committee, Member
from .result import SeedResult

COALITION = UniqueId.hash("chronicle campaign")
RUN_S = 60
TAIL_S = 20
#: How often members step (and the faults roll their dice).
STEP_MS = 50


class _SkippingMachine(ChronicleMachine):
    """Broken: seals every third entry without a majority, past unsealed predecessors."""

    def _has_majority(self, entry: ChronicleEntry) -> bool:
        return True if entry.seq % 3 == 2 else super()._has_majority(entry)


BROKEN = {"chronicle-skips": "quorum"}


class _Chronicle(Committee[ChronicleSignCore]):
    """Members sign what their replica holds; an operator appends; replicas apply all."""

    def __init__(self, seed: int, broken: str | None) -> None:
        rng = seeded(seed)
        n = rng.choice([3, 5])
        machine_cls = _SkippingMachine if broken == "chronicle-skips" else ChronicleMachine
        keys = [SecretKey(rng.randbytes(32)) for _ in range(n)]
        self.operator = SecretKey(rng.randbytes(32))
        super().__init__(seed, rng, keys, lambda k: ChronicleSignCore(k, resend_ms=1_000))
        self.committee = [k.peer_id for k in keys]
        self.replicas = [
            machine_cls(COALITION, self.committee, [self.operator.peer_id]) for _ in range(n)
        ]
        self.appended = 0

    def commit(self, cmd: bytes) -> None:
        if len({r.apply(cmd) for r in self.replicas}) != 1:
            self.violation("no-fork", "replicas answered a command differently")

    def tail(self) -> bool:
        return self.now >= RUN_S * 1_000

    def operate(self) -> None:
        """The operator appends now and then, until ten seconds before the tail."""
        if self.now < (RUN_S - 10) * 1_000 and self.rng.random() < 0.05:
            event = Other("event", b"%d" % self.appended)
            self.commit(encode(Append.signed(self.operator, event, self.now)))
            self.appended += 1

    def step(self, member: Member[ChronicleSignCore]) -> None:
        if member.core is None or not member.up:
            return
        for cmd in member.core.step(self.replicas[member.index], self.now):
            if not self.tail() and self.rng.random() < 0.15:
                self.stats["lost"] += 1
                continue
            self.commit(encode(cmd))

    def run(self) -> SeedResult:
        for member in self.members:
            self.boot(member)
        # Started in this order, the periodic events keep it at every shared instant.
        self.every(STEP_MS, self.churn_until, RUN_S * 1_000)
        self.every(STEP_MS, self.operate)
        for member in self.members:
            self.every(STEP_MS, self.step, member)
        self.run_until((RUN_S + TAIL_S) * 1_000 - 1)
        self.final_checks()
        return self.result()

    def final_checks(self) -> None:
        m = self.replicas[0]
        sealed = m.entries[: m.sealed]
        self.stats["sealed"] += len(sealed)
        prev = ZERO_ID
        for i, e in enumerate(sealed):
            if e.seq != i or e.prev != prev:
                self.violation(
                    "order", f"entry {i} is out of order or does not link its predecessor"
                )
            prev = e.digest()
            if not e.has_quorum(self.committee):
                self.violation("quorum", f"entry {i} sealed without a verified majority")
        if any(r.entries[: r.sealed] != sealed for r in self.replicas[1:]):
            self.violation("no-fork", "replicas hold different sealed prefixes")
        if m.sealed != self.appended:
            self.violation(
                "progress", f"{self.appended - m.sealed} of {self.appended} entries never sealed"
            )


def run_seed(seed: int, broken: str | None = None) -> SeedResult:
    return _Chronicle(seed, broken).run()
