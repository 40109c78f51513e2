"""The composite core under leader changes: no item is lost, none is cited twice, order holds.

A seeded harness runs three members' cores against three replicas of the Correlator machine.
Items of two spanned members reach each member's subscriptions at different times; the
leadership moves at random, and proposals the old leader had in flight are lost (as in a
leader change). The checker: every item published is cited by exactly one alignment, and each
member's items appear in commit order. A core that keeps nothing while it follows (the old
driver: only the leader held windows) loses items, and the checker says so.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field

import pytest

from coalition.framework.composite_core import (
    ApplyCmd,
    CompositeCmd,
    CompositeCore,
    CompositeState,
    ObserveCmd,
    StallPolicy,
)
from coalition.framework.evidence import evidence_digest
from organisms.correlator import Apply, CorrelatorMachine, CorrelatorResult, Observe
from pymosaik.groups import ApplyContext
from pymosaik.primitives import UniqueId, decode, encode

A, B = UniqueId.hash("span a"), UniqueId.hash("span b")
CTX = ApplyContext(1, 1, 1)


class ForgetfulCore(CompositeCore):
    """The old driver's behaviour: a follower keeps nothing it saw."""

    def step(self, state: CompositeState, leader: bool) -> list[CompositeCmd]:
        if not leader:
            for buf in self._buffer.values():
                buf.clear()
        return super().step(state, leader)


@dataclass
class Run:
    seed: int
    core_cls: type[CompositeCore] = CompositeCore
    policy: StallPolicy = StallPolicy.PARTIAL
    n: int = 3
    published: dict[UniqueId, list[int]] = field(default_factory=lambda: {A: [], B: []})
    cited: list[tuple[UniqueId, int]] = field(default_factory=list)
    alignments: list[tuple[int, tuple[tuple[UniqueId, tuple[UniqueId, ...]], ...]]] = field(
        default_factory=list
    )

    def go(self, steps: int = 400) -> None:
        rng = random.Random(self.seed)
        cores = [self.core_cls([A, B], self.policy) for _ in range(self.n)]
        replicas = [CorrelatorMachine([A, B]) for _ in range(self.n)]
        # per member: items in flight to it, delivered after a random delay
        inbox: list[deque[tuple[int, UniqueId, int]]] = [deque() for _ in range(self.n)]
        leader: int | None = 0
        tick, commit = 0, {A: -1, B: -1}
        for now in range(steps):
            if now % 10 == 0:
                tick += 1
                for c in cores:
                    c.clock(tick)
            publish: tuple[UniqueId, ...] = ()
            if now < steps - 80 and rng.random() < 0.3:  # a spanned member commits an item
                publish = (rng.choice((A, B)),)
            elif now == steps - 80:
                publish = (A, B)  # both, last: a stalling committee can close its window
            for m in publish:
                commit[m] += 1
                self.published[m].append(commit[m])
                for i in range(self.n):
                    inbox[i].append((now + rng.randint(0, 25), m, commit[m]))
            for i in range(self.n):
                while inbox[i] and inbox[i][0][0] <= now:
                    _, m, c = inbox[i].popleft()
                    cores[i].seen(m, c, digest(m, c))
            if rng.random() < 0.04:  # an election: a new leader, or none for a while
                leader = rng.choice([None, *range(self.n)])
            if leader is None and now >= steps - 80:
                leader = rng.randrange(self.n)  # the quiet tail: the committee recovers
            for i, core in enumerate(cores):
                cmds = core.step(replicas[i], leader == i)
                lost = rng.random() < 0.1  # the leader is deposed with proposals in flight
                for cmd in cmds:
                    if lost:
                        core.failed(cmd)
                        continue
                    self.commit(replicas, cmd)

    def commit(self, replicas: list[CorrelatorMachine], cmd: CompositeCmd) -> None:
        raw = (
            encode(Observe(cmd.pointer))
            if isinstance(cmd, ObserveCmd)
            else encode(Apply(cmd.tick, cmd.pointers))
        )
        results = {r.apply(raw, CTX) for r in replicas}
        assert len(results) == 1, "replicas diverged"
        res = decode(results.pop(), CorrelatorResult)
        if isinstance(cmd, ApplyCmd) and res.ok:
            assert res.alignment is not None
            self.alignments.append((res.alignment.tick, res.alignment.events))
            self.cited += [(p.member, p.commit) for p in cmd.pointers]

    def violations(self) -> list[str]:
        out = []
        want = {(m, c) for m, cs in self.published.items() for c in cs}
        got = self.cited
        if len(got) != len(set(got)):
            out.append("an item was cited twice")
        missing = want - set(got)
        if missing:
            out.append(f"{len(missing)} of {len(want)} items never aligned")
        for m in (A, B):
            order = [c for mm, c in got if mm == m]
            if order != sorted(order):
                out.append(f"{m.short()}'s items out of commit order")
        ticks = [t for t, _ in self.alignments]
        if ticks != sorted(set(ticks)):
            out.append("alignments not one per tick, in order")
        return out


def digest(member: UniqueId, commit: int) -> UniqueId:
    return evidence_digest(member.bytes + commit.to_bytes(8, "little"))


@pytest.mark.parametrize("seed", range(40))
def test_no_item_is_lost_or_cited_twice_across_leader_changes(seed: int) -> None:
    run = Run(seed)
    run.go()
    assert sum(len(v) for v in run.published.values()) > 50
    assert run.violations() == []


@pytest.mark.parametrize("seed", range(10))
def test_stall_policy_waits_for_every_member_and_loses_nothing(seed: int) -> None:
    run = Run(seed, policy=StallPolicy.STALL)
    run.go()
    # stalling may hold back one member's last items (held until the other contributes again)
    held = {(m, c) for m, cs in run.published.items() for c in cs} - set(run.cited)
    assert len({m for m, _ in held}) <= 1
    for m, c in held:
        assert all(c > cc for mm, cc in run.cited if mm == m), "only a suffix may be held"
    assert [v for v in run.violations() if "never aligned" not in v] == []
    assert len(held) <= 3
    for _, events in run.alignments:
        assert {m for m, _ in events} == {A, B}


def test_a_core_that_forgets_while_following_is_caught() -> None:
    caught = 0
    for seed in range(40):
        run = Run(seed, core_cls=ForgetfulCore)
        run.go()
        caught += bool(run.violations())
    assert caught >= 20, f"the checker caught the forgetful core in only {caught}/40 seeds"
