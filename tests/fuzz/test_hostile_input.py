"""Every decoder raises only its documented error, whatever the bytes (issue 12, item 2).

The decoders: the canonical `decode` (structs with ids, untyped values), every
protocol message (transport, discovery, streams, groups and Raft), the
coalition handshake (hex and bytes) and the TOML files. Inputs are hostile on
purpose: random bytes, arbitrary MessagePack (non-string keys, odd widths),
nesting from 62 to 100,000 levels, and valid messages truncated, flipped or
with deep nesting or non-string-keyed maps spliced in.

The suite runs a short campaign (``FUZZ_EXAMPLES``, default 150 per decoder);
the long one is the same code with a larger count::

    .venv/bin/python tests/fuzz/test_hostile_input.py --examples 100000

which prints, per decoder, the inputs tried, the failures and the time.
"""

import argparse
import os
import runpy
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coalition.config import HANDSHAKE_MAGIC, CoalitionConfig, HandshakeError
from coalition.config_file import ConfigError, load_coalition, load_organism
from pymosaik.discovery.entry import Departure, PeerEntry, SignedPeerEntry
from pymosaik.discovery.messages import Announce, Depart, DiscoveryMessage, Ping, SyncRequest
from pymosaik.groups.driver import BondHello
from pymosaik.groups.raft.messages import Message
from pymosaik.primitives import (
    MAX_DEPTH,
    UNIVERSE,
    DecodeError,
    SecretKey,
    UniqueId,
    Wire,
    decode,
    encode,
    unique_id,
)
from pymosaik.streams.messages import ConsumerHandshake, SubscriptionAccepted
from pymosaik.tickets import Ticket
from pymosaik.transport import SocketAddr
from pymosaik.transport.identity import MAX_CONTROL_BODY, CloseFrame, Hello

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
ROOT = Path(__file__).resolve().parents[2]
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
#: Inputs each decoder saw in this process (the campaign reports them).
SEEN: dict[str, int] = {}

st.register_type_strategy(UniqueId, st.binary(min_size=32, max_size=32).map(UniqueId))


class Sample(Wire, frozen=True):
    """A canonical type with every kind of position: scalar, id, map, untyped."""

    n: int
    id: UniqueId
    tags: dict[str, int]
    ids: tuple[UniqueId, ...]
    anything: Any


# ---- hostile bytes ----------------------------------------------------------------
_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()
    | st.text(max_size=40)
    | st.binary(max_size=40)
)
#: Arbitrary MessagePack: maps keyed by ints, floats, None and arrays too (via lists->tuples).
_VALUES = st.recursive(
    _LEAVES,
    lambda inner: (
        st.lists(inner, max_size=6)
        | st.dictionaries(st.text(max_size=4) | st.integers(-5, 5) | st.none(), inner, max_size=6)
    ),
    max_leaves=30,
)
_OPENERS = [b"\x91", b"\xdc\x00\x01", b"\x81\xa1k", b"\x81\x01", b"\x94\x01\xa1x\xc4\x00"]


@st.composite
def _deep(draw: st.DrawFn) -> bytes:
    """Nesting from just under the bound to 100,000 levels, in a few encodings."""
    levels = draw(st.integers(MAX_DEPTH - 2, MAX_DEPTH + 2) | st.integers(MAX_DEPTH, 100_000))
    return draw(st.sampled_from(_OPENERS)) * levels + draw(
        st.sampled_from([b"\x90", b"\x80", b"\x01"])
    )


def _id_offsets(seed: bytes) -> list[int]:
    """Where a 32-byte binary (a UniqueId, a key) may start."""
    return [i for i in range(len(seed) - 33) if seed[i : i + 2] == b"\xc4\x20"]


@st.composite
def _mutated(draw: st.DrawFn, seeds: st.SearchStrategy[bytes]) -> bytes:
    """A valid message, truncated, flipped, or with something hostile spliced in."""
    seed = draw(seeds)
    i = draw(st.integers(0, len(seed)))
    j = draw(st.integers(i, len(seed)))
    how = draw(st.sampled_from(["truncate", "flip", "deep", "keys", "bytes", "id"]))
    ids = _id_offsets(seed)
    if how == "id" and ids:  # deep nesting where a UniqueId belongs
        at = draw(st.sampled_from(ids))
        return seed[:at] + draw(_deep()) + seed[at + 34 :]
    if how == "truncate":
        return seed[:i]
    if how == "flip" and seed:
        at = min(i, len(seed) - 1)
        return seed[:at] + bytes([seed[at] ^ draw(st.integers(1, 255))]) + seed[at + 1 :]
    middle = {
        "deep": draw(_deep()),
        "keys": b"\x81\x01\x02",
        "bytes": draw(st.binary(max_size=16)),
    }.get(how, b"")
    return seed[:i] + middle + seed[j:]


