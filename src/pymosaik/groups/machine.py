"""The replicated state machine interface (mosaik `StateMachine`), bytes in and out.

Commands and queries cross the Raft core as canonical bytes; typed wrappers
(collections, organisms) decode them. ``apply`` must be deterministic: the same
commands in the same order give the same results and state on every node, so it
may use only the command and the :class:`ApplyContext` — no clock, no randomness.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..primitives import UniqueId, unique_id


@dataclass(frozen=True, slots=True)
class ApplyContext:
    """Deterministic metadata about the entry being applied."""

    index: int
    term: int
    #: Commit index the node had learned when this entry was applied.
    committed: int


class StateMachine(Protocol):
    def signature(self) -> UniqueId:
        """Identifies the machine's semantics; part of the GroupId."""
        ...

    def apply(self, command: bytes, ctx: ApplyContext) -> bytes:
        """Apply one committed command and return its result.

        Must not raise: a command the machine cannot parse is still committed on
        every node, so it must yield the same error result everywhere.
        """
        ...

    def query(self, query: bytes) -> bytes:
        """Answer a read-only query against the current state."""
        ...

    def snapshot(self) -> bytes:
        """Canonical image of the whole state (for log compaction)."""
        ...

    def restore(self, data: bytes) -> None:
        """Replace the state with a snapshot image."""
        ...


class NoOp:
    """The machine of leader-election-only groups: every command and query is empty."""

    def signature(self) -> UniqueId:
        return unique_id("mosaik.groups.noop")

    def apply(self, command: bytes, ctx: ApplyContext) -> bytes:
        return b""

    def query(self, query: bytes) -> bytes:
        return b""

    def snapshot(self) -> bytes:
        return b""

    def restore(self, data: bytes) -> None:
        return None
