"""Pure framework machines: surface sequencing and retirement, Chronicle sealing, evidence."""

from __future__ import annotations

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from coalition.framework import EvidenceBook, EvidencePointer, evidence_digest
from coalition.framework.surface import (
    Frame,
    Published,
    Retire,
    Retirement,
    SurfaceMachine,
    SurfaceResult,
    Wrapped,
)
from coalition.identity import hash_many
from coalition.retirement import AtSequence, RetirementMarker
from coalition.services.chronicle import Anchored, Append, ChronicleMachine, ChronicleResult, Sign
from coalition.services.chronicle_log import Other, verify_chain
from organisms.feed import FeedMachine, _Post
from pymosaik.groups import ApplyContext
from pymosaik.primitives import SecretKey, UniqueId, decode, encode

CTX = ApplyContext(1, 1, 1)
SURFACE = UniqueId.hash("surface under test")


def feed_surface() -> tuple[SurfaceMachine, list[Frame]]:
    frames: list[Frame] = []
    m = SurfaceMachine(SURFACE, FeedMachine(), lambda r: [r] if r else [])
    m.on_frame = frames.append
    return m, frames


def post(payload: bytes) -> bytes:
    return encode(_Post(payload, 0))


def run(m: SurfaceMachine, cmd: object) -> SurfaceResult:
    return decode(m.apply(encode(cmd), CTX), SurfaceResult)


def test_frames_are_gap_free_and_requests_apply_once() -> None:
    m, frames = feed_surface()
    rid = UniqueId.hash("request 1")
    first = run(m, Wrapped(post(b"a"), rid))
    again = run(m, Wrapped(post(b"a"), rid))  # a second member forwarding the same request
    run(m, Wrapped(post(b"b")))
    assert first == again
    assert [f.seq for f in frames] == [0, 1]
    assert all(isinstance(f.content, Published) for f in frames)


def test_retirement_is_the_last_frame_and_refuses_everything_after() -> None:
    m, frames = feed_surface()
    run(m, Wrapped(post(b"a")))
    marker = RetirementMarker.retired(AtSequence(1))
    assert run(m, Retire(marker)).ok
    refused = run(m, Wrapped(post(b"late")))
    assert not refused.ok and refused.reason == "retired"
    assert not run(m, Retire(marker)).ok
    assert len(frames) == 2
    last = frames[-1].content
    assert isinstance(last, Retirement)
    # the committed marker is the proposed one plus a pointer at the surface's last frame (D11)
    assert msgspec.structs.replace(last.marker, evidence=()) == marker
    (evidence,) = last.marker.evidence
    assert (evidence.surface, evidence.seq) == (frames[0].surface, frames[0].seq)
    assert evidence.digest == hash_many([b"frame|", encode(frames[0])])


def test_malformed_command_is_a_result_not_a_crash() -> None:
    m, _ = feed_surface()
    res = decode(m.apply(b"\xff\x00garbage", CTX), SurfaceResult)
    assert not res.ok and "malformed" in res.reason


