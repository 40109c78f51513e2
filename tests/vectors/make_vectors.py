"""Regenerate the golden vectors from the written rules, independently of the library.

Run: .venv/bin/python tests/vectors/make_vectors.py

Nothing here imports pymosaik or coalition: every value is computed with raw
blake3 and byte operations straight from docs/spec/identity.md, so the tests
compare two independent implementations of the same rules.
"""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

import blake3

HERE = Path(__file__).parent


def b3(*parts: bytes) -> bytes:
    h = blake3.blake3()
    for p in parts:
        h.update(p)
    return h.digest()


def from_input(raw: bytes) -> bytes:
    if len(raw) == 64 and all(c in string.hexdigits.encode() for c in raw):
        return bytes.fromhex(raw.decode())
    return b3(raw)


def hash_many(*parts: bytes) -> bytes:
    return b3(*(len(p).to_bytes(8, "little") + p for p in parts))


def le(n: int, width: int) -> bytes:
    return n.to_bytes(width, "little")


def uid_vectors() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(kind: str, arg: str, value: bytes, **extra: Any) -> None:
        out.append({"kind": kind, "input": arg, "expect": value.hex(), **extra})

    for text in [
        "mosaik.universe",
        "coalition.root.v1",
        "",
        "my-stream-name",
        "searcher-α",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "0123456789ABCDEF0123456789ABCDEF0123456789abcdef0123456789ABCDEF",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde",  # 63
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0",  # 65
        "g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",  # not hex
    ]:
        add("from_str", text, from_input(text.encode()))
    binary = bytes(range(32))
    add("from_input_bytes_hex", binary.hex(), b3(binary), note="32 raw bytes are hashed")
    add(
        "hash",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        b3(b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
    )
    base = from_input(b"mosaik.universe")
    add("derive", "module", b3(base, b"module"), base=base.hex())
    add("derive_chain", "module/atlas", b3(b3(base, b"module"), b"atlas"), base=base.hex())
    add("hashed", "", b3(base), base=base.hex())
    add("from_parts", "a|b|c", b3(b"a", b"b", b"c"))
    for width, n in [(1, 0xAB), (2, 0x1234), (4, 0xDEADBEEF), (8, 2**64 - 1), (16, 2**100 + 7)]:
        add(f"from_u{8 * width}", str(n), bytes(32 - width) + le(n, width))
    return out


UNIVERSE = from_input(b"mosaik.universe")
SEED = from_input(b"coalition.root.v1")
ZERO = bytes(32)


def stable(name: str) -> bytes:
    return b3(b"instance|", name.encode(), b"|", UNIVERSE)


def acl_open() -> bytes:
    return hash_many(b"acl|", le(0, 1), le(0, 4))


def content(preimage: bytes) -> bytes:
    return hash_many(b"content|", preimage)


def refs(items: list[tuple[str, bytes, bytes | None]], with_pin: bool) -> bytes:
    body = le(len(items), 4)
    for role, sid, pin in items:
        body += le(len(role.encode()), 4) + role.encode() + sid
        if with_pin:
            body += pin or ZERO
    return body


def coalition_vectors() -> list[dict[str, Any]]:
    """Fixed configs; the test builds the same configs with the library."""
    cases: list[dict[str, Any]] = []

    # 1. searcher-α: one lattice, one organism, nothing else.
    lattices = [stable("testnet-1a")]
    orgs: list[tuple[str, bytes, bytes | None]] = [
        ("searcher", stable("searcher-α.searcher"), None)
    ]
    root = hash_many(
        b"coalition|",
        le(1, 1),
        b"|",
        SEED,
        b"|",
        "searcher-α".encode(),
        le(len(lattices), 4) + b"".join(lattices),
        refs(orgs, False),
        ZERO,
    )
    pins = le(1, 4) + ZERO
    sid = hash_many(root, ZERO, ZERO, ZERO, ZERO, ZERO, le(0, 1), pins)
    cases.append({"case": "searcher-alpha", "coalition_root": root.hex(), "stable_id": sid.hex()})

    # 2. zero lattices, two organisms (one pinned), an Atlas module, an issuer, LENIENT.
    pin = from_input(b"oracle content v1")
    orgs = [("oracle", stable("o.oracle"), pin), ("ledger", stable("o.ledger"), None)]
    issuer_fp = hash_many(b"ticket-issuer|", le(1, 1), b"|", b"tickets", acl_open())
    root = hash_many(
        b"coalition|",
        le(1, 1),
        b"|",
        SEED,
        b"|",
        b"mixed",
        le(0, 4),
        refs(orgs, False),
        issuer_fp,
    )
    atlas_fp = hash_many(
        b"module|", le(1, 1), b"|", b"atlas", b"|", b"dir", content(b"params"), acl_open()
    )
    sid = hash_many(root, atlas_fp, ZERO, ZERO, ZERO, ZERO, le(1, 1), b"")
    module_root = b3(b3(root, b"module"), b"atlas")
    members = le(0, 4) + refs(orgs, False)
    committee = b3(hash_many(module_root, members, content(b"params"), acl_open()), b"committee")
    cases.append(
        {
            "case": "mixed-lenient",
            "coalition_root": root.hex(),
            "stable_id": sid.hex(),
            "atlas_root": module_root.hex(),
            "atlas_committee": committee.hex(),
            "atlas_content_hash": hash_many(content(b"params"), acl_open()).hex(),
            "ticket_issuer_root": b3(root, b"tickets").hex(),
        }
    )

    # 3. An organism spanning one lattice (pinned) and one organism.
    lat_pin = from_input(b"lattice content")
    org_id = hash_many(
        b"organism|",
        le(1, 1),
        b"|",
        b"accuracy-reputation",
        le(1, 4) + stable("testnet-1a") + lat_pin,
        refs([("searcher", stable("searcher-α.searcher"), None)], True),
        content(b"policy"),
        acl_open(),
    )
    cases.append(
        {
            "case": "organism",
            "organism_id": org_id.hex(),
            "content_hash": hash_many(content(b"policy"), acl_open()).hex(),
            "committee": b3(org_id, b"committee").hex(),
        }
    )
    return cases


def main() -> None:
    (HERE / "unique_id.json").write_text(json.dumps(uid_vectors(), indent=1) + "\n")
    (HERE / "coalition.json").write_text(json.dumps(coalition_vectors(), indent=1) + "\n")


if __name__ == "__main__":
    main()
