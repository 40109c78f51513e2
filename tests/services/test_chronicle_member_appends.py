"""D11: members and agents append Heartbeat, Challenge and Advisory entries to the Chronicle
with a writer ticket; the entry names its signer; every refusal leaves the log unchanged."""

from __future__ import annotations

import asyncio

import pytest

from coalition import CoalitionConfig
from coalition.framework import Refused
from coalition.modules import ChronicleConfig, ModuleConfig, ModuleKind
from coalition.services.chronicle import (
    Append,
    ChronicleMachine,
    ChronicleResult,
    writer_issuers,
    writer_ticket,
)
from coalition.services.chronicle_log import Advisory, Challenge, Heartbeat, Other
from coalition.services.committees import Chronicle
from coalition.ticket_issuer import TicketIssuer
from pymosaik.primitives import SecretKey, UniqueId, decode, encode

CFG = CoalitionConfig(instance_name="d11", chronicle=ChronicleConfig(ModuleConfig("c")))
OPERATOR = SecretKey.generate()
NET = UniqueId.hash("d11 net")
NOW = 5_000_000


def machine() -> ChronicleMachine:
    return ChronicleMachine(
        CFG.stable_id(),
        [SecretKey.generate().peer_id],
        [OPERATOR.peer_id],
        writer_issuers=writer_issuers(CFG, OPERATOR.peer_id),
    )


def append(m: ChronicleMachine, cmd: Append) -> ChronicleResult:
    return decode(m.apply(encode(cmd)), ChronicleResult)


def ticket_for(key: SecretKey, ttl: int | None = 60_000) -> bytes:
    return writer_ticket(CFG, OPERATOR, key.peer_id, NET, now_ms=NOW, ttl_ms=ttl).data


def test_ticket_holders_append_member_kinds_naming_themselves() -> None:
    m = machine()
    agent = SecretKey.generate()
    me = agent.peer_id.bytes
    for kind in (
        Heartbeat(me, "serving"),
        Challenge(me, "randomness round 7", "signature does not verify", b"\x01" * 96),
        Advisory(me, "unseal", "member 3 sent a bad share", b"evidence"),
    ):
        r = append(m, Append.signed(agent, kind, NOW + 1, ticket=ticket_for(agent)))
        assert r.ok, r.reason
    assert [type(e.kind) for e in m.entries] == [Heartbeat, Challenge, Advisory]
    assert all(e.kind.signer == me for e in m.entries)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("case", "why"),
    [
        ("no ticket", "needs a Chronicle writer ticket"),
        ("another subject", "issued to another key"),
        ("expired", "had expired"),
        ("unknown issuer", "not from an issuer"),
        ("names another signer", "signed by the signer it names"),
        ("oversize", "at most"),
        ("operator kind", "not signed by a coalition operator"),
    ],
)
def test_refusals_name_the_reason_and_commit_nothing(case: str, why: str) -> None:
    m = machine()
    agent, other = SecretKey.generate(), SecretKey.generate()
    me = agent.peer_id.bytes
    kind: object = Heartbeat(me, "hi")
    ticket = ticket_for(agent)
    if case == "no ticket":
        ticket = b""
    elif case == "another subject":
        ticket = ticket_for(other)
    elif case == "expired":
        ticket = ticket_for(agent, ttl=1_000)  # expires at NOW + 1000, append at NOW + 5000
    elif case == "unknown issuer":
        rogue = TicketIssuer(UniqueId.hash("somewhere else"), SecretKey.generate())
        ticket = rogue.issue(agent.peer_id, NET, NOW, None).data
    elif case == "names another signer":
        kind = Heartbeat(other.peer_id.bytes, "hi")
    elif case == "oversize":
        kind = Advisory(me, "t", "x" * 2_000)
    elif case == "operator kind":
        kind = Other("not-mine")
    r = append(m, Append.signed(agent, kind, NOW + 5_000, ticket=ticket))  # type: ignore[arg-type]
    assert not r.ok and why in r.reason, r.reason
    assert m.entries == []


async def test_an_agent_with_a_ticket_appends_over_the_network_and_one_without_is_refused(
    module_committee,  # type: ignore[no-untyped-def]
) -> None:
    nets, _ = await module_committee(ModuleKind.CHRONICLE, CFG, OPERATOR, extra=2, cadence_ms=300)
    agent_net, stranger_net = nets[3], nets[4]
    agent = agent_net.endpoint.secret_key
    ticket = writer_ticket(
        CFG, OPERATOR, agent.peer_id, agent_net.network_id, now_ms=0, ttl_ms=None
    )
    writer = Chronicle.publish(agent_net, CFG, agent, ticket=ticket)
    stranger = Chronicle.publish(stranger_net, CFG, stranger_net.endpoint.secret_key)
    async with asyncio.timeout(30):
        seq = await writer.record(
            Challenge(agent.peer_id.bytes, "beacon round 3", "does not verify"), timeout_s=15
        )
        me = stranger_net.endpoint.secret_key.peer_id.bytes
        with pytest.raises(Refused, match="needs a Chronicle writer ticket"):
            await stranger.record(Heartbeat(me, "let me in"), timeout_s=15)
        reader = Chronicle.read(agent_net, CFG, timeout_s=20)
        entry = await reader.ready(drain=False)
        while entry.seq < seq:
            entry = await reader.next()
    assert isinstance(entry.kind, Challenge)
    assert entry.kind.signer == agent.peer_id.bytes
    for w in (writer, stranger, reader):
        await w.close()
