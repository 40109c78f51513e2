"""The shuffle end to end in process: a DKG among unseal members, sealed requests through
zipnet, t-of-n opening with verified shares, and replies only the submitter can open."""

from __future__ import annotations

from coalition.crypto.dkg import Phase
from coalition.crypto.reply import ReplyError, open_reply, parse_request, seal_reply
from coalition.crypto.ristretto import RISTRETTO255
from coalition.crypto.threshold import ThresholdElGamal
from organisms.shuffle import SealClient, ShuffleConfig, Submission, boxes_from_broadcast
from organisms.unseal.items import Ingest, SealedSlot, Signed
from organisms.unseal.local import LocalCommittee as Committee
from organisms.zipnet.local import LocalDeployment
from organisms.zipnet.params import RoundParams

PARAMS = RoundParams(num_slots=16, slot_bytes=256, tag_len=16, sched_slots=64)


def make_committee(n: int, t: int, seed: int) -> Committee:
    return Committee.create(n, t, seed=seed, name="test.unseal")


def _run(
    n: int,
    t: int,
    *,
    corrupt: set[int] = frozenset(),
    silent: set[int] = frozenset(),
    talkers: int = 4,
) -> tuple[Committee, LocalDeployment, list[tuple[bytes, Submission]]]:
    com = make_committee(n, t, seed=11)
    com.pump(100)
    assert all(r.transcript.phase is Phase.DONE for r in com.replicas)
    key = com.replicas[0].key
    assert key is not None and all(c.share is not None for c in com.cores)
    com.corrupt(set(corrupt))
    com.silent = set(silent)
    zip_ = LocalDeployment.create(8, 3, seed=12, params=PARAMS)
    shuffle = ShuffleConfig("test.shuffle", zip_.cfg, com.cfg)
    subs = []
    for i, zc in enumerate(zip_.clients[:talkers]):
        body = f"prompt {i}: what is {i} + {i}?".encode()
        subs.append(
            (body, SealClient(shuffle, zc, entropy=zip_.rng.randbytes).submit(body, key.group_key))
        )
    for _ in range(12):
        rec = zip_.run_round()
        boxes = boxes_from_broadcast(zip_.cfg, rec)
        for core in com.cores:
            core.observe(rec.round, boxes)
        com.pump(5)
    return com, zip_, subs


def test_sealed_requests_open_at_threshold_and_replies_reach_only_their_sender() -> None:
    com, _, subs = _run(5, 3)
    pool = com.replicas[0].pool
    assert [r.slot for r in pool] == list(range(len(pool)))  # appended in slot order
    assert all(list(r.pool) == list(pool) for r in com.replicas)  # replicas agree
    opened = [c.payload for entry in pool for c in entry.cleartext]
    requests = [parse_request(p) for p in opened]
    assert sorted(r.body for r in requests) == sorted(body for body, _ in subs)
    for req in requests:  # a downstream organism answers each, under its tag
        answer = seal_reply(req, b"answer to " + req.body)
        owners = [s for body, s in subs if s.reply.tag == req.reply_tag]
        assert len(owners) == 1
        assert open_reply(owners[0].reply, answer) == b"answer to " + req.body
        for _body, other in subs:
            if other is not owners[0]:
                try:
                    open_reply(other.reply, answer)
                except ReplyError:
                    continue
                raise AssertionError("a reply opened under someone else's ticket")
    assert not com.replicas[0].bad_shares


def test_bad_shares_are_excluded_with_evidence_and_the_round_still_opens() -> None:
    com, _, subs = _run(5, 3, corrupt=frozenset({2}))
    replica = com.replicas[0]
    opened = [c.payload for entry in replica.pool for c in entry.cleartext]
    assert sorted(parse_request(p).body for p in opened) == sorted(b for b, _ in subs)
    assert replica.bad_shares and {b.member for b in replica.bad_shares} == {2}
    assert {b.reason for b in replica.bad_shares} == {
        "DLEQ proof does not verify against the member's verification key"
    }


def test_below_threshold_nothing_opens() -> None:
    com, _, _ = _run(5, 3, silent=frozenset({1, 2, 3}))
    replica = com.replicas[0]
    assert replica.pending_rounds()  # rounds wait for shares …
    assert not replica.pool  # … and nothing was opened by two members


def test_forged_ingest_gets_no_honest_shares() -> None:
    """A round a leader made up is not one the members extracted themselves: no shares."""
    com = make_committee(3, 2, seed=3)
    com.pump()
    key = com.replicas[0].key
    assert key is not None
    box = ThresholdElGamal(RISTRETTO255).seal(key.group_key, b"made up")
    forged = Signed.by(com.keys[0], Ingest(1, 99, (SealedSlot(0, box),)))
    for r in com.replicas:
        assert r.step(forged).ok
    com.pump(5)
    assert not com.replicas[0].pool and com.replicas[0].pending_rounds() == [
        (99, (SealedSlot(0, box),))
    ]
