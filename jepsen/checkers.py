"""The checkers: what a campaign's history must satisfy, each a pure function of it.

* `lost_writes`: every acknowledged Atlas upsert is covered by the final read of its key
  (the final version is at least the acknowledged one), and every acknowledged Chronicle
  append is held by some member at the end (its entries, sealed or still collecting
  signatures, outnumber the acknowledged seq: an acknowledgement means committed, and
  sealing follows);
* `linearizable`: each Atlas key's history (upserts, which follow the max-register rule,
  and the final read) is linearizable — the project's Wing–Gong–Lowe search
  (pymosaik.sim.linearizability) with its ``raise`` model;
* `chronicle_forks`: any two observations of the same sealed length carry the same head
  digest (entries are hash-linked, so equal heads mean one chain is a prefix of the
  other), and a member's sealed length never shrinks while it runs;
* `almanac_monotonic`: no observer ever sees the Almanac's tick go back.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pymosaik.sim.linearizability import Operation, OpKind, check_key

from .history import Event

__all__ = [
    "CHECKERS",
    "Violation",
    "almanac_monotonic",
    "check_all",
    "chronicle_forks",
    "linearizable",
    "lost_writes",
    "version_bytes",
]


@dataclass(frozen=True)
class Violation:
    checker: str
    message: str


def version_bytes(version: int) -> bytes:
    """A card version as the checker's register value (bytes order = number order)."""
    return version.to_bytes(8, "big")


def _completions(history: Sequence[Event]) -> list[tuple[Event, Event | None]]:
    """Each invocation with its completion (None: the history ended first)."""
    done = {e.op: e for e in history if e.type != "invoke" and e.op}
    return [(e, done.get(e.op)) for e in history if e.type == "invoke"]


def lost_writes(history: Sequence[Event]) -> list[Violation]:
    out: list[Violation] = []
    final: dict[str, int] = {}
    read_keys: set[str] = set()
    for e in history:
        if e.f == "read" and e.type == "ok" and e.key is not None:
            read_keys.add(e.key)
            final[e.key] = max(final.get(e.key, -1), e.value if e.value is not None else -1)
    lengths: dict[str, int] = {}
    for e in history:
        if e.f == "held" and e.value is not None:
            lengths[e.process] = e.value  # the last observation of each member wins
    best_length = max(lengths.values(), default=0)
    for inv, done in _completions(history):
        if done is None or done.type != "ok":
            continue
        if inv.f == "upsert" and inv.key is not None and inv.value is not None:
            if inv.key not in read_keys:
                out.append(Violation("lost-writes", f"no final read of {inv.key}"))
            elif final[inv.key] < inv.value:
                out.append(
                    Violation(
                        "lost-writes",
                        f"upsert {inv.key}={inv.value} was acknowledged at {done.time:.3f} "
                        f"but the final read says {final[inv.key]}",
                    )
                )
        if inv.f == "append" and done.value is not None and done.value >= best_length:
            out.append(
                Violation(
                    "lost-writes",
                    f"append acknowledged as seq {done.value} but no member holds more than "
                    f"{best_length} entries at the end",
                )
            )
    return list(dict.fromkeys(out))  # one line per distinct problem


def register_operations(history: Sequence[Event]) -> list[Operation]:
    """The Atlas key histories as the checker's operations (upserts and final reads)."""
    ops: list[Operation] = []
    for inv, done in _completions(history):
        if inv.key is None or inv.value is None:
            continue
        if inv.f == "upsert":
            known = done is not None and done.type in ("ok", "fail")
            ops.append(
                Operation(
                    inv.process,
                    inv.key.encode(),
                    OpKind.RAISE,
                    inv.time,
                    done.time if known and done is not None else math.inf,
                    value=version_bytes(inv.value),
                    ok=done is not None and done.type == "ok",
                )
            )
    for inv, done in _completions(history):
        if inv.f == "read" and inv.key is not None and done is not None and done.type == "ok":
            out = None if done.value is None else version_bytes(done.value)
            ops.append(
                Operation(
                    inv.process, inv.key.encode(), OpKind.GET, inv.time, done.time, output=out
                )
            )
    return ops


def linearizable(history: Sequence[Event]) -> list[Violation]:
    by_key: dict[bytes, list[Operation]] = {}
    for op in register_operations(history):
        by_key.setdefault(op.key, []).append(op)
    out = []
    for key in sorted(by_key):
        verdict = check_key(by_key[key])
        if verdict is False:
            ops = sorted(by_key[key], key=lambda o: o.call)
            shown = "; ".join(o.describe() for o in ops[-6:])
            out.append(
                Violation("linearizable", f"key {key.decode()} is not linearizable (…{shown})")
            )
        elif verdict is None:
            out.append(Violation("linearizable", f"key {key.decode()}: search budget exhausted"))
    return out


def chronicle_forks(history: Sequence[Event]) -> list[Violation]:
    out: list[Violation] = []
    heads: dict[int, tuple[str, str]] = {}
    last: dict[tuple[str, int | None], int] = {}
    for e in history:
        if e.f != "chronicle" or e.value is None:
            continue
        if e.note is not None:
            first = heads.setdefault(e.value, (e.note, e.process))
            if first[0] != e.note:
                out.append(
                    Violation(
                        "chronicle-forks",
                        f"length {e.value}: {first[1]} saw head {first[0][:16]}…, "
                        f"{e.process} saw {e.note[:16]}…",
                    )
                )
                heads[e.value] = (e.note, e.process)  # report each divergence once
        who = (e.process, e.epoch)
        if e.value < last.get(who, 0):
            out.append(
                Violation(
                    "chronicle-forks",
                    f"{e.process} (pid {e.epoch}) went from {last[who]} sealed entries to "
                    f"{e.value}",
                )
            )
        last[who] = max(last.get(who, 0), e.value)
    return out


def almanac_monotonic(history: Sequence[Event]) -> list[Violation]:
    out: list[Violation] = []
    last: dict[tuple[str, int | None], tuple[int, float]] = {}
    for e in history:
        if e.f != "almanac" or e.value is None:
            continue
        who = (e.process, e.epoch)
        prev = last.get(who)
        if prev is not None and e.value < prev[0]:
            out.append(
                Violation(
                    "almanac-monotonic",
                    f"{e.process} saw tick {prev[0]} at {prev[1]:.3f}, then {e.value} at "
                    f"{e.time:.3f}",
                )
            )
        if prev is None or e.value >= prev[0]:
            last[who] = (e.value, e.time)
    return out


CHECKERS: dict[str, Callable[[Sequence[Event]], list[Violation]]] = {
    "lost-writes": lost_writes,
    "linearizable": linearizable,
    "chronicle-forks": chronicle_forks,
    "almanac-monotonic": almanac_monotonic,
}


def check_all(history: Sequence[Event]) -> list[Violation]:
    return [v for check in CHECKERS.values() for v in check(history)]