@given(st.lists(st.tuples(st.binary(max_size=16), st.booleans()), max_size=30))
def test_snapshot_restore_gives_the_same_machine(ops: list[tuple[bytes, bool]]) -> None:
    m, _ = feed_surface()
    for i, (payload, dup) in enumerate(ops):
        rid = UniqueId.hash(str(i // 2 if dup else i))
        run(m, Wrapped(post(payload), rid))
    copy, frames = feed_surface()
    copy.restore(m.snapshot())
    assert copy.snapshot() == m.snapshot()
    assert copy.next_seq == m.next_seq
    if m.last_frame is not None:
        assert frames == [m.last_frame]  # a restored member republishes its newest frame


# ---- Chronicle ------------------------------------------------------------------------
KEYS = [SecretKey.generate() for _ in range(3)]
OPERATOR = SecretKey.generate()
COALITION = UniqueId.hash("coalition fingerprint")


def chronicle() -> ChronicleMachine:
    return ChronicleMachine(COALITION, [k.peer_id for k in KEYS], [OPERATOR.peer_id])


def apply(m: ChronicleMachine, cmd: object) -> ChronicleResult:
    return decode(m.apply(encode(cmd)), ChronicleResult)


def test_chronicle_appends_only_operator_signed_entries() -> None:
    m = chronicle()
    assert apply(m, Append.signed(OPERATOR, Other("a"), 1)).ok
    rogue = apply(m, Append.signed(SecretKey.generate(), Other("b"), 2))
    assert not rogue.ok and "operator" in rogue.reason
    forged = Append(Other("c"), 3, OPERATOR.peer_id.bytes, b"\x00" * 64)
    assert not apply(m, forged).ok
    assert len(m.entries) == 1 and m.entries[0].coalition == COALITION


def test_chronicle_seals_in_order_on_a_majority() -> None:
    m = chronicle()
    for i in range(2):
        apply(m, Append.signed(OPERATOR, Other(f"e{i}"), i))
    e0, e1 = m.entries
    # entry 1 reaches a majority first: nothing is published until entry 0 does too
    assert apply(m, Sign(1, e1.sign(KEYS[0]))).entries == ()
    assert apply(m, Sign(1, e1.sign(KEYS[1]))).entries == ()
    assert apply(m, Sign(0, e0.sign(KEYS[2]))).entries == ()
    sealed = apply(m, Sign(0, e0.sign(KEYS[0]))).entries
    assert [e.seq for e in sealed] == [0, 1]
    assert all(e.has_quorum([k.peer_id for k in KEYS]) for e in sealed)
    assert verify_chain(sealed) is None
    outsider = apply(m, Sign(0, e0.sign(SecretKey.generate())))
    assert not outsider.ok
    wrong_digest = apply(m, Sign(0, e1.sign(KEYS[1])))
    assert not wrong_digest.ok and wrong_digest.reason == "bad signature"


def test_chronicle_anchors_only_sealed_heads() -> None:
    m = chronicle()
    apply(m, Append.signed(OPERATOR, Other("x"), 0))
    head = m.entries[0]
    assert not apply(m, Anchored(0, head.digest(), "0x01")).ok  # not sealed yet
    for k in KEYS[:2]:
        apply(m, Sign(0, head.sign(k)))
    sealed_head = m.entries[0]
    assert not apply(m, Anchored(0, UniqueId.hash("other"), "0x02")).ok
    assert apply(m, Anchored(0, sealed_head.digest(), "0x03")).ok
    assert m.anchored == [(0, sealed_head.digest())]
    copy = chronicle()
    copy.restore(m.snapshot())
    assert copy.snapshot() == m.snapshot()


# ---- evidence ---------------------------------------------------------------------------
def test_evidence_book_refuses_conflicts_and_outsiders() -> None:
    a, b = UniqueId.hash("a"), UniqueId.hash("b")
    book = EvidenceBook([a, b])
    p = EvidencePointer(a, 1, 5, evidence_digest(b"item"))
    assert book.record(p) is None and book.resolves(p)
    assert book.record(p) == "evidence already observed"
    conflict = EvidencePointer(a, 1, 5, evidence_digest(b"other item"))
    assert book.record(conflict) == "conflicting evidence for an already observed commit"
    assert not book.resolves(conflict)
    assert "does not span" in (
        book.record(EvidencePointer(UniqueId.hash("c"), 1, 0, p.digest)) or ""
    )
    restored = EvidenceBook([a, b])
    restored.restore(book.image())
    assert restored.resolves(p) and restored.image() == book.image()


def test_a_resend_after_retirement_gets_its_original_answer() -> None:
    m, _ = feed_surface()
    rid = UniqueId.hash("late reply")
    first = run(m, Wrapped(post(b"a"), rid))
    run(m, Retire(RetirementMarker.retired(AtSequence(1))))
    assert run(m, Wrapped(post(b"a"), rid)) == first  # committed before retiring: say so
    assert run(m, Wrapped(post(b"a"), UniqueId.hash("new"))).reason == "retired"


def test_a_replayed_signed_append_is_refused() -> None:
    m = chronicle()
    append = Append.signed(OPERATOR, Other("once"), 5)
    assert apply(m, append).ok
    replay = apply(m, append)
    assert not replay.ok and "already recorded" in replay.reason
    copy = chronicle()
    copy.restore(m.snapshot())
    assert not apply(copy, append).ok and len(copy.entries) == 1
