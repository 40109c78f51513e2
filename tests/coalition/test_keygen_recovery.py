"""Share recovery through the committee's log (D12): a member that comes back without its seed
asks, t helpers deal and send parts, and it recovers the *same* share; a restart with its new
seed replays the committed parts; a bad deal or a bad part excludes its helper, named, and the
recovery still completes with the others; the book survives a snapshot."""

from __future__ import annotations

import os
from collections.abc import Callable

from coalition.crypto.dkg import DkgParams, DkgResult
from coalition.crypto.recovery import RecoveredPart, RecoveryDeal
from coalition.crypto.ristretto import RISTRETTO255
from coalition.keygen import Deadlines, KeygenCmd, KeygenMember, KeygenSecrets, KeygenState
from coalition.keygen_recovery import RecoveryDealCmd, RecoveryPartCmd, RefreshStart
from pymosaik.primitives import decode, encode

SESSION = bytes(range(32))
QUICK = Deadlines(dealing_ms=1_000, complaints_ms=1_000, justification_ms=1_000, recovery_ms=5_000)
Mutate = Callable[[int, KeygenCmd], KeygenCmd]


def member(index: int, seed: bytes) -> KeygenMember[object]:
    return KeygenMember(
        RISTRETTO255, index, secrets=KeygenSecrets.from_seed(seed, SESSION), deadlines=QUICK
    )


def pump(
    members: list[KeygenMember[object]],
    state: KeygenState[object],
    until: Callable[[], bool],
    *,
    now: int = 0,
    mutate: Mutate | None = None,
    log: list[tuple[KeygenCmd, str | None]] | None = None,
) -> int:
    """Step every member against one committed log, in order, until ``until()``."""
    while not until():
        now += 500
        assert now < 200_000, "did not get there"
        for m in members:
            for proposed in m.step(state, now):
                cmd = proposed if mutate is None else mutate(m.index, proposed)
                assert decode(encode(cmd), type(cmd)) == cmd  # what the log carries
                why = state.apply(cmd)
                if log is not None:
                    log.append((cmd, why))
    return now


def committee(
    n: int, t: int, log: list[tuple[KeygenCmd, str | None]] | None = None
) -> tuple[list[KeygenMember[object]], KeygenState[object]]:
    state: KeygenState[object] = KeygenState(RISTRETTO255, DkgParams(SESSION, n, t))
    members = [member(i + 1, os.urandom(32)) for i in range(n)]
    pump(members, state, lambda: all(m.share is not None for m in members), log=log)
    return members, state


def test_a_member_without_its_seed_recovers_the_same_share() -> None:
    members, state = committee(3, 2)
    before = members[1].share
    assert before is not None
    old_key = state.registry[2].encryption_key
    seed = os.urandom(32)
    members[1] = member(2, seed)  # its data directory is gone: a new seed, a new key
    log: list[tuple[KeygenCmd, str | None]] = []
    now = pump(members, state, lambda: members[1].share is not None, now=100_000, log=log)
    after = members[1].share
    assert after is not None and after.secret == before.secret and members[1].recovered
    assert type(log[0][0]).__name__ == "RecoveryRequest"
    assert all(why is None for _, why in log), log  # every command was taken
    assert state.registry[2].encryption_key == members[1].recovery.public_key != old_key
    assert 2 in state.recovery.done and not state.recovery.open
    # the group key and the others' shares are untouched
    assert state.result is not None and after.result == before.result

    again = member(2, seed)  # restarted again, with the seed it recovered with: replays
    assert again.step(state, now + 1_000) == []
    assert again.share is not None and again.share.secret == before.secret


def test_a_helper_with_a_bad_deal_is_excluded_and_named() -> None:
    members, state = committee(4, 2)
    before = members[0].share
    assert before is not None
    members[0] = member(1, os.urandom(32))

    def bad_deal(index: int, cmd: KeygenCmd) -> KeygenCmd:
        if index == 3 and isinstance(cmd, RecoveryDealCmd):
            d, g = cmd.deal, RISTRETTO255  # its polynomial + 1: it no longer vanishes at 1
            head = g.add(g.decode(d.commitments[0], allow_identity=True), g.base_mul(1))
            forged = RecoveryDeal(d.dealer, d.lost, [g.encode(head), *d.commitments[1:]], d.shares)
            return RecoveryDealCmd(cmd.member, cmd.attempt, forged)
        return cmd

    pump(members, state, lambda: members[0].share is not None, now=100_000, mutate=bad_deal)
    assert members[0].share is not None and members[0].share.secret == before.secret
    faults = list(state.recovery.faults)
    assert [(f.culprit, f.accuser) for f in faults] == [(3, 0)]
    assert "does not vanish" in faults[0].reason
    assert 3 not in state.recovery.done[1].helpers


