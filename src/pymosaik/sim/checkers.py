"""Raft safety checkers fed by the simulator with global knowledge.

Election safety, leader completeness, state-machine safety, log matching,
"no acknowledged write lost" and, for the bit-flip disk fault, "no damaged entry
used" (applied or sent as the damaged disk returned it). Each finding is a
:class:`Violation`. Checkers read logs as written (damage unseen).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from ..groups.raft.events import Applied
from ..groups.raft.log import LogEntry
from .kernel import Violation


class LogView(Protocol):
    """The read side of a log that the checkers need."""

    def first_index(self) -> int: ...

    def last_index(self) -> int: ...

    def term_at(self, index: int) -> int | None: ...

    def entries(self, low: int, high: int) -> list[LogEntry]: ...


@dataclass(frozen=True, slots=True)
class _Committed:
    term: int
    command: bytes
    #: Term of the first node seen applying it (the committing leader's term).
    commit_term: int
    node: str


class SafetyChecker:
    """Accumulates the run's global facts and reports invariant violations."""

    def __init__(self, report: Callable[[Violation], None]) -> None:
        self._report = report
        self.leaders: dict[int, str] = {}
        self.committed: dict[int, _Committed] = {}
        self.acked: list[tuple[int, int, bytes, str]] = []

    def on_leader(self, now: int, node: str, term: int, storage: LogView) -> None:
        """Election safety and leader completeness, checked at each election win."""
        other = self.leaders.get(term)
        if other is not None and other != node:
            self._report(
                Violation("election-safety", f"{other} and {node} both lead term {term}", now)
            )
        self.leaders.setdefault(term, node)
        floor = storage.first_index() - 1
        for index, entry in self.committed.items():
            if index <= floor or entry.commit_term >= term:
                continue
            if storage.term_at(index) != entry.term:
                self._report(
                    Violation(
                        "leader-completeness",
                        f"{node} leads term {term} without entry {index} "
                        f"(term {entry.term}) committed in term {entry.commit_term}",
                        now,
                    )
                )
                return

    def on_apply(self, now: int, node: str, node_term: int, applied: Applied) -> None:
        """State-machine safety: one command per index, whoever applies it."""
        known = self.committed.get(applied.index)
        if known is None:
            self.committed[applied.index] = _Committed(
                applied.term, applied.command, node_term, node
            )
        elif known.term != applied.term or known.command != applied.command:
            self._report(
                Violation(
                    "state-machine-safety",
                    f"index {applied.index}: {known.node} applied term {known.term}, "
                    f"{node} applied term {applied.term}",
                    now,
                )
            )

    def on_entry_used(
        self,
        now: int,
        node: str,
        *,
        how: str,
        index: int,
        entry: LogEntry,
        damaged: Mapping[int, LogEntry],
    ) -> None:
        """Bit-flip checker: ``node`` applied or sent ``entry`` at ``index``; not as damaged."""
        bad = damaged.get(index)
        if bad is not None and bad == entry:
            self._report(
                Violation(
                    "damaged-entry-used",
                    f"{node} {how} index {index} as its disk damaged it (checksum ignored)",
                    now,
                )
            )

    def on_ack(self, index: int, term: int, command: bytes, client: str) -> None:
        """A client was told its command committed at ``index``."""
        self.acked.append((index, term, command, client))

    def finish(self, now: int, logs: Mapping[str, LogView], converged: bool) -> None:
        """End-of-run checks: acknowledged writes and log matching across nodes."""
        for index, term, command, client in self.acked:
            entry = self.committed.get(index)
            if entry is None:
                if converged:
                    self._report(
                        Violation(
                            "acked-write-lost",
                            f"{client}'s write acked at {index} never applied anywhere",
                            now,
                        )
                    )
            elif entry.term != term or entry.command != command:
                self._report(
                    Violation(
                        "acked-write-lost",
                        f"{client}'s write acked at {index} (term {term}) but index {index} "
                        f"holds term {entry.term}",
                        now,
                    )
                )
        names = sorted(logs)
        snapshots = {n: _dump(logs[n]) for n in names}
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                problem = _log_matching(snapshots[a], snapshots[b])
                if problem is not None:
                    self._report(Violation("log-matching", f"{a} vs {b}: {problem}", now))


def _dump(storage: LogView) -> dict[int, LogEntry]:
    first, last = storage.first_index(), storage.last_index()
    if last < first:
        return {}
    return {first + i: e for i, e in enumerate(storage.entries(first, last))}


def _log_matching(a: dict[int, LogEntry], b: dict[int, LogEntry]) -> str | None:
    """If two logs agree on an entry's term, they must agree on every earlier entry."""
    common = sorted(set(a) & set(b), reverse=True)
    anchored = False
    for index in common:
        ea, eb = a[index], b[index]
        if ea.term == eb.term:
            if ea != eb:
                return f"index {index} has term {ea.term} in both logs but different payloads"
            anchored = True
        elif anchored:
            return f"index {index} differs below a matching entry"
    return None
