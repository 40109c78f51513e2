"""What the hostile-input guards of `decode` cost: ``python -m bench.decode_guards``.

Compares `decode` with the bare path it wraps (msgspec with the UniqueId hook,
then the canonical re-encoding), per message, on typical shapes: a small stream
datum, a discovery ping and a 64-entry sync, a Raft AppendEntries with 64 entries, and an untyped
map (the only kind that gets the nesting scan).
"""

from __future__ import annotations

import timeit
from typing import Any

import msgspec

from pymosaik.discovery.entry import PeerEntry
from pymosaik.discovery.messages import DiscoveryMessage, Ping, SyncRequest
from pymosaik.groups.raft.log import EntryKind, LogEntry
from pymosaik.groups.raft.messages import AppendEntries, Message
from pymosaik.primitives import UNIVERSE, SecretKey, UniqueId, Wire, decode, encode
from pymosaik.primitives.encoding import _ENCODER, _dec_hook


class Tick(Wire, frozen=True):
    """A typical small stream datum."""

    seq: int
    source: UniqueId
    payload: bytes


def _bare(typ: Any) -> Any:
    decoder = msgspec.msgpack.Decoder(typ, dec_hook=_dec_hook)

    def run(data: bytes) -> None:
        value = decoder.decode(data)
        if _ENCODER.encode(value) != data:
            raise AssertionError

    return run


def main() -> None:
    entries = tuple(LogEntry(1, EntryKind.COMMAND, b"c" * 40) for _ in range(64))
    keys = [SecretKey.generate() for _ in range(64)]
    ids = tuple(UniqueId.random() for _ in range(4))
    catalog = tuple(
        PeerEntry(UNIVERSE, k.peer_id.bytes, 1, 2, tags=ids, streams=ids).sign(k) for k in keys
    )
    cases: list[tuple[str, bytes, Any]] = [
        ("stream datum (UniqueId)", encode(Tick(7, UniqueId.random(), b"x" * 32)), Tick),
        ("discovery ping", encode(Ping(1, 2)), DiscoveryMessage),
        ("discovery sync, 64 entries", encode(SyncRequest(catalog)), DiscoveryMessage),
        (
            "raft append, 64 entries",
            encode(AppendEntries(3, b"l" * 32, 9, 2, entries, 8, 4)),
            Message,
        ),
        ("untyped map, 16 keys", encode({f"k{i}": [i, "v"] for i in range(16)}), dict),
    ]
    print(f"{'message':28} {'bytes':>6} {'bare us':>8} {'decode us':>10} {'overhead us':>12}")
    for name, data, typ in cases:
        bare = _bare(typ)
        n = 20_000
        t_bare = min(timeit.repeat(lambda: bare(data), number=n, repeat=5)) / n * 1e6
        t_full = min(timeit.repeat(lambda: decode(data, typ), number=n, repeat=5)) / n * 1e6
        print(f"{name:28} {len(data):6} {t_bare:8.2f} {t_full:10.2f} {t_full - t_bare:12.2f}")


if __name__ == "__main__":
    main()
