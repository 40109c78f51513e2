"""zipnet's DC-net end to end without a network: clients, aggregator, committee machine."""

from __future__ import annotations

import pytest

from organisms.zipnet.client import Outcome, unframe
from organisms.zipnet.dcnet import (
    client_pad,
    partial_unblind,
    read_slot,
    reserved_slot,
    schedule_hash,
    schedule_vector,
    slots,
    xor,
    xor_many,
)
from organisms.zipnet.local import Faults
from organisms.zipnet.local import LocalDeployment as World
from organisms.zipnet.machine import (
    OpenRound,
    SubmitAggregate,
    SubmitPartial,
)
from organisms.zipnet.params import (
    AggregateEnvelope,
    BroadcastRecord,
    LiveRound,
    PartialUnblind,
    RoundParams,
)
from pymosaik.primitives import encode

SMALL = RoundParams(num_slots=16, slot_bytes=64, tag_len=16, sched_slots=64, footprint_bytes=4)


def make_world(n_clients: int, n_servers: int, seed: int, params: RoundParams = SMALL) -> World:
    return World.create(n_clients, n_servers, seed=seed, params=params)


def messages(record: BroadcastRecord, params: RoundParams) -> list[bytes]:
    out = []
    for i, s in enumerate(slots(params, record.broadcast)):
        payload = read_slot(params, record.round, i, s)
        if isinstance(payload, bytes):
            m = unframe(payload)
            assert m is not None
            out.append(m)
    return out


def test_pads_cancel_two_servers_three_clients() -> None:
    """The algebra: aggregate XOR every partial is the XOR of the message vectors."""
    w = make_world(3, 2, seed=1)
    sent = {c.id: [f"hello from {i}".encode()] for i, c in enumerate(w.clients)}
    for i, c in enumerate(w.clients):
        c.send(f"hello from {i}".encode())
    seen: list[bytes] = []
    for _ in range(6):
        rec = w.run_round()
        assert rec.garbled_slots == 0
        seen += messages(rec, SMALL)
    assert sorted(seen) == sorted(m for ms in sent.values() for m in ms)
    landed = [r for _, r in w.receipts if r.outcome == Outcome.LANDED.value]
    assert len(landed) == 3 and all(c.pending == 0 for c in w.clients)


def test_pad_is_symmetric_and_bound_to_round_and_schedule() -> None:
    w = make_world(1, 1, seed=2)
    c, s = w.clients[0], w.servers[0]
    pad = client_pad(c._secret, s.pub, SMALL, 5, bytes(32))
    assert partial_unblind(s.dh, [c.public], SMALL, 5, bytes(32)) == pad
    assert client_pad(c._secret, s.pub, SMALL, 6, bytes(32)) != pad
    assert client_pad(c._secret, s.pub, SMALL, 5, b"\x01" * 32) != pad
    assert len(pad) == SMALL.envelope_bytes


def test_cover_traffic_and_many_talkers_all_land_once_despite_collisions() -> None:
    w = make_world(30, 3, seed=3)
    talkers = w.clients[:20]
    for i, c in enumerate(talkers):
        c.send(f"m{i}".encode())
    seen: list[bytes] = []
    for _ in range(40):
        rec = w.run_round()
        assert rec.garbled_slots == 0
        assert len(rec.participants) == 30  # the silent ten are in the anonymity set too
        seen += messages(rec, SMALL)
        if all(c.pending == 0 for c in w.clients):
            break
    assert sorted(seen) == sorted(f"m{i}".encode() for i in range(20))
    # footprint collisions happened and were retried (20 talkers on 64 schedule slots)
    rounds_used = w.round
    assert rounds_used > 3


def test_wrong_partial_fails_the_round_detectably() -> None:
    w = make_world(4, 3, seed=4)
    for c in w.clients:
        c.send(b"x")
    w.run_round()  # reservations
    rec = w.run_round(Faults(bad_partial=1))
    assert rec.garbled_slots >= SMALL.num_slots - 1
    assert messages(rec, SMALL) == []
    assert {r.outcome for _, r in w.receipts} == {Outcome.COLLIDED.value}
    assert all(c.pending == 1 for c in w.clients)  # nothing lost: retried later
    for _ in range(12):
        w.run_round()
    assert all(c.pending == 0 for c in w.clients)


def test_aggregator_dropping_an_envelope_is_seen_in_the_receipt() -> None:
    w = make_world(3, 2, seed=5)
    victim = w.clients[0]
    victim.send(b"censored?")
    w.run_round()
    rec = w.run_round(Faults(drop=victim.id))
    assert victim.id not in rec.participants
    assert [r.outcome for cid, r in w.receipts if cid == victim.id] == [Outcome.DROPPED.value]
    assert victim.pending == 1


def test_jammer_garbles_a_slot_and_the_victim_retries() -> None:
    w = make_world(3, 2, seed=6)
    victim = w.clients[1]
    victim.send(b"important")
    w.run_round()
    assert victim._inflight is None and victim._reservation is not None
    sched = victim._reservation
    assert w.last is not None
    slot = reserved_slot(
        SMALL, schedule_vector(w.last.broadcast, SMALL), sched.sched_slot, sched.footprint
    )
    assert slot is not None
    rec = w.run_round(Faults(jam=(0, slot)))
    assert rec.garbled_slots == 1
    assert [r.outcome for cid, r in w.receipts if cid == victim.id] == [Outcome.COLLIDED.value]
    for _ in range(8):
        w.run_round()
    assert victim.pending == 0


