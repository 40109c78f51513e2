"""A Wing–Gong–Lowe linearizability checker for register histories, one key at a time.

The Map workload (put/get/cas) and the Atlas card rule (raise: a max-register) use it.

Like porcupine: depth-first search over which operation takes effect next, with
memoisation of (set of operations done, model state). An operation whose outcome
the client never learned has an infinite return time: it may take effect at any
point after its call, or never.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum


class OpKind(Enum):
    PUT = "put"
    GET = "get"
    CAS = "cas"
    #: A max-register write (the Atlas card rule): applies iff ``value`` sorts above the
    #: state (None lowest); refused (``ok=False``) otherwise. Values compare as bytes, so
    #: numbers are written big-endian at a fixed width.
    RAISE = "raise"


@dataclass(frozen=True, slots=True)
class Operation:
    """One client operation on one key, as the client saw it."""

    client: str
    key: bytes
    kind: OpKind
    call: float
    #: ``math.inf`` when the outcome is unknown.
    ret: float
    value: bytes | None = None
    expected: bytes | None = None
    #: Observed outcome (ignored when ``ret`` is infinite).
    ok: bool = True
    output: bytes | None = None

    @property
    def pending(self) -> bool:
        return math.isinf(self.ret)

    def describe(self) -> str:
        end = "?" if self.pending else f"{self.ret:.0f}"
        args = {
            OpKind.PUT: f"{self.value!r}",
            OpKind.GET: "",
            OpKind.CAS: f"{self.expected!r}->{self.value!r}",
            OpKind.RAISE: f"{self.value!r}",
        }[self.kind]
        outcome = "unknown" if self.pending else f"ok={self.ok} out={self.output!r}"
        return f"[{self.call:.0f},{end}] {self.client} {self.kind.value}({args}) {outcome}"


def _step(op: Operation, state: bytes | None) -> tuple[bool, bytes | None]:
    """Can ``op`` take effect on ``state``, and what state follows?"""
    known = not op.pending
    if op.kind is OpKind.GET:
        return (not known or op.output == state), state
    if op.kind is OpKind.PUT:
        return (not known or (op.ok and op.output == state)), op.value
    if op.kind is OpKind.RAISE:
        above = op.value is not None and (state is None or op.value > state)
        if known and op.ok != above:
            return False, state
        return True, (op.value if above else state)
    applies = state == op.expected
    if known and (op.ok != applies or op.output != state):
        return False, state
    return True, (op.value if applies else state)


def check_key(
    ops: list[Operation], initial: bytes | None = None, budget: int = 200_000
) -> bool | None:
    """Whether the operations on one key are linearizable; None if the search gave up."""
    ops = sorted(ops, key=lambda o: o.call)
    n = len(ops)
    if n == 0:
        return True
    must = 0
    for i, op in enumerate(ops):
        if not op.pending:
            must |= 1 << i
    by_ret = sorted(range(n), key=lambda i: ops[i].ret)
    calls = [op.call for op in ops]
    seen: set[tuple[int, bytes | None]] = set()
    steps = 0
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 4 * n + 100))

    def search(done: int, state: bytes | None) -> bool:
        nonlocal steps
        if done & must == must:
            return True
        key = (done, state)
        if key in seen:
            return False
        seen.add(key)
        steps += 1
        if steps > budget:
            raise _BudgetExceededError
        # The earliest return among ops not yet linearized bounds who may go next.
        horizon = math.inf
        for i in by_ret:
            if not done >> i & 1:
                horizon = ops[i].ret
                break
        i = (~done & (done + 1)).bit_length() - 1  # lowest op not yet done
        while i < n and calls[i] <= horizon:
            if not done >> i & 1:
                ok, after = _step(ops[i], state)
                if ok and search(done | 1 << i, after):
                    return True
            i += 1
        return False

    try:
        return search(0, initial)
    except _BudgetExceededError:
        return None


class _BudgetExceededError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class HistoryVerdict:
    #: Keys whose sub-history is not linearizable.
    violations: tuple[bytes, ...]
    #: Keys the search gave up on (neither proven nor refuted).
    inconclusive: tuple[bytes, ...]


def check_history(ops: Iterable[Operation]) -> HistoryVerdict:
    """Check a Map history key by key (operations on different keys commute)."""
    by_key: dict[bytes, list[Operation]] = {}
    for op in ops:
        by_key.setdefault(op.key, []).append(op)
    bad: list[bytes] = []
    unknown: list[bytes] = []
    for key in sorted(by_key):
        verdict = check_key(by_key[key])
        if verdict is None:
            unknown.append(key)
        elif not verdict:
            bad.append(key)
    return HistoryVerdict(tuple(bad), tuple(unknown))
