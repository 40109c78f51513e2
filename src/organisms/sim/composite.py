"""Seeded campaigns over a composite organism (the Correlator): every member's
`CompositeCore` against its replica, under leader changes.

Items of two spanned members reach each member's subscriptions at different times; the
leadership moves at random (sometimes nobody leads for a while), and proposals the old leader
had in flight are lost. Checkers:

- ``lost``      every published item is cited by exactly one alignment (none lost, none twice);
- ``order``     each spanned member's items appear in commit order;
- ``ticks``     one alignment per tick, in order.

The broken core is the old driver's behaviour: a follower keeps nothing it saw.

It runs on the simulator kernel: a world step (tick, publishing, leadership) and each member's
step every 10 ms, each delivery an event at its own instant. Deliveries keep what the old loop
modelled by delivering in queue order: each subscription (member i to spanned member m) is an
ordered stream, as the reader's sequencer makes it, so an item never arrives before an earlier
item of the same member (the core reads an older commit after a newer one as a replay and
drops it). The two subscriptions of one member are independent, so A's and B's items now
interleave by their own delays instead of queueing behind each other.
"""

from __future__ import annotations

import itertools

from coalition.framework.composite_core import (
    ApplyCmd,
    CompositeCmd,
    CompositeCore,
    CompositeState,
    ObserveCmd,
    StallPolicy,
)
from coalition.framework.evidence import evidence_digest
from pymosaik.groups import ApplyContext
from pymosaik.primitives import UniqueId, decode, encode
from pymosaik.sim.kernel import Host, Kernel
from pymosaik.sim.rng import seeded

from ..correlator import Apply, CorrelatorMachine, CorrelatorResult, Observe
from .result import SeedResult

A, B = UniqueId.hash("span a"), UniqueId.hash("span b")
_CTX = ApplyContext(1, 1, 1)
N = 3
STEPS = 400
STEP_MS = 10
#: An item reaches a member 0–250 ms after it is published (ten ticks are a second).
MAX_DELAY_MS = 250


class ForgetfulCore(CompositeCore):
    """Broken: the old driver — a follower keeps nothing it saw."""

    def step(self, state: CompositeState, leader: bool) -> list[CompositeCmd]:
        if not leader:
            for buf in self._buffer.values():
                buf.clear()
        return super().step(state, leader)


BROKEN = {"composite-forgetful": "lost"}


def digest(member: UniqueId, commit: int) -> UniqueId:
    return evidence_digest(member.bytes + commit.to_bytes(8, "little"))


