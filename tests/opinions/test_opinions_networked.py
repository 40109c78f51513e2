"""Committee opinions over loopback: five members, each answering a price question from its
own source (one an outlier), on the organism rung; a reader gets the committed median with the
outlier as dissent, and every member's machine holds the same outcome."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from organisms.opinions.machine import OpinionRule, answer_int, int_answer
from organisms.opinions.organism import OpinionConfig, Opinions
from pymosaik.groups.raft import RaftConfig
from pymosaik.primitives import encode

if TYPE_CHECKING:
    from tests.conftest import NewNetwork

CFG = OpinionConfig("net.eth-usd", OpinionRule("median", 3, tolerance_bps=50))
Q = b"\x07" * 32


async def test_five_members_commit_the_median_and_the_dissent(new_network: NewNetwork) -> None:
    nets = await asyncio.gather(*(new_network() for _ in range(5)))
    addrs = [n.addr for n in nets]
    members = [Opinions.member(n, CFG, addrs, raft=RaftConfig.loopback()) for n in nets]
    reader = Opinions.read(await new_network(), CFG, timeout_s=20)
    prices = [3_200_000_000, 3_201_000_000, 3_350_000_000, 3_199_500_000, 3_200_500_000]
    try:
        async with asyncio.timeout(30):
            while any(m.committee.group.leader is None for m in members):
                await asyncio.sleep(0.05)
            for m, p in zip(members, prices, strict=True):
                m.observe(Q, int_answer(p))
            outcome = await reader.ready(drain=False)
            while any(Q not in m.machine.outcomes for m in members):
                await asyncio.sleep(0.05)
        assert outcome.question == Q
        counted = dict(outcome.votes)
        assert len(counted) >= 3
        median = answer_int(outcome.answer)
        assert median == sorted(answer_int(a) for a in counted.values())[(len(counted) - 1) // 2]
        # the 3,350 feed is the outlier wherever it landed: counted ones within 50 bp or dissent
        assert 3_199_500_000 <= median <= 3_201_000_000
        outlier = (3, int_answer(3_350_000_000))
        async with asyncio.timeout(10):  # counted or late, the outlier ends up in the dissent
            while any(outlier not in m.machine.outcomes[Q].dissent for m in members):
                await asyncio.sleep(0.05)
        assert len({encode(m.machine.outcomes[Q]) for m in members}) == 1
    finally:
        await reader.close()
        await asyncio.gather(*(m.close() for m in members))