def hostile(seeds: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=300),
        _VALUES.map(msgspec.msgpack.encode),
        _deep(),
        _mutated(seeds),
    )


# ---- valid seeds --------------------------------------------------------------------
KEY = SecretKey.from_id(unique_id("fuzz.key"))


def _signed_entry() -> SignedPeerEntry:
    entry = PeerEntry(
        UNIVERSE,
        KEY.peer_id.bytes,
        1,
        2,
        addrs=(SocketAddr("127.0.0.1", 9),),
        tags=(unique_id("t"),),
        groups=(unique_id("g"),),
        tickets=(Ticket(unique_id("jwt"), b"token"),),
    )
    return entry.sign(KEY)


_SIGNED = _signed_entry()


def _discovery_seeds() -> list[bytes]:
    departure = Departure.signed(KEY, UNIVERSE, 1)
    msgs = [Announce((_SIGNED,)), SyncRequest((_SIGNED, _SIGNED)), Ping(1, 2), Depart(departure)]
    return [encode(m) for m in msgs]


def _handshake_seeds() -> list[bytes]:
    files = sorted((ROOT / "examples" / "coalitions").glob("*.toml"))
    return [load_coalition(f).config.to_bytes()[len(HANDSHAKE_MAGIC) :] for f in files]


def _toml_seeds() -> list[str]:
    files = sorted((ROOT / "examples").glob("*/*.toml"))
    return [f.read_text("utf-8") for f in files]


def _encoded(value: Any) -> bytes:
    try:
        return encode(value)
    except OverflowError:  # from_type draws ints past 64 bits
        return b""


def _typed(typ: Any) -> st.SearchStrategy[bytes]:
    return st.from_type(typ).map(_encoded)


# ---- the decoders -----------------------------------------------------------------
def _count(name: str) -> None:
    SEEN[name] = SEEN.get(name, 0) + 1


def _strict(data: bytes, typ: Any, max_size: int | None = None) -> None:
    """Decodes to a value that re-encodes to ``data``, or raises DecodeError; nothing else."""
    try:
        value = decode(data, typ) if max_size is None else decode(data, typ, max_size=max_size)
    except DecodeError:
        return
    assert encode(value) == data


@FUZZ
@given(
    hostile(st.sampled_from([encode(Sample(1, UNIVERSE, {"a": 1}, (UNIVERSE,), [1, {"k": b""}]))]))
)
def test_canonical_decode(data: bytes) -> None:
    _count("canonical")
    for typ in (Sample, dict, list, Any, tuple[UniqueId, ...]):
        _strict(data, typ)


@FUZZ
@given(hostile(st.sampled_from(_discovery_seeds())))
def test_discovery_messages(data: bytes) -> None:
    _count("discovery")
    _strict(data, DiscoveryMessage)


@FUZZ
@given(hostile(_typed(ConsumerHandshake) | _typed(SubscriptionAccepted)))
def test_streams_messages(data: bytes) -> None:
    _count("streams")
    _strict(data, ConsumerHandshake)
    _strict(data, SubscriptionAccepted)


@FUZZ
@given(hostile(_typed(BondHello) | _typed(Message)))
def test_groups_messages(data: bytes) -> None:
    _count("groups")
    _strict(data, BondHello)
    _strict(data, Message)


@FUZZ
@given(hostile(_typed(Hello) | _typed(CloseFrame)))
def test_transport_messages(data: bytes) -> None:
    _count("transport")
    _strict(data, Hello, MAX_CONTROL_BODY)
    _strict(data, CloseFrame, MAX_CONTROL_BODY)


@FUZZ
@given(hostile(st.sampled_from(_handshake_seeds())))
def test_coalition_handshake(data: bytes) -> None:
    _count("coalition hex")
    blob = HANDSHAKE_MAGIC + data
    for parse in (
        lambda: CoalitionConfig.from_bytes(blob),
        lambda: CoalitionConfig.from_hex(blob.hex()),
    ):
        try:
            cfg = parse()
        except HandshakeError:
            continue
        assert cfg.to_bytes() == blob


@st.composite
def _toml_text(draw: st.DrawFn) -> str:
    seed = draw(st.sampled_from(_toml_seeds()))
    i = draw(st.integers(0, len(seed)))
    levels = draw(st.integers(1, 100_000))
    middle = draw(
        st.sampled_from(
            [
                "",
                "x = " + "[" * levels + "1" + "]" * levels + "\n",
                "x = " + "{a = " * levels + "1" + "}" * levels + "\n",
                "[content.params]\nx = " + "[" * min(levels, 500) + "]" * min(levels, 500) + "\n",
                ".".join(["k"] * min(levels, 2000)) + " = 1\n",
            ]
        )
        | st.text(max_size=40)
    )
    return seed[:i] + middle + seed[draw(st.integers(i, len(seed))) :]