def test_anonymity_one_honest_server_hides_authors_all_servers_do_not() -> None:
    """An adversary holding the aggregator's view and all but one server's secrets guesses
    each message's author no better than chance; with every server's secret it always wins.

    The adversary strips the pads it can compute from every envelope and names, for each
    landed slot, the client whose stripped envelope is closest (Hamming) to the slot.
    With 8 clients chance is 1/8; over M messages the test allows 1/8 + 4 standard deviations.
    """
    n_clients, per_client = 8, 12
    w = make_world(n_clients, 3, seed=7)
    for c in w.clients:
        for j in range(per_client):
            c.send(f"{j}".encode() + w.rng.randbytes(20))
    pubs = {c.id: c.public for c in w.clients}
    hits = {"one_honest": 0, "none_honest": 0}
    total = 0
    p = SMALL
    for _ in range(200):
        rec = w.run_round()
        sh = _schedule_hash_used(w, rec.round)
        for honest_known in (False, True):
            known = w.servers if honest_known else w.servers[1:]
            stripped = {
                cid: xor_many(
                    [
                        env,
                        *(partial_unblind(s.dh, [pubs[cid]], p, rec.round, sh) for s in known),
                    ],
                    p.envelope_bytes,
                )
                for cid, env in w.envelopes.items()
            }
            authors = _true_authors(w, rec)
            for slot, author in authors.items():
                a, b = slot * p.slot_bytes, (slot + 1) * p.slot_bytes
                target = rec.broadcast[a:b]
                guess = min(
                    stripped,
                    key=lambda cid: (
                        int.from_bytes(xor(stripped[cid][a:b], target), "big")
                    ).bit_count(),
                )
                key = "none_honest" if honest_known else "one_honest"
                hits[key] += guess == author
                total += 1 if honest_known else 0
        if all(c.pending == 0 for c in w.clients):
            break
    assert total >= n_clients * per_client
    assert hits["none_honest"] == total
    sd = (total * (1 / n_clients) * (1 - 1 / n_clients)) ** 0.5
    assert hits["one_honest"] <= total / n_clients + 4 * sd, hits
    print(
        f"anonymity: {total} messages, one honest server {hits['one_honest']} hits, "
        f"chance {total / n_clients:.1f}, bound {total / n_clients + 4 * sd:.1f}"
    )


def _schedule_hash_used(w: World, round_: int) -> bytes:
    prev = [r for r in w.machine.history if r.round == round_ - 1]
    return schedule_hash(prev[0].broadcast if prev else None, w.cfg.params)


def _true_authors(w: World, rec: BroadcastRecord) -> dict[int, bytes]:
    """Ground truth from the receipts (the test knows what the adversary does not)."""
    return {
        r.slot: cid
        for cid, r in w.receipts
        if r.round == rec.round and r.outcome == Outcome.LANDED.value
    }


def test_machine_refuses_bad_commands_and_changes_nothing() -> None:
    w = make_world(2, 2, seed=8)
    m, p = w.machine, SMALL
    ids = tuple(sorted(c.id for c in w.clients))
    servers = tuple(w.server_keys)
    assert not m.step(OpenRound(LiveRound(1, ids, (b"\x00" * 32,)))).ok
    assert not m.step(OpenRound(LiveRound(1, (), servers))).ok
    assert not m.step(OpenRound(LiveRound(1, (ids[0], ids[0]), servers))).ok
    assert m.step(OpenRound(LiveRound(1, ids, servers))).ok
    assert not m.step(OpenRound(LiveRound(1, ids, servers))).ok  # not after the current
    snap = m.snapshot()
    good = bytes(p.envelope_bytes)
    refusals = [
        SubmitAggregate(AggregateEnvelope(2, ids, good)),
        SubmitAggregate(AggregateEnvelope(1, ids, good[:-1])),
        SubmitAggregate(AggregateEnvelope(1, (), good)),
        SubmitAggregate(AggregateEnvelope(1, (b"\x07" * 32,), good)),
        SubmitPartial.signed(w.servers[0].key, PartialUnblind(1, w.servers[0].pub, good[:3])),
        SubmitPartial.signed(w.servers[0].key, PartialUnblind(1, b"\x09" * 32, good)),
        # server 1 signing as server 0
        SubmitPartial.signed(w.servers[1].key, PartialUnblind(1, w.servers[0].pub, good)),
    ]
    for cmd in refusals:
        res = m.step(cmd)
        assert not res.ok and res.reason, cmd
    assert m.snapshot() == snap
    out = m.apply(b"\x93garbage")
    assert b"malformed command" in out
    assert m.snapshot() == snap
    # idempotent duplicates
    part = SubmitPartial.signed(w.servers[0].key, PartialUnblind(1, w.servers[0].pub, good))
    assert m.step(part).ok
    assert m.step(part).reason == "duplicate partial ignored"
    assert m.apply(encode(part))


def test_round_params_are_checked() -> None:
    with pytest.raises(ValueError, match="num_slots"):
        RoundParams(num_slots=0).check()
    with pytest.raises(ValueError, match="slot_bytes"):
        RoundParams(slot_bytes=10).check()
    with pytest.raises(ValueError, match="sched_slots"):
        RoundParams(num_slots=64, sched_slots=32).check()
    RoundParams().check()
    assert RoundParams().message_bytes == 16 * 1024 and RoundParams().payload_bytes == 240
