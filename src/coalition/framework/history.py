"""Resolving evidence pointers into keyed surfaces, from their full history.

A composite organism cites what it saw on a spanned member: an `EvidencePointer`
names a frame on a stream surface, which a member forgets after 256 frames. A
`KeyedPointer` names one version of one key (or element) on a keyed surface —
surface id, encoded key, the surface's ``seq`` of that version, and the
`evidence_digest` of its bytes — and keyed surfaces keep every version, so the
pointer resolves for as long as anyone replicates the member's log: on a
replay months later as on the day it was cited.

`HistoryResolver` holds the keyed surfaces a node replicates (the store of one
`KeyedReader` per spanned member) and answers a pointer with the exact bytes it named,
checked against the digest, or a clear error: the surface is not read here,
the version is not (yet) there, or the history says something else.
"""

from __future__ import annotations

import asyncio

from pymosaik.primitives import UniqueId

from .errors import OrganismError
from .keyed import KeyedPointer, KeyedStore, SurfaceLog

__all__ = ["EvidenceMismatch", "EvidenceUnavailable", "HistoryResolver", "KeyedPointer"]


class EvidenceUnavailable(OrganismError):  # noqa: N818 - reads as a state
    """The pointer names a surface not read here, or a version not replicated yet."""


class EvidenceMismatch(OrganismError):  # noqa: N818 - reads as a verdict
    """The surface's history holds something other than what the pointer names."""


class HistoryResolver:
    """Resolves `KeyedPointer`s against the keyed surfaces this node replicates."""

    def __init__(self) -> None:
        self._logs: dict[UniqueId, SurfaceLog] = {}

    def follow(self, store: KeyedStore) -> None:
        """Resolve pointers into every surface of ``store`` (a `KeyedReader`'s, say)."""
        self._logs.update(store.logs)

    def resolve(self, pointer: KeyedPointer) -> bytes | None:
        """The exact value bytes the pointer names (None: it names a removal)."""
        log = self._logs.get(pointer.surface)
        if log is None:
            raise EvidenceUnavailable(f"surface {pointer.surface.short()} is not read here")
        if not 0 <= pointer.seq < len(log.entries):
            raise EvidenceUnavailable(
                f"surface {pointer.surface.short()} has {len(log.entries)} versions here;"
                f" seq {pointer.seq} is not there (yet)"
            )
        entry = log.entries[pointer.seq]
        if entry.key != pointer.key:
            raise EvidenceMismatch(
                f"seq {pointer.seq} of surface {pointer.surface.short()} is another key"
            )
        if entry.digest() != pointer.digest:
            raise EvidenceMismatch(
                f"seq {pointer.seq} of surface {pointer.surface.short()} has other bytes"
                " than the pointer's digest"
            )
        return entry.value

    async def wait(self, pointer: KeyedPointer, timeout_s: float) -> bytes | None:
        """`resolve`, waiting up to ``timeout_s`` for a version not replicated yet."""
        log = self._logs.get(pointer.surface)
        if log is not None:
            try:
                async with asyncio.timeout(timeout_s):
                    while len(log.entries) <= pointer.seq:
                        await log.changed()
            except TimeoutError:
                pass
        return self.resolve(pointer)
