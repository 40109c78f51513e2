"""Consumers audit the beacon and file a bias challenge in the Chronicle when a round fails:
a forged signature, a skipped round or a changed group key each become a sealed Challenge
naming the consumer; good rounds are used and nothing is filed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import msgspec

from coalition import CoalitionConfig
from coalition.crypto.beacon import BeaconTick
from coalition.modules import ChronicleConfig, ModuleConfig, ModuleKind
from coalition.services.chronicle import writer_ticket
from coalition.services.chronicle_log import Challenge
from coalition.services.committees import Chronicle
from organisms.randomness.audit import BeaconAudit, watch
from organisms.randomness.items import BeaconRound
from organisms.randomness.local import LocalBeacon
from pymosaik.primitives import SecretKey, decode

CFG = CoalitionConfig(instance_name="audit", chronicle=ChronicleConfig(ModuleConfig("c")))


def honest_rounds(count: int) -> list[BeaconRound]:
    b = LocalBeacon.create(3, 2, seed=3, period_ms=1_000)
    b.run_until(20_000 + count * 1_000 + 15_000)
    card = b.replicas[0].card()
    assert card is not None
    return [BeaconRound(t, card) for t in list(b.replicas[0].ticks)[:count]]


def forged(item: BeaconRound) -> BeaconRound:
    t = item.tick
    bad = bytes(t.signature[:-1]) + bytes([t.signature[-1] ^ 1])
    return BeaconRound(BeaconTick(t.round, bad, t.previous_signature, t.randomness), item.card)


def test_the_audit_passes_good_rounds_and_names_each_failure() -> None:
    rounds = honest_rounds(5)
    audit = BeaconAudit("randomness of audit")
    assert [audit.check(r) for r in rounds[:2]] == [None, None]
    f = audit.check(forged(rounds[2]))
    assert f is not None and "does not verify" in f.reason
    assert decode(f.evidence, BeaconRound) == forged(rounds[2])
    skipped = audit.check(rounds[3])  # round 3 never verified, so 4 does not follow 2
    assert skipped is not None and "follows round" in skipped.reason
    other = msgspec.structs.replace(rounds[0].card, group_key=bytes(48))
    swapped = audit.check(BeaconRound(rounds[2].tick, other))
    assert swapped is not None and "another group key" in swapped.reason
    assert audit.check(rounds[2]) is None and audit.verified == 3


async def test_a_forged_round_becomes_a_sealed_challenge_in_the_chronicle(module_committee) -> None:  # type: ignore[no-untyped-def]
    rounds = honest_rounds(3)
    stream = [rounds[0], forged(rounds[1])]
    operator = SecretKey.generate()
    nets, _ = await module_committee(ModuleKind.CHRONICLE, CFG, operator, cadence_ms=300)
    consumer = nets[3]
    me = consumer.endpoint.secret_key
    ticket = writer_ticket(CFG, operator, me.peer_id, consumer.network_id, now_ms=0, ttl_ms=None)
    writer = Chronicle.publish(consumer, CFG, me, ticket=ticket)

    async def feed() -> AsyncIterator[BeaconRound]:
        for item in stream:
            yield item

    audit = BeaconAudit("randomness of audit")
    async with asyncio.timeout(30):
        await watch(feed(), audit, writer, me.peer_id.bytes)
        reader = Chronicle.read(consumer, CFG, timeout_s=20)
        entry = await reader.ready(drain=False)
        while not isinstance(entry.kind, Challenge):
            entry = await reader.next()
    assert entry.kind.signer == me.peer_id.bytes
    assert entry.kind.subject == f"randomness of audit round {rounds[1].tick.round}"
    assert "does not verify" in entry.kind.reason
    assert decode(entry.kind.evidence, BeaconRound) == stream[1]
    assert audit.verified == 1
    await reader.close()
    await writer.close()