_TOML_DIR = Path(tempfile.mkdtemp(prefix="fuzz-toml-"))


@FUZZ
@given(_toml_text() | st.text(max_size=300) | st.binary(max_size=300))
def test_toml_files(text: str | bytes) -> None:
    _count("toml")
    path = _TOML_DIR / "fuzz.toml"
    path.write_bytes(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    for load in (load_coalition, load_organism):
        try:
            load(path)
        except ConfigError:
            continue


# ---- named regressions (each failed before the fix) ---------------------------------
def _nested(levels: int) -> bytes:
    return b"\x91" * (levels - 1) + b"\x90"


@pytest.mark.parametrize(
    ("typ", "max_size"),
    [
        (DiscoveryMessage, None),
        (ConsumerHandshake, None),
        (SubscriptionAccepted, None),
        (BondHello, None),
        (Message, None),
        (Hello, MAX_CONTROL_BODY),
        (CloseFrame, MAX_CONTROL_BODY),
    ],
)
def test_every_protocol_message_refuses_deep_nesting(typ: Any, max_size: int | None) -> None:
    for levels in (1_000, 100_000):
        for blob in (_nested(levels), b"\x92\xa4ping" + _nested(levels), b"\x91" + _nested(levels)):
            with pytest.raises(DecodeError):
                decode(blob[: max_size or len(blob)], typ)


@pytest.mark.parametrize(
    ("typ", "value"),
    [
        (DiscoveryMessage, Announce((_SIGNED,))),
        (BondHello, BondHello(unique_id("g"), b"p" * 32, False, ())),
        (ConsumerHandshake, ConsumerHandshake(UNIVERSE, unique_id("s"))),
        (SubscriptionAccepted, SubscriptionAccepted(unique_id("s"))),
    ],
)
def test_an_id_position_holding_deep_nesting_is_refused(typ: Any, value: Any) -> None:
    """The reported crash: 100,000 nested arrays where a UniqueId belongs (group_id, network_id)."""
    seed = encode(value)
    at = _id_offsets(seed)[0]
    with pytest.raises(DecodeError, match="Expected `bytes`, got `array`"):
        decode(seed[:at] + _nested(100_000) + seed[at + 34 :], typ)


@pytest.mark.parametrize("nest", ["[" * 5_000 + "]" * 5_000, "{a = " * 3_000 + "1" + "}" * 3_000])
def test_deep_toml_is_a_config_error(tmp_path: Path, nest: str) -> None:
    path = tmp_path / "deep.toml"
    path.write_text(f"x = {nest}\n", "utf-8")
    for load in (load_coalition, load_organism):
        with pytest.raises(ConfigError, match="nested deeper than"):
            load(path)


def test_content_params_deeper_than_the_decoder_reads_are_refused(tmp_path: Path) -> None:
    text = (ROOT / "examples" / "organisms" / "oracle.toml").read_text("utf-8")
    assert "[content.params]" in text
    deep = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    path = tmp_path / "deep.toml"
    path.write_text(text.replace("[content.params]", f"[content.params]\ndeep = {deep}"), "utf-8")
    # the file's own bound (32 levels) is met before the decoder's (64)
    with pytest.raises(ConfigError, match=r"nest(s|ed) deeper than"):
        load_organism(path)


# ---- the long campaign ---------------------------------------------------------------
CAMPAIGN: dict[str, str] = {
    "canonical": "test_canonical_decode",
    "discovery": "test_discovery_messages",
    "streams": "test_streams_messages",
    "groups": "test_groups_messages",
    "transport": "test_transport_messages",
    "coalition hex": "test_coalition_handshake",
    "toml": "test_toml_files",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=100_000, help="inputs per decoder")
    parser.add_argument("--only", nargs="*", default=list(CAMPAIGN), choices=list(CAMPAIGN))
    args = parser.parse_args()
    # The settings are fixed at import: load this file afresh with the campaign's count.
    os.environ["FUZZ_EXAMPLES"] = str(args.examples)
    tests: dict[str, Any] = runpy.run_path(__file__, run_name="fuzz_campaign")
    print(f"{'decoder':14} {'inputs':>8} {'failures':>8} {'seconds':>8}", flush=True)
    failed = 0
    for name in args.only:
        test: Callable[[], None] = tests[CAMPAIGN[name]]
        start = time.perf_counter()
        failure = ""
        try:
            test()
        except Exception as exc:  # reported, then the next decoder runs
            failure = f"{type(exc).__name__}: {str(exc)[:300]}"
        elapsed = time.perf_counter() - start
        failed += bool(failure)
        seen = tests["SEEN"].get(name, 0)
        print(f"{name:14} {seen:8} {int(bool(failure)):8} {elapsed:8.1f}", flush=True)
        if failure:
            print(f"  first failure (shrunk): {failure}", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