class _Composite(Kernel[Host]):
    """One seed on the kernel: a harness step (tick, publish, leadership) and each member's
    step every ``STEP_MS``; each published item reaches each member at its own instant."""

    def __init__(self, seed: int, broken: str | None, policy: StallPolicy) -> None:
        super().__init__(max_violations=50)
        self.rng = seeded(seed)
        self.res = SeedResult(seed)
        self.policy = policy
        core_cls = ForgetfulCore if broken == "composite-forgetful" else CompositeCore
        self.cores = [core_cls([A, B], policy) for _ in range(N)]
        self.replicas = [CorrelatorMachine([A, B]) for _ in range(N)]
        #: When the last item on each (member, spanned member) subscription arrives.
        self.arrival: dict[tuple[int, UniqueId], int] = {}
        self.published: dict[UniqueId, list[int]] = {A: [], B: []}
        self.cited: list[tuple[UniqueId, int]] = []
        self.ticks: list[int] = []
        self.leader: int | None = 0
        self.tick = 0
        self.steps = 0
        self.commit = {A: -1, B: -1}

    def apply(self, cmd: CompositeCmd) -> None:
        raw = (
            encode(Observe(cmd.pointer))
            if isinstance(cmd, ObserveCmd)
            else encode(Apply(cmd.tick, cmd.pointers))
        )
        results = {r.apply(raw, _CTX) for r in self.replicas}
        if len(results) != 1:
            self.res.add("diverged", "replicas answered a command differently")
            return
        out = decode(results.pop(), CorrelatorResult)
        if isinstance(cmd, ApplyCmd) and out.ok and out.alignment is not None:
            self.ticks.append(out.alignment.tick)
            self.cited.extend((p.member, p.commit) for p in cmd.pointers)

    def step(self) -> None:
        """The world's step: the tick, what the spanned members publish, who leads."""
        rng, now = self.rng, self.steps
        self.steps += 1
        if now % 10 == 0:
            self.tick += 1
            for core in self.cores:
                core.clock(self.tick)
        publish: tuple[UniqueId, ...] = ()
        if now < STEPS - 80 and rng.random() < 0.3:
            publish = (rng.choice((A, B)),)
        elif now == STEPS - 80:
            publish = (A, B)  # both, last: a stalling committee can close its window
        for m in publish:
            self.commit[m] += 1
            self.published[m].append(self.commit[m])
            for i in range(N):
                self.send(i, m, self.commit[m], rng.randint(0, MAX_DELAY_MS))
        if rng.random() < 0.04:
            self.leader = rng.choice([None, *range(N)])
            self.res.stats["elections"] += 1
        if self.leader is None and now >= STEPS - 80:
            self.leader = rng.randrange(N)

    def send(self, i: int, m: UniqueId, commit: int, delay: int) -> None:
        """``m``'s item ``commit`` reaches member ``i`` after ``delay``, never before an
        earlier item of ``m`` (a subscription delivers in commit order)."""
        at = max(self.now + delay, self.arrival.get((i, m), 0))
        self.arrival[(i, m)] = at
        self.at(at, self.deliver, i, m, commit)

    def deliver(self, i: int, m: UniqueId, commit: int) -> None:
        self.cores[i].seen(m, commit, digest(m, commit))

    def member_step(self, i: int) -> None:
        """Member ``i`` steps; a proposal is lost with a leader change (10 %)."""
        core = self.cores[i]
        cmds = core.step(self.replicas[i], self.leader == i)
        lost = self.rng.random() < 0.1
        for cmd in cmds:
            if lost:
                core.failed(cmd)
                self.res.stats["lost-proposals"] += 1
            else:
                self.apply(cmd)

    def run(self) -> SeedResult:
        # Started in this order, the periodic events keep it at every shared instant.
        self.every(STEP_MS, self.step)
        for i in range(N):
            self.every(STEP_MS, self.member_step, i)
        self.run_until(STEPS * STEP_MS - 1)
        _check(self.res, self.policy, self.published, self.cited, self.ticks)
        return self.res


def run_seed(
    seed: int, broken: str | None = None, *, policy: StallPolicy = StallPolicy.PARTIAL
) -> SeedResult:
    return _Composite(seed, broken, policy).run()


def _check(
    res: SeedResult,
    policy: StallPolicy,
    published: dict[UniqueId, list[int]],
    cited: list[tuple[UniqueId, int]],
    ticks: list[int],
) -> None:
    res.stats["items"] += sum(len(v) for v in published.values())
    want = {(m, c) for m, cs in published.items() for c in cs}
    if len(cited) != len(set(cited)):
        res.add("lost", "an item was cited twice")
    missing = want - set(cited)
    if policy is StallPolicy.STALL:  # a stall may hold one member's last items back
        members = {m for m, _ in missing}
        if len(members) > 1 or any(c < max((cc for mm, cc in cited if mm == m), default=-1)
                                   for m, c in missing):  # fmt: skip
            res.add("lost", f"{len(missing)} items held that no stall explains")
    elif missing:
        res.add("lost", f"{len(missing)} of {len(want)} items never aligned")
    for m in (A, B):
        order = [c for mm, c in cited if mm == m]
        if order != sorted(order):
            res.add("order", f"{m.short()}'s items out of commit order")
    if any(b <= a for a, b in itertools.pairwise(ticks)):
        res.add("ticks", "alignments not one per tick, in order")
