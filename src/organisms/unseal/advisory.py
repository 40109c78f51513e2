"""Bad shares made public: the Chronicle advisory an unseal member files when the committee
excluded a partial that failed its proof.

The machine records every excluded partial as `BadShare` evidence in its committed state, so
every member sees the same list in the same order. `BadShareAdvisor` (pure) turns it into
`Advisory` entries (D11, filed with a Chronicle writer ticket): one per accused member and
round, listing the slots, filed by exactly one member — the lowest-indexed one that is not the
accused, so no entry is filed twice and nobody files against itself. `file_advisories` hosts
it on a replica and a Chronicle writer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Protocol

from coalition.services.chronicle_log import Advisory
from pymosaik.primitives import encode

from .items import BadShare

__all__ = ["BadShareAdvisor", "file_advisories"]

log = logging.getLogger("organisms.unseal.advisory")


class BadShareAdvisor:
    def __init__(self, index: int, n: int, signer: bytes, topic: str) -> None:
        """``index``: this member's 1-based index of ``n``; ``signer``: the key it files with
        (its Chronicle writer ticket's subject); ``topic``: the unseal instance's name."""
        if not 1 <= index <= n:
            raise ValueError("index must be in 1..n")
        self.index, self.n, self.signer, self.topic = index, n, signer, topic
        self._filed: set[tuple[int, int]] = set()

    def files_for(self, accused: int) -> int:
        """The member that files advisories against ``accused``."""
        return 2 if accused == 1 else 1

    def advisories(self, bad: Iterable[BadShare]) -> list[Advisory]:
        """New advisories this member must file (each (round, accused) once, in order)."""
        grouped: dict[tuple[int, int], list[BadShare]] = {}
        for b in bad:
            grouped.setdefault((b.round, b.member), []).append(b)
        out = []
        for (round_, accused), shares in sorted(grouped.items()):
            if (round_, accused) in self._filed or self.files_for(accused) != self.index:
                continue
            self._filed.add((round_, accused))
            slots = ", ".join(str(b.slot_index) for b in shares)
            text = f"member {accused} sent bad partials in round {round_} (slots {slots}): "
            text += shares[0].reason
            out.append(Advisory(self.signer, self.topic, text, encode(tuple(shares))))
        return out


class Recorder(Protocol):
    async def record(self, kind: Advisory, *, timeout_s: float = ...) -> int: ...


async def file_advisories(
    advisor: BadShareAdvisor, bad_shares: Callable[[], Iterable[BadShare]], chronicle: Recorder
) -> int:
    """File what ``advisor`` says of the replica's current ``bad_shares``; the count filed."""
    filed = 0
    for advisory in advisor.advisories(bad_shares()):
        seq = await chronicle.record(advisory)
        log.warning("unseal %s: %s (chronicle entry %d)", advisor.topic, advisory.text, seq)
        filed += 1
    return filed
