"""The beacon committee in process: DKG, then one verified tick per round, in both schemes."""

from __future__ import annotations

import pytest

from coalition.crypto.beacon import Scheme, verify_tick
from organisms.randomness.local import LocalBeacon
from organisms.randomness.machine import BeaconMachine


@pytest.mark.parametrize("scheme", list(Scheme))
def test_every_round_verifies_from_the_group_key_alone_and_none_is_skipped(scheme: Scheme) -> None:
    b = LocalBeacon.create(4, 3, seed=1, scheme=scheme)
    b.run_until(30_000)  # genesis at 20 s, one round a second
    m = b.replicas[0]
    card = m.card()
    assert card is not None and card.scheme == scheme.value and (card.t, card.n) == (3, 4)
    rounds = [t.round for t in m.ticks]
    assert rounds == list(range(1, len(rounds) + 1)) and len(rounds) >= 9
    prev = b""
    for tick in m.ticks:
        assert verify_tick(scheme, card.group_key, tick)
        if scheme is Scheme.CHAINED:
            assert tick.previous_signature == prev
            prev = tick.signature
    assert all(list(r.ticks) == list(m.ticks) for r in b.replicas)


def test_bad_partials_are_excluded_with_evidence() -> None:
    b = LocalBeacon.create(4, 3, seed=2)
    b.corrupt({2})
    b.run_until(26_000)
    m = b.replicas[0]
    assert len(m.ticks) >= 5
    assert m.bad and {e.member for e in m.bad} == {2}
    assert all("does not verify" in e.reason for e in m.bad)


def test_below_threshold_no_round_is_produced_and_it_resumes_in_order() -> None:
    b = LocalBeacon.create(4, 3, seed=3)
    b.run_until(22_000)
    produced = len(b.replicas[0].ticks)
    b.runner.silent = {1, 2}
    b.run_until(30_000)
    assert len(b.replicas[0].ticks) == produced  # two of four cannot sign
    b.runner.silent = set()
    b.run_until(36_000)
    rounds = [t.round for t in b.replicas[0].ticks]
    assert rounds == list(range(1, len(rounds) + 1))  # nothing skipped …
    assert len(rounds) >= b.replicas[0].round_at(36_000) - 1  # … and caught up with the clock


def test_snapshot_restores_the_same_beacon() -> None:
    b = LocalBeacon.create(3, 2, seed=4)
    b.run_until(24_000)
    src = b.replicas[0]
    copy = BeaconMachine(src.cfg, [k.peer_id for k in b.keys])
    copy.restore(src.snapshot())
    assert copy.snapshot() == src.snapshot() and copy.card() == src.card()
