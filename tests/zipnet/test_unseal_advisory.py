"""A bad share becomes one public Chronicle advisory: filed once, by one member that is not
the accused, with the BadShare evidence, and accepted by a Chronicle from its ticket holder."""

from __future__ import annotations

import asyncio

from coalition import CoalitionConfig
from coalition.modules import ChronicleConfig, ModuleConfig
from coalition.services.chronicle import (
    Append,
    ChronicleMachine,
    ChronicleResult,
    writer_issuers,
    writer_ticket,
)
from coalition.services.chronicle_log import Advisory
from organisms.unseal.advisory import BadShareAdvisor, file_advisories
from organisms.unseal.items import BadShare
from pymosaik.primitives import SecretKey, UniqueId, decode, encode

from .test_shuffle import _run

CFG = CoalitionConfig(instance_name="adv", chronicle=ChronicleConfig(ModuleConfig("c")))
OPERATOR = SecretKey.generate()
NET = UniqueId.hash("advisory net")
NOW = 7_000_000


def test_each_bad_share_is_filed_once_by_one_member_not_the_accused() -> None:
    com, _, _ = _run(5, 3, corrupt=frozenset({2}))
    bad = list(com.replicas[0].bad_shares)
    assert bad
    advisors = [BadShareAdvisor(i, 5, bytes([i]) * 32, "test.unseal") for i in range(1, 6)]
    filed = {a.index: a.advisories(bad) for a in advisors}
    assert [i for i, got in filed.items() if got] == [1]  # member 1 files against member 2
    rounds = {b.round for b in bad}
    assert len(filed[1]) == len(rounds)  # one per accused member and round
    for advisory in filed[1]:
        evidence = decode(advisory.evidence, tuple[BadShare, ...])
        assert {b.member for b in evidence} == {2} and "member 2" in advisory.text
    assert all(not a.advisories(bad) for a in advisors)  # never twice
    against_one = [BadShare(9, 0, 1, "DLEQ")]
    assert [a.index for a in advisors if a.advisories(against_one)] == [2]


def test_the_chronicle_accepts_the_advisory_from_the_ticket_holder() -> None:
    member = SecretKey.generate()
    chronicle = ChronicleMachine(
        CFG.stable_id(),
        [SecretKey.generate().peer_id],
        [OPERATOR.peer_id],
        writer_issuers=writer_issuers(CFG, OPERATOR.peer_id),
    )
    ticket = writer_ticket(CFG, OPERATOR, member.peer_id, NET, now_ms=NOW, ttl_ms=60_000)

    class Writer:
        async def record(self, kind: Advisory, *, timeout_s: float = 10.0) -> int:
            cmd = Append.signed(member, kind, NOW + 1, ticket=ticket.data)
            result = decode(chronicle.apply(encode(cmd)), ChronicleResult)
            assert result.ok, result.reason
            return len(chronicle.entries) - 1

    advisor = BadShareAdvisor(1, 3, member.peer_id.bytes, "unseal.x")
    bad = [BadShare(4, 0, 3, "DLEQ proof does not verify"), BadShare(4, 2, 3, "DLEQ")]
    assert asyncio.run(file_advisories(advisor, lambda: bad, Writer())) == 1
    assert asyncio.run(file_advisories(advisor, lambda: bad, Writer())) == 0
    (entry,) = chronicle.entries
    assert isinstance(entry.kind, Advisory) and entry.kind.signer == member.peer_id.bytes
    assert decode(entry.kind.evidence, tuple[BadShare, ...]) == tuple(bad)
