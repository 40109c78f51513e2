"""Seeded campaigns over a composite organism (the Correlator): every member's
`CompositeCore` against its replica, under leader changes.

Items of two spanned members reach each member's subscriptions at different times; the
leadership moves at random (sometimes nobody leads for a while), and proposals the old leader
had in flight are lost. Checkers:

- ``lost``      every published item is cited by exactly one alignment (none lost, none twice);
- ``order``     each spanned member's items appear in commit order;
- ``ticks``     one alignment per tick, in order.

The broken core is the old driver's behaviour: a follower keeps nothing it saw.
"""

from __future__ import annotations

import itertools
from collections import deque

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
from pymosaik.sim.rng import seeded

from ..correlator import Apply, CorrelatorMachine, CorrelatorResult, Observe
from .result import SeedResult

A, B = UniqueId.hash("span a"), UniqueId.hash("span b")
_CTX = ApplyContext(1, 1, 1)
STEPS = 400


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


def run_seed(
    seed: int, broken: str | None = None, *, policy: StallPolicy = StallPolicy.PARTIAL
) -> SeedResult:
    rng = seeded(seed)
    res = SeedResult(seed)
    n = 3
    core_cls = ForgetfulCore if broken == "composite-forgetful" else CompositeCore
    cores = [core_cls([A, B], policy) for _ in range(n)]
    replicas = [CorrelatorMachine([A, B]) for _ in range(n)]
    inbox: list[deque[tuple[int, UniqueId, int]]] = [deque() for _ in range(n)]
    published: dict[UniqueId, list[int]] = {A: [], B: []}
    cited: list[tuple[UniqueId, int]] = []
    ticks: list[int] = []
    leader: int | None = 0
    tick, commit = 0, {A: -1, B: -1}

    def apply(cmd: CompositeCmd) -> None:
        raw = (
            encode(Observe(cmd.pointer))
            if isinstance(cmd, ObserveCmd)
            else encode(Apply(cmd.tick, cmd.pointers))
        )
        results = {r.apply(raw, _CTX) for r in replicas}
        if len(results) != 1:
            res.add("diverged", "replicas answered a command differently")
            return
        out = decode(results.pop(), CorrelatorResult)
        if isinstance(cmd, ApplyCmd) and out.ok and out.alignment is not None:
            ticks.append(out.alignment.tick)
            cited.extend((p.member, p.commit) for p in cmd.pointers)

    for now in range(STEPS):
        if now % 10 == 0:
            tick += 1
            for core in cores:
                core.clock(tick)
        publish: tuple[UniqueId, ...] = ()
        if now < STEPS - 80 and rng.random() < 0.3:
            publish = (rng.choice((A, B)),)
        elif now == STEPS - 80:
            publish = (A, B)  # both, last: a stalling committee can close its window
        for m in publish:
            commit[m] += 1
            published[m].append(commit[m])
            for i in range(n):
                inbox[i].append((now + rng.randint(0, 25), m, commit[m]))
        for i in range(n):
            while inbox[i] and inbox[i][0][0] <= now:
                _, m, c = inbox[i].popleft()
                cores[i].seen(m, c, digest(m, c))
        if rng.random() < 0.04:
            leader = rng.choice([None, *range(n)])
            res.stats["elections"] += 1
        if leader is None and now >= STEPS - 80:
            leader = rng.randrange(n)
        for i, core in enumerate(cores):
            cmds = core.step(replicas[i], leader == i)
            lost = rng.random() < 0.1
            for cmd in cmds:
                if lost:
                    core.failed(cmd)
                    res.stats["lost-proposals"] += 1
                else:
                    apply(cmd)
    _check(res, policy, published, cited, ticks)
    return res


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
