"""A rogue publisher on the unseal surface offers a key of its own (the surface ids derive from
the public Config, so anyone can): a client that authenticates the committee (``producers=``,
here the committee's tickets from its operator) takes the committee's key, never the rogue's."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from coalition.framework.surface import Frame, Published
from coalition.keygen import Deadlines, KeygenSecrets
from coalition.ticket_issuer import RecogniseIssuer, TicketIssuer
from organisms.unseal.items import KeyReady, UnsealConfig
from organisms.unseal.organism import UNSEAL, Unseal
from pymosaik.groups.raft import RaftConfig
from pymosaik.primitives import SecretKey, UniqueId, encode

if TYPE_CHECKING:
    from tests.conftest import NewNetwork

FAST_DKG = Deadlines(dealing_ms=2_000, complaints_ms=300, justification_ms=300)
CFG = UnsealConfig("producers.unseal", 2, 3)
ROOT = UniqueId.from_parts("producers.unseal committee")


async def test_an_authenticated_client_never_takes_a_rogue_key(new_network: NewNetwork) -> None:
    operator = SecretKey.generate()
    issuer = TicketIssuer(ROOT, operator)
    probe = await new_network()
    keys = [SecretKey.generate() for _ in range(3)]
    nets = await asyncio.gather(
        *(
            new_network(secret_key=k, tickets=[issuer.issue(k.peer_id, probe.network_id, 0, None)])
            for k in keys
        )
    )
    members = [
        Unseal.member(
            n,
            CFG,
            [m.addr for m in nets],
            secrets=KeygenSecrets.fresh(),
            deadlines=FAST_DKG,
            raft=RaftConfig.loopback(),
        )
        for n in nets
    ]
    rogue_net = await new_network()
    rogue = rogue_net.streams.producer(Frame, stream_id=UNSEAL.ids(CFG).surface).build()
    # the frame after the real KeyReady: without authentication it is the newest item
    fake = Frame(UNSEAL.ids(CFG).surface, 1, Published(encode(KeyReady(b"\x42" * 32))))
    client = await new_network()

    async def spam() -> None:
        while True:
            if rogue.subscribed_count():
                rogue.try_send(fake)
            await asyncio.sleep(0.01)

    spammer = asyncio.ensure_future(spam())
    try:
        async with asyncio.timeout(30):
            while any(m.machine.key is None for m in members):
                await asyncio.sleep(0.05)
        real = members[0].machine.key
        assert real is not None
        committee = RecogniseIssuer(ROOT, [operator.peer_id])
        key = await Unseal.group_key(client, CFG, producers=committee, timeout_s=20)
        assert key == real.group_key
    finally:
        spammer.cancel()
        await rogue.close()
        await asyncio.gather(*(m.close() for m in members))
