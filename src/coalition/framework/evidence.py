"""Evidence pointers: what a composite organism's decisions cite, checked on every replay.

An ``Observe`` command carries a pointer (which spanned member, which clock
event, which commit on that member's surface, and the digest of what was
seen). The machine records it; an ``Apply`` may only cite pointers it has
recorded. Because the check is part of ``apply``, a node replaying the log
rejects the same unresolvable pointers the leader rejected: evidence cannot be
invented after the fact.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from pymosaik.primitives import UniqueId, Wire

from ..identity import hash_many

__all__ = ["EvidenceBook", "EvidencePointer", "evidence_digest"]

#: Pointers remembered per member (older ones can no longer be cited).
MEMORY_PER_MEMBER: Final = 1024


class EvidencePointer(Wire, frozen=True):
    member: UniqueId  # the spanned member's stable id
    clock_event: int  # the Almanac tick the observation belongs to
    commit: int  # the frame sequence number on the member's public surface
    digest: UniqueId  # evidence_digest of the observed item's bytes


def evidence_digest(body: bytes) -> UniqueId:
    return hash_many([b"evidence|", body])


class EvidenceBook:
    """Deterministic record of the pointers a committee has accepted."""

    def __init__(self, spanned: Iterable[UniqueId]) -> None:
        self.spanned = frozenset(spanned)
        self._seen: dict[UniqueId, dict[int, EvidencePointer]] = {m: {} for m in self.spanned}
        self._last_commit: dict[UniqueId, int] = {}

    def record(self, pointer: EvidencePointer) -> str | None:
        """Accept a new pointer, or say why not (the refusal is itself deterministic)."""
        if pointer.member not in self.spanned:
            return "evidence from a member this organism does not span"
        last = self._last_commit.get(pointer.member)
        if last is not None and pointer.commit <= last:
            known = self._seen[pointer.member].get(pointer.commit)
            if known is not None and known != pointer:
                return "conflicting evidence for an already observed commit"
            return "evidence already observed"
        seen = self._seen[pointer.member]
        seen[pointer.commit] = pointer
        self._last_commit[pointer.member] = pointer.commit
        while len(seen) > MEMORY_PER_MEMBER:
            del seen[next(iter(seen))]
        return None

    def last_observed(self, member: UniqueId) -> int | None:
        return self._last_commit.get(member)

    def resolves(self, pointer: EvidencePointer) -> bool:
        return self._seen.get(pointer.member, {}).get(pointer.commit) == pointer

    def image(self) -> tuple[EvidencePointer, ...]:
        return tuple(p for member in sorted(self._seen) for p in self._seen[member].values())

    def restore(self, pointers: Iterable[EvidencePointer]) -> None:
        self._seen = {m: {} for m in self.spanned}
        self._last_commit = {}
        for p in pointers:
            self.record(p)
