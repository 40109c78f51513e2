"""A threshold member survives a restart: its key-generation secrets come from one durable
seed, so after the restart it replays the committed transcript and recomputes the same key
share; without the seed the share is gone (the test that shows the seed is what matters)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from coalition.crypto.dkg import DkgParams
from coalition.crypto.ristretto import RISTRETTO255
from coalition.keygen import Deadlines, KeygenCmd, KeygenMember, KeygenSecrets, KeygenState
from coalition.runtime.files import load_or_create_seed

SESSION = bytes(range(32))
QUICK = Deadlines(dealing_ms=1_000, complaints_ms=1_000, justification_ms=1_000)


def run_dkg(members: list[KeygenMember[object]], state: KeygenState[object]) -> None:
    """Step every member against one committed log (in order) until the run is done."""
    now = 0
    while not state.ready:
        now += 500
        assert now < 60_000, "the DKG did not finish"
        for m in members:
            cmds: list[KeygenCmd] = m.step(state, now)
            for cmd in cmds:
                state.apply(cmd)
    for m in members:
        m.step(state, now)


def committee(seeds: list[bytes]) -> tuple[list[KeygenMember[object]], KeygenState[object]]:
    state: KeygenState[object] = KeygenState(RISTRETTO255, DkgParams(SESSION, len(seeds), 2))
    members: list[KeygenMember[object]] = [
        KeygenMember(
            RISTRETTO255,
            i + 1,
            secrets=KeygenSecrets.from_seed(seed, SESSION),
            deadlines=QUICK,
        )
        for i, seed in enumerate(seeds)
    ]
    return members, state


def test_a_restarted_member_recomputes_its_share_from_its_seed() -> None:
    seeds = [os.urandom(32) for _ in range(3)]
    members, state = committee(seeds)
    run_dkg(members, state)
    before = members[1].share
    assert before is not None

    again: KeygenMember[object] = KeygenMember(
        RISTRETTO255, 2, secrets=KeygenSecrets.from_seed(seeds[1], SESSION), deadlines=QUICK
    )
    again.step(state, 100_000)  # the replayed transcript, nothing new committed
    assert again.share is not None
    assert again.share.secret == before.secret
    assert again.error is None


def test_without_its_seed_a_restarted_member_has_lost_its_share() -> None:
    """It cannot recompute its share from the transcript: it asks for recovery instead
    (tests/coalition/test_keygen_recovery.py runs that to the end)."""
    seeds = [os.urandom(32) for _ in range(3)]
    members, state = committee(seeds)
    run_dkg(members, state)
    stranger: KeygenMember[object] = KeygenMember(
        RISTRETTO255, 2, secrets=KeygenSecrets.fresh(), deadlines=QUICK
    )
    cmds = stranger.step(state, 100_000)
    assert stranger.share is None and stranger.lost(state)
    assert [type(c).__name__ for c in cmds] == ["RecoveryRequest"]


def test_secrets_are_bound_to_seed_and_session() -> None:
    seed = os.urandom(32)
    a = KeygenSecrets.from_seed(seed, SESSION)
    b = KeygenSecrets.from_seed(seed, SESSION)
    other_run = KeygenSecrets.from_seed(seed, bytes(32))
    other_seed = KeygenSecrets.from_seed(os.urandom(32), SESSION)

    def pub(s: KeygenSecrets) -> bytes:
        return s.encryption_key.public_key().public_bytes_raw()

    assert pub(a) == pub(b)
    assert len({pub(a), pub(other_run), pub(other_seed)}) == 3
    # the stream reads in order: two short reads equal one long one, and it never repeats
    head = a.entropy(40) + a.entropy(24)
    assert head == b.entropy(64)
    assert a.entropy(64) != head
    assert other_run.entropy(64) != head
    assert repr(a) == "KeygenSecrets(…)"
    with pytest.raises(ValueError, match="32 bytes"):
        KeygenSecrets.from_seed(b"short", SESSION)


def test_the_seed_file_is_written_once_privately_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "keygen.seed"
    first = load_or_create_seed(path)
    assert len(first) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_seed(path) == first

    path.chmod(0o644)
    with pytest.raises(ValueError, match="must be 600"):
        load_or_create_seed(path)  # others can read it: refused like a key file
    path.chmod(0o600)
    path.write_text("abcd\n")
    with pytest.raises(ValueError, match="seed needs 32 bytes"):
        load_or_create_seed(path)
