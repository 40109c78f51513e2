"""The shuffle through its verbs, over loopback: three members each run a zipnet server and an
unseal member (`Shuffle.member`), zipnet's aggregator folds, and clients (`await
Shuffle.client`) seal requests to the committee key the unseal surface published. Each
request comes out of UnsealedPool (`Shuffle.read`) exactly once, opened at 2 of 3, and every
member's pool is the same; answers go back on a reply board keyed by reply tag, and only the
submitter's ticket opens its own."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from coalition.crypto.reply import (
    ReplyError,
    ReplyTicket,
    SealedRequest,
    open_reply,
    parse_request,
)
from coalition.framework import ConnectTimeout
from coalition.keygen import Deadlines, KeygenSecrets
from coalition.organism import OrganismConfig
from organisms.reply_board import ReplyBoard
from organisms.shuffle import ShuffleConfig
from organisms.shuffle_service import Shuffle
from organisms.unseal.items import UnsealConfig
from organisms.unseal.organism import Unseal
from organisms.zipnet.organism import Zipnet
from organisms.zipnet.params import RoundParams, ZipnetConfig
from pymosaik.discovery import DiscoveryConfig
from pymosaik.groups.raft import RaftConfig

if TYPE_CHECKING:
    from tests.conftest import NewNetwork

FAST_DKG = Deadlines(dealing_ms=2_000, complaints_ms=300, justification_ms=300)
CFG = ShuffleConfig(
    "net.shuffle",
    ZipnetConfig("net.shuffle.zipnet", RoundParams(num_slots=16, slot_bytes=256, sched_slots=64)),
    UnsealConfig("net.shuffle.unseal", 2, 3),
)
BOARD = OrganismConfig("net.shuffle.replies")


async def test_sealed_requests_come_out_of_the_pool_once(new_network: NewNetwork) -> None:
    nets = await asyncio.gather(*(new_network() for _ in range(3)))
    addrs = [n.addr for n in nets]
    members = [
        Shuffle.member(
            n,
            CFG,
            addrs,
            dh=X25519PrivateKey.generate(),
            secrets=KeygenSecrets.fresh(),
            deadlines=FAST_DKG,
            raft=RaftConfig.loopback(),
            period_ms=200,
        )
        for n in nets
    ]
    # the aggregator holds a ticket member 1 issued: the intake's default gate
    aggregator = await Zipnet.vouched_aggregator(
        nets[0], CFG.zipnet, clients=None, fold_ms=500, discovery=DiscoveryConfig.loopback()
    )
    client_nets = await asyncio.gather(*(new_network() for _ in range(2)))
    clients = list(
        await asyncio.gather(*(Shuffle.client(n, CFG, timeout_s=20) for n in client_nets))
    )
    pool = Shuffle.read(client_nets[0], CFG)
    try:
        assert clients[0].group_key == members[0].unseal.machine.key.group_key  # type: ignore[union-attr]
        bodies = [b"bid 1 from a", b"bid 2 from a", b"prompt from b"]
        clients[0].submit(bodies[0])
        clients[0].submit(bodies[1])
        mine = clients[1].submit(bodies[2])
        opened: list[SealedRequest] = []
        async with asyncio.timeout(40):
            async for entry in pool:
                assert not entry.undecryptable
                opened += [parse_request(c.payload) for c in entry.cleartext]
                if len(opened) >= len(bodies):
                    break
        assert sorted(r.body for r in opened) == sorted(bodies)
        # the answers go back through the reply board, keyed by each request's reply tag
        board = [ReplyBoard.member(n, BOARD, addrs, raft=RaftConfig.loopback()) for n in nets]
        answerer = ReplyBoard.publish(await new_network(), BOARD)
        for req in opened:
            await answerer.answer(req, b"answer to " + req.body, timeout_s=20)
        replies = ReplyBoard.read(client_nets[1], BOARD, addrs, raft=RaftConfig.loopback())
        assert await replies.reply(mine.reply, timeout_s=30) == b"answer to prompt from b"
        # a board reader holding another ticket finds the entry but cannot open it
        posted = replies.reader.entries.get(mine.reply.tag.hex())
        assert posted is not None
        nosy = ReplyTicket(mine.reply.tag, X25519PrivateKey.generate())
        with pytest.raises(ReplyError):
            open_reply(nosy, posted.data)
        await asyncio.gather(replies.close(), answerer.close(), *(b.close() for b in board))
        async with asyncio.timeout(10):
            while any(
                m.unseal.machine.next_slot < members[0].unseal.machine.next_slot for m in members
            ):
                await asyncio.sleep(0.05)
        n = members[0].unseal.machine.next_slot
        assert all(
            list(m.unseal.machine.pool)[:n] == list(members[0].unseal.machine.pool) for m in members
        )
        # UnsealedPool by slot, from a replica of the committee's log
        replica = Unseal.replica(client_nets[0], CFG.unseal, addrs, raft=RaftConfig.loopback())
        await replica.ready(20)
        await asyncio.wait_for(replica.pool.when().reaches(n), 20)
        assert replica.pool.items()[:n] == list(members[0].unseal.machine.pool)[:n]
        assert all(replica.pool.get(e.slot) == e for e in members[0].unseal.machine.pool)
        await replica.close()
        status = members[0].status()
        assert status["unseal_key"] == "ready" and status["servers"] == 3
    finally:
        await asyncio.gather(pool.close(), *(c.close() for c in clients), aggregator.close())
        await asyncio.gather(*(m.close() for m in members))


async def test_a_wrong_shuffle_config_is_a_connect_timeout(new_network: NewNetwork) -> None:
    wrong = ShuffleConfig("nobody", CFG.zipnet, UnsealConfig("nobody.unseal", 2, 3))
    with pytest.raises(ConnectTimeout):
        await Shuffle.client(await new_network(), wrong, timeout_s=1)
