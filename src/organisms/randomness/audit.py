"""A consumer's audit of the beacon, and the bias challenge it files when a round fails.

Every consumer verifies every round it uses from the group key alone; one that meets a round
that does not verify — a forged frame (surface frames are public, so anyone can produce one),
a round out of order, or a group key that changed under it — records a ``Challenge`` in the
coalition's Chronicle (D11), so the dispute is public, sealed and ordered. `BeaconAudit` is the
pure part (round in, verdict out); `watch` hosts it on a reader and a Chronicle writer.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from coalition.crypto.beacon import Scheme, verify_tick
from coalition.services.chronicle_log import Challenge
from pymosaik.primitives import encode

from .items import BeaconRound, RandomnessCard

__all__ = ["BeaconAudit", "Finding", "watch"]

log = logging.getLogger("organisms.randomness.audit")


@dataclass(frozen=True)
class Finding:
    """Why a round cannot be used, and the bytes that show it."""

    round: int
    reason: str
    evidence: bytes


class BeaconAudit:
    """Checks each round against a pinned card: it verifies, it follows the last round, and
    the card it carries is the pinned one. ``pinned`` is the card got out of band; without it
    the first round's card is pinned (trust on first use)."""

    def __init__(self, subject: str, pinned: RandomnessCard | None = None) -> None:
        self.subject = subject
        self.card = pinned
        self.last: int | None = None
        self.verified = 0

    def check(self, item: BeaconRound) -> Finding | None:
        tick = item.tick
        if self.card is None:
            self.card = item.card
        card = self.card
        if item.card != card:
            return Finding(tick.round, "the round carries another group key", encode(item))
        if not verify_tick(Scheme(card.scheme), card.group_key, tick):
            return Finding(tick.round, "the round's signature does not verify", encode(item))
        if self.last is not None and tick.round != self.last + 1:
            why = f"round {tick.round} follows round {self.last}"
            return Finding(tick.round, why, encode(item))
        self.last = tick.round
        self.verified += 1
        return None

    def challenge(self, finding: Finding, signer: bytes) -> Challenge:
        subject = f"{self.subject} round {finding.round}"
        return Challenge(signer, subject, finding.reason, finding.evidence)


class Recorder(Protocol):
    async def record(self, kind: Challenge, *, timeout_s: float = ...) -> int: ...


async def watch(
    rounds: AsyncIterator[BeaconRound], audit: BeaconAudit, chronicle: Recorder, signer: bytes
) -> None:
    """Audit every round as it arrives; file a Challenge for each that fails (and go on)."""
    async for item in rounds:
        finding = audit.check(item)
        if finding is None:
            continue
        log.warning("beacon %s: %s", audit.subject, finding.reason)
        seq = await chronicle.record(audit.challenge(finding, signer))
        log.info("challenge recorded as chronicle entry %d", seq)
