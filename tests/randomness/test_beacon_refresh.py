"""A key refresh on the beacon (D12: "key refresh keeps the group key and replaces shares"):
one member's operator asks, every member deals at 0 through the log, and from the next round on
partials are checked against the moved verification keys; the rounds pending at the refresh are
still signed and checked with the shares before it, so no honest partial is ever recorded as bad
and no round is skipped. A member that loses its data afterwards recovers the *refreshed* share."""

from __future__ import annotations

import pytest

from coalition.crypto.beacon import Scheme, verify_tick
from coalition.keygen_recovery import RefreshStart
from organisms.randomness.items import Signed, SubmitPartial
from organisms.randomness.local import LocalBeacon
from organisms.randomness.machine import BeaconMachine
from pymosaik.primitives import decode, encode
from pymosaik.sim.rng import seeded


@pytest.mark.parametrize("scheme", list(Scheme))
def test_a_refresh_moves_every_share_mid_beacon_and_keeps_the_key(scheme: Scheme) -> None:
    b = LocalBeacon.create(3, 2, seed=5, scheme=scheme)
    b.run_until(24_000)
    m = b.replicas[0]
    card = m.card()
    assert card is not None and len(m.ticks) >= 3
    before = [c.share for c in b.cores]
    b.cores[1].refresh()
    b.run_until(30_000)
    assert m.keygen.recovery.refreshes == 1 and m.old_key is None
    after = [c.share for c in b.cores]
    for old, new in zip(before, after, strict=True):
        assert old is not None and new is not None and old.secret != new.secret
        assert new.result == m.keygen.result
    assert m.card() == card  # the same group key: consumers notice nothing
    assert not m.bad  # partials signed across the switch were checked with the right keys
    rounds = [t.round for t in m.ticks]
    assert rounds == list(range(1, len(rounds) + 1)) and len(rounds) >= 9
    assert all(verify_tick(scheme, card.group_key, t) for t in m.ticks)
    # a replica restored from a snapshot carries the refreshed keys
    copy = BeaconMachine(b.cfg, [k.peer_id for k in b.keys])
    copy.restore(m.snapshot())
    assert copy.keygen.result == m.keygen.result and copy.card() == card
    assert decode(encode(copy.keygen.recovery_image()), type(m.keygen.recovery_image())) == (
        m.keygen.recovery_image()
    )

    b.lose_share(3, seeded(99))  # its data is gone after the refresh
    b.run_until(36_000)
    got = b.cores[2].share
    assert got is not None and after[2] is not None and got.secret == after[2].secret
    assert not m.bad


def test_a_round_pending_at_the_refresh_is_finished_with_the_old_shares() -> None:
    """Member 1's partial for round r is in (old share) when member 3's deal completes the
    refresh, and member 3's partial for r — signed in the same step, before it saw the refresh —
    lands after it: both are checked against the keys before the refresh and combine."""
    b = LocalBeacon.create(3, 2, seed=6)
    b.run_until(24_000)
    m = b.replicas[0]
    card = m.card()
    assert card is not None

    def withhold(index: int, cmd: Signed) -> Signed:  # member 2's partials never arrive
        if index == 2 and isinstance(cmd.body, SubmitPartial):
            return Signed.by(b.keys[1], RefreshStart(2))
        return cmd

    b.runner.mutate, b.runner.silent = withhold, {3}
    b.cores[0].refresh()
    b.run_until(26_000)
    pending = m.next_round
    assert m.keygen.recovery.refresh is not None and m.keygen.recovery.refreshes == 0
    b.runner.mutate, b.runner.silent = None, set()
    b.run_until(32_000)
    assert not m.bad, m.bad
    assert m.keygen.recovery.refreshes == 1 and m.new_key_from == pending + 1
    rounds = [t.round for t in m.ticks]
    assert rounds == list(range(1, len(rounds) + 1)) and rounds[-1] > pending + 3
    assert all(verify_tick(b.cfg.kind, card.group_key, t) for t in m.ticks)
