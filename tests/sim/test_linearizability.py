"""The WGL checker accepts linearizable Map histories and rejects the rest."""

from __future__ import annotations

import math

from pymosaik.sim.linearizability import Operation, OpKind, check_history, check_key

K = b"k"


def put(c: str, call: float, ret: float, value: bytes, prev: bytes | None) -> Operation:
    return Operation(c, K, OpKind.PUT, call, ret, value, None, True, prev)


def get(c: str, call: float, ret: float, out: bytes | None) -> Operation:
    return Operation(c, K, OpKind.GET, call, ret, None, None, True, out)


def cas(
    c: str, call: float, ret: float, exp: bytes | None, new: bytes, ok: bool, out: bytes | None
) -> Operation:
    return Operation(c, K, OpKind.CAS, call, ret, new, exp, ok, out)


def test_sequential_history_is_linearizable() -> None:
    ops = [put("a", 0, 1, b"1", None), get("b", 2, 3, b"1"), cas("a", 4, 5, b"1", b"2", True, b"1")]
    assert check_key(ops) is True


def test_stale_read_after_write_completed_is_rejected() -> None:
    ops = [put("a", 0, 1, b"1", None), put("a", 2, 3, b"2", b"1"), get("b", 4, 5, b"1")]
    assert check_key(ops) is False


def test_concurrent_read_may_see_either_value() -> None:
    for seen in (b"1", b"2"):
        ops = [put("a", 0, 1, b"1", None), put("a", 2, 6, b"2", b"1"), get("b", 3, 4, seen)]
        assert check_key(ops) is True


def test_unknown_outcome_may_or_may_not_take_effect() -> None:
    lost = Operation("a", K, OpKind.PUT, 0, math.inf, b"x", None)
    assert check_key([lost, get("b", 5, 6, None)]) is True
    assert check_key([lost, get("b", 5, 6, b"x")]) is True
    assert check_key([lost, get("b", 5, 6, b"y")]) is False


def test_cas_outcome_must_match_state() -> None:
    ops = [put("a", 0, 1, b"1", None), cas("b", 2, 3, b"0", b"2", True, b"1")]
    assert check_key(ops) is False
    ops = [
        put("a", 0, 1, b"1", None),
        cas("b", 2, 3, b"0", b"2", False, b"1"),
        get("c", 4, 5, b"1"),
    ]
    assert check_key(ops) is True


def test_history_is_partitioned_per_key() -> None:
    other = Operation("a", b"j", OpKind.PUT, 0, 1, b"z", None, True, None)
    bad = [put("a", 0, 1, b"1", None), get("b", 2, 3, b"2")]
    verdict = check_history([other, *bad])
    assert verdict.violations == (K,)
    assert verdict.inconclusive == ()


def raise_(c: str, call: float, ret: float, v: int, ok: bool) -> Operation:
    return Operation(c, K, OpKind.RAISE, call, ret, v.to_bytes(8, "big"), ok=ok)


def test_max_register_accepts_races_in_either_order() -> None:
    # 3 and 2 race: 3 first means 2 is refused; a read afterwards sees 3
    ops = [
        raise_("a", 0, 5, 2, False),
        raise_("b", 0, 5, 3, True),
        get("r", 6, 7, bytes(7) + b"\3"),
    ]
    assert check_key(ops) is True


def test_max_register_rejects_a_lower_version_accepted_after_a_higher_one() -> None:
    ops = [raise_("a", 0, 1, 3, True), raise_("a", 2, 3, 2, True)]
    assert check_key(ops) is False
    ops = [raise_("a", 0, 1, 3, True), get("r", 2, 3, bytes(7) + b"\2")]
    assert check_key(ops) is False


def test_max_register_pending_write_may_land_late() -> None:
    ops = [
        raise_("a", 0, math.inf, 5, True),
        get("r", 1, 2, None),
        get("r", 3, 4, bytes(7) + b"\5"),
    ]
    assert check_key(ops) is True
