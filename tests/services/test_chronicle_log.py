"""Chronicle hash chain, signatures and tamper detection (with a real EVM anchor)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coalition import AtSequence, ComponentRef, ModuleKind, OrganismRef, RetirementMarker
from coalition.identity import ZERO_ID
from coalition.services.anchor import EvmAnchor
from coalition.services.chronicle_log import (
    ChronicleEntry,
    CoalitionPublished,
    MembershipChanged,
    ModuleRetired,
    Other,
    check_against_anchor,
    check_against_archive,
    verify_chain,
)
from pymosaik.primitives import DecodeError, SecretKey, UniqueId, decode, encode

COMMITTEE = [SecretKey.from_id(UniqueId.from_u8(i)) for i in range(1, 4)]
MEMBER = SecretKey.from_id(UniqueId.from_u8(9))
FP = UniqueId.hash("coalition fingerprint")


def build_log(n: int, *, kinds: list[object] | None = None) -> list[ChronicleEntry]:
    entries: list[ChronicleEntry] = []
    prev = ZERO_ID
    for seq in range(n):
        kind = (kinds or [])[seq] if kinds and seq < len(kinds) else Other(f"event-{seq}", b"")
        e = ChronicleEntry(seq, kind, FP, prev, 1_700_000_000_000 + seq)  # type: ignore[arg-type]
        e = e.with_member_signature(MEMBER)
        for key in COMMITTEE[:2]:
            e = e.with_quorum_signature(key)
        entries.append(e)
        prev = e.digest()
    return entries


def rewrite(entries: list[ChronicleEntry], seq: int) -> list[ChronicleEntry]:
    """A compromised committee rewrites entry ``seq`` and re-links and re-signs the rest."""
    out = list(entries[:seq])
    prev = out[-1].digest() if out else ZERO_ID
    for e in entries[seq:]:
        kind = Other("forged", b"") if e.seq == seq else e.kind
        fresh = ChronicleEntry(e.seq, kind, e.coalition, prev, e.committed_at_ms)
        for key in COMMITTEE[:2]:
            fresh = fresh.with_quorum_signature(key)
        out.append(fresh)
        prev = fresh.digest()
    return out


def test_chain_links_and_signatures() -> None:
    log = build_log(5)
    assert verify_chain(log) is None
    assert all(e.has_quorum([k.peer_id for k in COMMITTEE]) for e in log)
    assert log[3].signers(log[3].member_signatures) == {MEMBER.peer_id.bytes}
    one_sig = ChronicleEntry(0, Other("x"), FP, ZERO_ID, 0).with_quorum_signature(COMMITTEE[0])
    assert not one_sig.has_quorum([k.peer_id for k in COMMITTEE])


def test_signature_does_not_cover_other_digests() -> None:
    _, b = build_log(2)
    forged = ChronicleEntry(
        b.seq, Other("forged"), b.coalition, b.prev, b.committed_at_ms, b.member_signatures
    )
    assert forged.signers(forged.member_signatures) == set()


def test_structural_breaks_detected() -> None:
    log = build_log(4)
    assert verify_chain([log[0], log[2]]) is not None  # gap
    relinked = ChronicleEntry(2, Other("x"), FP, UniqueId.hash("wrong"), 0)
    report = verify_chain([log[0], log[1], relinked])
    assert report is not None and report.seq == 2


def test_rewrite_detected_by_the_anchor() -> None:
    anchor = EvmAnchor.in_process()
    chronicle = UniqueId.hash("chronicle")
    anchor.register(chronicle)
    log = build_log(10)
    for seq in (3, 7):  # cadence boundaries
        anchor.anchor(chronicle, seq, log[seq].digest())
    anchored = [(s, anchor.digest_at(chronicle, s)) for s in (3, 7)]
    assert check_against_anchor(log, anchored) is None  # type: ignore[arg-type]
    forged = rewrite(log, 5)
    assert verify_chain(forged) is None  # internally consistent...
    report = check_against_anchor(forged, anchored)  # type: ignore[arg-type]
    assert report is not None and report.seq == 7  # ...but the next anchor disagrees
    # A rewrite before the last anchor is caught at the first anchor that covers it.
    report = check_against_anchor(rewrite(log, 1), anchored)  # type: ignore[arg-type]
    assert report is not None and report.seq == 3


def test_rewrite_detected_by_an_ex_members_archive() -> None:
    log = build_log(8)
    archive = list(log)  # what the member kept while it was a member
    forged = rewrite(log, 6)
    report = check_against_archive(forged, archive, MEMBER.peer_id)
    assert report is not None and report.seq == 6
    assert check_against_archive(log, archive, MEMBER.peer_id) is None
    # An archive the ex-member did not sign proves nothing.
    stranger = SecretKey.from_id(UniqueId.from_u8(77)).peer_id
    assert check_against_archive(forged, archive, stranger) is None
    # Deleting a signed entry is also caught.
    report = check_against_archive(log[:5], archive, MEMBER.peer_id)
    assert report is not None and report.seq == 5


def test_entry_round_trip_with_every_kind() -> None:
    marker = RetirementMarker.rotation(
        AtSequence(9), ComponentRef.organism(OrganismRef.by_stable_id("o", UniqueId.from_u8(5)))
    )
    kinds = [
        CoalitionPublished(FP, b"COAL..."),
        ModuleRetired(ModuleKind.ATLAS, marker),
        MembershipChanged(FP, (UniqueId.from_u8(1),), ()),
        Other("custom", b"\x01"),
    ]
    for e in build_log(4, kinds=kinds):
        assert decode(encode(e), ChronicleEntry) == e


@settings(max_examples=200)
@given(st.binary(max_size=400))
def test_fuzz_entry_decoder(data: bytes) -> None:
    try:
        e = decode(data, ChronicleEntry)
    except DecodeError:
        return
    assert encode(e) == data


def test_bad_tag_rejected() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        Other("")
