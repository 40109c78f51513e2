"""Chronicle entries, their hash chain, and the tamper checks (pure; no I/O).

Each entry names its predecessor's digest, so the digest of entry *n* commits
to the whole log up to *n*. Members and the committee sign that digest. Two
independent witnesses make a rewrite detectable (book: "tamper-evidence holds
while either the on-chain anchor path is uncompromised, or at least one honest
ex-member's signed archive survives"):

* the external anchor holds the chain head at cadence boundaries;
* an ex-member's archive holds entries it signed while it was a member.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, TypeAlias

from pymosaik.primitives import PeerId, SecretKey, UniqueId, Wire, encode

from ..identity import ZERO_ID, check_name, hash_many
from ..modules import ModuleKind
from ..retirement import ComponentRef, RetirementMarker

__all__ = [
    "MEMBER_KINDS",
    "Advisory",
    "Challenge",
    "ChronicleEntry",
    "ChronicleKind",
    "CoalitionPublished",
    "EntrySignature",
    "Heartbeat",
    "MembershipChanged",
    "ModuleRetired",
    "OrganismRetired",
    "Other",
    "TamperReport",
    "TicketIssuerRotated",
    "chain_head",
    "check_against_anchor",
    "check_against_archive",
    "member_kind_problem",
    "verify_chain",
]

ENTRY_SCHEMA_VERSION: Final = 1


class CoalitionPublished(Wire, frozen=True, tag="coalition-published"):
    """A CoalitionConfig was published: its fingerprint and handshake bytes."""

    stable_id: UniqueId
    handshake: bytes


class OrganismRetired(Wire, frozen=True, tag="organism-retired"):
    component: ComponentRef
    marker: RetirementMarker


class ModuleRetired(Wire, frozen=True, tag="module-retired"):
    module: ModuleKind
    marker: RetirementMarker


class TicketIssuerRotated(Wire, frozen=True, tag="ticket-issuer-rotated"):
    previous_root: UniqueId | None
    new_root: UniqueId | None


class MembershipChanged(Wire, frozen=True, tag="membership-changed"):
    previous: UniqueId  # the coalition fingerprint before the change
    added: tuple[UniqueId, ...]
    removed: tuple[UniqueId, ...]


class Other(Wire, frozen=True, tag="other"):
    """An operator-defined entry: a tag and an opaque canonical payload."""

    name: str
    data: bytes = b""

    def __post_init__(self) -> None:
        check_name("chronicle tag", self.name)


#: Member kinds (D11): appended by any member or agent holding a Chronicle writer ticket, not
#: only by the coalition operator. Each names its signer, who must be the append's signer.
MAX_NOTE: Final = 1024
MAX_EVIDENCE: Final = 16 * 1024


class Heartbeat(Wire, frozen=True, tag="heartbeat"):
    """A member says it is alive (and, optionally, what it is doing)."""

    signer: bytes
    note: str = ""


class Challenge(Wire, frozen=True, tag="challenge"):
    """A member disputes something verifiable: ``subject`` names it (e.g. a beacon's round in a
    surface), ``reason`` says what failed, ``evidence`` carries the bytes that show it."""

    signer: bytes
    subject: str
    reason: str
    evidence: bytes = b""


class Advisory(Wire, frozen=True, tag="advisory"):
    """A member warns the coalition (a bad share seen, a provider misbehaving, …)."""

    signer: bytes
    topic: str
    text: str
    evidence: bytes = b""


MEMBER_KINDS: Final = (Heartbeat, Challenge, Advisory)


def member_kind_problem(kind: Heartbeat | Challenge | Advisory) -> str | None:
    """Why a member entry is malformed (sizes), or None."""
    texts = [kind.note] if isinstance(kind, Heartbeat) else []
    if isinstance(kind, Challenge):
        texts = [kind.subject, kind.reason]
    if isinstance(kind, Advisory):
        texts = [kind.topic, kind.text]
    if any(len(t.encode()) > MAX_NOTE for t in texts):
        return f"a member entry's texts are at most {MAX_NOTE} bytes"
    if not isinstance(kind, Heartbeat) and len(kind.evidence) > MAX_EVIDENCE:
        return f"evidence is at most {MAX_EVIDENCE} bytes"
    return None


ChronicleKind: TypeAlias = (
    CoalitionPublished
    | OrganismRetired
    | ModuleRetired
    | TicketIssuerRotated
    | MembershipChanged
    | Other
    | Heartbeat
    | Challenge
    | Advisory
)


class EntrySignature(Wire, frozen=True):
    """An Ed25519 signature by ``signer`` over an entry digest."""

    signer: bytes  # 32-byte PeerId
    signature: bytes

    def verify(self, digest: UniqueId) -> bool:
        try:
            peer = PeerId(self.signer)
        except ValueError:
            return False
        return peer.verify(self.signature, _signing_message(digest))


def _signing_message(digest: UniqueId) -> bytes:
    return b"mosaik.chronicle.entry.v1|" + digest.bytes


class ChronicleEntry(Wire, frozen=True):
    """One Chronicle commit. ``digest()`` covers everything but the signatures."""

    seq: int
    kind: ChronicleKind
    coalition: UniqueId  # the coalition fingerprint at commit time
    prev: UniqueId  # digest of entry seq-1; ZERO_ID for seq 0
    committed_at_ms: int
    member_signatures: tuple[EntrySignature, ...] = ()
    quorum_signatures: tuple[EntrySignature, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.seq < 2**64:
            raise ValueError("chronicle seq must fit in u64")

    def body(self) -> bytes:
        """The signed part: schema, seq, kind, coalition, prev, time (canonical encoding)."""
        return encode(
            (
                ENTRY_SCHEMA_VERSION,
                self.seq,
                self.kind,
                self.coalition,
                self.prev,
                self.committed_at_ms,
            )
        )

    def digest(self) -> UniqueId:
        return hash_many([b"chronicle-entry|", self.body()])

    def sign(self, key: SecretKey) -> EntrySignature:
        return EntrySignature(key.peer_id.bytes, key.sign(_signing_message(self.digest())))

    def with_member_signature(self, key: SecretKey) -> ChronicleEntry:
        return _replace_sigs(self, members=(*self.member_signatures, self.sign(key)))

    def with_quorum_signature(self, key: SecretKey) -> ChronicleEntry:
        return _replace_sigs(self, quorum=(*self.quorum_signatures, self.sign(key)))

    def signers(self, sigs: Iterable[EntrySignature]) -> set[bytes]:
        """Distinct signers whose signature over this entry's digest verifies."""
        digest = self.digest()
        return {s.signer for s in sigs if s.verify(digest)}

    def has_quorum(self, committee: Sequence[PeerId]) -> bool:
        """A strict majority of the committee signed this digest."""
        members = {p.bytes for p in committee}
        return len(self.signers(self.quorum_signatures) & members) * 2 > len(members)