def test_a_helper_with_a_bad_part_is_named_by_the_lost_member() -> None:
    members, state = committee(4, 2)
    before = members[3].share
    assert before is not None
    members[3] = member(4, os.urandom(32))
    corrupted: list[int] = []

    def bad_part(index: int, cmd: KeygenCmd) -> KeygenCmd:
        if isinstance(cmd, RecoveryPartCmd) and not corrupted:
            corrupted.append(index)  # the first helper to send a part sends garbage
            p = cmd.part
            return RecoveryPartCmd(
                cmd.member, cmd.attempt, RecoveredPart(p.helper, p.lost, bytes(len(p.sealed)))
            )
        return cmd

    pump(members, state, lambda: members[3].share is not None, now=100_000, mutate=bad_part)
    assert members[3].share is not None and members[3].share.secret == before.secret
    faults = list(state.recovery.faults)
    assert [(f.culprit, f.accuser) for f in faults] == [(corrupted[0], 4)]


def test_a_stalled_attempt_is_asked_again_and_the_book_survives_a_snapshot() -> None:
    log: list[tuple[KeygenCmd, str | None]] = []
    members, state = committee(3, 2, log)
    before = members[2].share
    assert before is not None
    members[2] = member(3, os.urandom(32))
    # member 2 is down: member 1 offers, nobody else can, and the attempt stalls
    down = [members[0], members[2]]
    now = pump(down, state, lambda: bool(state.recovery.open), now=100_000, log=log)
    first = state.recovery.open[3].number
    now = pump(down, state, lambda: state.recovery.open[3].number != first, now=now, log=log)
    assert now - 100_000 >= QUICK.recovery_ms  # asked anew only once the attempt had stalled
    pump(members, state, lambda: members[2].share is not None, now=now, log=log)
    assert members[2].share is not None and members[2].share.secret == before.secret
    # a replica restored from a snapshot (the logged key-generation commands, then the book)
    copy: KeygenState[object] = KeygenState(RISTRETTO255, DkgParams(SESSION, 3, 2))
    kept: list[KeygenCmd] = []
    for cmd, _ in log:
        copy.apply_logged(cmd, cmd, kept)
    assert not any(type(c).__name__.startswith("Recovery") for c in kept)
    replay: KeygenState[object] = KeygenState(RISTRETTO255, DkgParams(SESSION, 3, 2))
    for cmd in kept:
        replay.apply(cmd)
    replay.restore_recovery(state.recovery_image())
    assert replay.recovery_image() == state.recovery_image()
    assert replay.registry == state.registry


def test_a_refresh_moves_every_share_and_keeps_the_group_key() -> None:
    """The operator's refresh: every member deals at 0; a member that restarts afterwards with
    its seed has only its pre-refresh share, finds it stale and recovers the current one."""
    n, t = 3, 2
    state: KeygenState[object] = KeygenState(
        RISTRETTO255, DkgParams(SESSION, n, t), refreshable=True
    )
    seeds = [os.urandom(32) for _ in range(n)]
    members = [member(i + 1, seeds[i]) for i in range(n)]
    now = pump(members, state, lambda: all(m.share is not None for m in members))
    old = [m.share for m in members]
    first = state.result
    assert first is not None
    members[0].request_refresh()
    now = pump(members, state, lambda: state.recovery.refreshes == 1, now=now)
    members_step = [m.step(state, now) for m in members]
    assert members_step == [[], [], []]
    new = [m.share for m in members]
    current = state.result
    assert current is not None and current.group_key == first.group_key
    assert current.verification_keys != first.verification_keys
    for a, b in zip(old, new, strict=True):
        assert a is not None and b is not None and a.secret != b.secret and b.result == current
    assert [state.registry[i].verification_key for i in (1, 2, 3)] == current.verification_keys

    again = member(2, seeds[1])  # restarted after the refresh: its seed gives the old share
    members[1] = again
    pump(members, state, lambda: again.share is not None, now=now)
    assert again.share is not None and new[1] is not None
    assert again.share.secret == new[1].secret and again.recovered

    plain: KeygenState[object] = KeygenState(RISTRETTO255, DkgParams(SESSION, n, t))
    assert plain.recovery.apply(*_start(state)) == "this committee does not refresh its key"


def _start(state: KeygenState[object]) -> tuple[RefreshStart, DkgResult]:
    assert state.transcript.result is not None
    return RefreshStart(1), state.transcript.result
