"""The history of a campaign: one event a line, as Jepsen records it.

Every client operation is an ``invoke`` followed by exactly one completion with the same
``op``: ``ok`` (it happened), ``fail`` (it certainly did not) or ``info`` (the client never
learned; it may happen at any time after its invocation, or never). Observations the harness
makes of the members (their Chronicle head, their Almanac tick) are single ``ok`` events with
``op`` 0. The nemesis records its faults as ``info`` events of ``f`` "nemesis".

Times are ``time.monotonic()`` seconds: one clock for every process of the run on this machine.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Literal

import msgspec

__all__ = ["Event", "Kind", "dump", "load"]

Kind = Literal["invoke", "ok", "fail", "info"]


class Event(msgspec.Struct, frozen=True, omit_defaults=True):
    #: Who: a client worker ("w3"), a member seat ("chronicle-1"), "reader", "nemesis".
    process: str
    type: Kind
    #: What: "upsert" (Atlas card), "append" (Chronicle), "read" (final Atlas read),
    #: "chronicle" / "almanac" (observations), "nemesis".
    f: str
    time: float
    #: Pairs an invocation with its completion (0 for single events).
    op: int = 0
    key: str | None = None
    #: The version written or read, the Chronicle seq, the Almanac tick.
    value: int | None = None
    #: A digest (Chronicle head), a fault's description, an error's text.
    note: str | None = None
    #: The observer's incarnation (a member's pid): a restarted member starts over.
    epoch: int | None = None


_ENC = msgspec.json.Encoder()
_DEC = msgspec.json.Decoder(Event)


def dump(events: Iterable[Event], path: Path) -> None:
    with path.open("wb") as fh:
        for e in events:
            fh.write(_ENC.encode(e) + b"\n")


def load(path: Path) -> list[Event]:
    return list(read_lines(path.read_bytes().splitlines()))


def read_lines(lines: Iterable[bytes]) -> Iterator[Event]:
    for line in lines:
        if line.strip():
            yield _DEC.decode(line)