def _replace_sigs(
    e: ChronicleEntry,
    *,
    members: tuple[EntrySignature, ...] | None = None,
    quorum: tuple[EntrySignature, ...] | None = None,
) -> ChronicleEntry:
    return ChronicleEntry(
        e.seq,
        e.kind,
        e.coalition,
        e.prev,
        e.committed_at_ms,
        e.member_signatures if members is None else members,
        e.quorum_signatures if quorum is None else quorum,
    )


@dataclass(frozen=True)
class TamperReport:
    """The first sequence number at which a log disagrees with a witness, and why."""

    seq: int
    reason: str


def verify_chain(entries: Sequence[ChronicleEntry]) -> TamperReport | None:
    """Sequence numbers are contiguous from the first entry and each names its predecessor."""
    for i, entry in enumerate(entries):
        if i == 0:
            if entry.seq == 0 and entry.prev != ZERO_ID:
                return TamperReport(0, "first entry must have a zero predecessor")
            continue
        before = entries[i - 1]
        if entry.seq != before.seq + 1:
            return TamperReport(entry.seq, f"sequence gap after {before.seq}")
        if entry.prev != before.digest():
            return TamperReport(entry.seq, "predecessor digest does not match")
    return None


def chain_head(entries: Sequence[ChronicleEntry], seq: int) -> UniqueId | None:
    """The digest of entry ``seq`` (which commits to every entry before it)."""
    for entry in entries:
        if entry.seq == seq:
            return entry.digest()
    return None


def check_against_anchor(
    entries: Sequence[ChronicleEntry], anchored: Iterable[tuple[int, UniqueId]]
) -> TamperReport | None:
    """Compare the log with the (seq, head digest) pairs an external anchor holds."""
    broken = verify_chain(entries)
    if broken:
        return broken
    for seq, digest in sorted(anchored):
        head = chain_head(entries, seq)
        if head is None:
            return TamperReport(seq, "anchored entry is missing from the log")
        if head != digest:
            return TamperReport(seq, "log head differs from the anchored digest")
    return None


def check_against_archive(
    entries: Sequence[ChronicleEntry], archive: Sequence[ChronicleEntry], ex_member: PeerId
) -> TamperReport | None:
    """Compare the log with entries an ex-member signed while it was a member.

    Only archive entries carrying a valid signature of ``ex_member`` count as
    evidence (an archive is no better than the key that signed it).
    """
    broken = verify_chain(entries)
    if broken:
        return broken
    by_seq = {e.seq: e for e in entries}
    for old in archive:
        signed = ex_member.bytes in old.signers((*old.member_signatures, *old.quorum_signatures))
        if not signed:
            continue
        current = by_seq.get(old.seq)
        if current is None:
            return TamperReport(old.seq, "entry signed by the ex-member is missing")
        if current.digest() != old.digest():
            return TamperReport(old.seq, "entry differs from the ex-member's signed copy")
    return None
