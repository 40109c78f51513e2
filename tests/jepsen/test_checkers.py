"""Each checker passes a sound history and catches a deliberately broken one."""

from __future__ import annotations

from pathlib import Path

from jepsen.checkers import (
    almanac_monotonic,
    check_all,
    chronicle_forks,
    linearizable,
    lost_writes,
)
from jepsen.history import Event, dump, load

H1, H2 = "a" * 64, "b" * 64


def upsert(op: int, t0: float, t1: float, key: str, v: int, outcome: str = "ok") -> list[Event]:
    return [
        Event("w", "invoke", "upsert", t0, op, key, v),
        Event("w", outcome, "upsert", t1, op, key, v),  # type: ignore[arg-type]
    ]


def read(op: int, t0: float, t1: float, key: str, v: int | None) -> list[Event]:
    return [
        Event("final", "invoke", "read", t0, op, key),
        Event("final", "ok", "read", t1, op, key, v),
    ]


def append(op: int, t0: float, t1: float, seq: int) -> list[Event]:
    return [Event("a", "invoke", "append", t0, op), Event("a", "ok", "append", t1, op, value=seq)]


def chron(who: str, t: float, length: int, head: str, pid: int = 1) -> Event:
    return Event(who, "ok", "chronicle", t, value=length, note=head, epoch=pid)


def tick(who: str, t: float, seq: int, pid: int = 1) -> Event:
    return Event(who, "ok", "almanac", t, value=seq, epoch=pid)


def sound() -> list[Event]:
    return [
        *upsert(1, 0, 1, "k", 2),
        *upsert(2, 0.5, 2, "k", 3, "info"),  # unknown: may or may not have landed
        *upsert(3, 3, 4, "k", 4),
        *upsert(4, 3.5, 4.5, "k", 3, "fail"),  # stale, refused
        *append(5, 0, 1, 0),
        *append(6, 1, 2, 1),
        chron("chronicle-0", 2, 1, H1),
        chron("chronicle-1", 3, 2, H2),
        chron("chronicle-0", 4, 2, H2),
        chron("chronicle-2", 4, 0, "", pid=9),  # restarted: a new epoch starts again
        Event("chronicle-0", "ok", "held", 4, value=2, epoch=1),  # 2 entries (sealed or not)
        tick("almanac-0", 1, 4),
        tick("almanac-0", 2, 5),
        tick("almanac-0", 3, 1, pid=2),
        *read(7, 10, 11, "k", 4),
    ]


def test_a_sound_history_passes_every_checker(tmp_path: Path) -> None:
    history = sound()
    dump(history, tmp_path / "h.jsonl")
    assert load(tmp_path / "h.jsonl") == history
    assert check_all(history) == []


def test_an_acknowledged_upsert_missing_from_the_final_read_is_lost() -> None:
    history = [*sound()[:-2], *read(7, 10, 11, "k", 3)]
    found = lost_writes(history)
    assert len(found) == 1
    assert "k=4" in found[0].message


def test_an_acknowledged_append_beyond_every_member_is_lost() -> None:
    history = [*sound(), *append(8, 5, 6, 2)]
    found = lost_writes(history)
    assert [v.checker for v in found] == ["lost-writes"]
    assert "seq 2" in found[0].message


def test_a_lower_version_accepted_after_a_higher_one_is_not_linearizable() -> None:
    history = [*upsert(1, 0, 1, "k", 5), *upsert(2, 2, 3, "k", 4), *read(3, 4, 5, "k", 5)]
    found = linearizable(history)
    assert len(found) == 1
    assert "key k" in found[0].message
    assert linearizable([*upsert(1, 0, 1, "k", 5), *read(3, 4, 5, "k", 5)]) == []


def test_a_stale_final_read_is_not_linearizable() -> None:
    history = [*upsert(1, 0, 1, "k", 5), *read(2, 4, 5, "k", 3)]
    assert len(linearizable(history)) == 1


def test_two_heads_at_one_length_are_a_fork() -> None:
    history = [*sound(), chron("reader", 6, 2, H1)]
    found = chronicle_forks(history)
    assert len(found) == 1
    assert "length 2" in found[0].message


def test_a_running_member_whose_chain_shrinks_is_reported() -> None:
    history = [*sound(), chron("chronicle-1", 6, 1, H1)]
    found = chronicle_forks(history)
    assert any("went from 2" in v.message for v in found)


def test_a_tick_going_back_for_one_observer_is_reported() -> None:
    history = [*sound(), tick("almanac-0", 4, 4)]
    found = almanac_monotonic(history)
    assert len(found) == 1
    assert "tick 5" in found[0].message
    assert almanac_monotonic([*sound(), tick("almanac-1", 4, 4)]) == []
