"""zipnet's round shape, deployment identity and public record types.

The broadcast vector of a round is ``num_slots × slot_bytes`` message bytes followed by a
schedule vector of ``sched_slots × footprint_bytes`` (ZIPNet §3.2 footprint scheduling, the
book's v2 plan). Both halves travel in one envelope under one pad: the book plans a second
aggregate for the schedule; one vector does the same work with half the commands per round.
"""

from __future__ import annotations

from typing import Final

import blake3

from pymosaik.primitives import UniqueId, Wire

WIRE_VERSION: Final = 1
#: ``schedule_hash`` of a round with no finalized predecessor (the book's NO_SCHEDULE).
NO_SCHEDULE: Final = bytes(32)


class RoundParams(Wire, frozen=True):
    """The broadcast shape every pad is bound to (the book's defaults: 64 × 256 B = 16 KiB)."""

    num_slots: int = 64
    slot_bytes: int = 256
    tag_len: int = 16
    sched_slots: int = 256
    footprint_bytes: int = 4
    wire_version: int = WIRE_VERSION

    def check(self) -> None:
        if not 1 <= self.num_slots <= 4096:
            raise ValueError("num_slots must be in 1..4096")
        if not 8 <= self.tag_len <= 32:
            raise ValueError("tag_len must be in 8..32")
        if not self.tag_len + 8 <= self.slot_bytes <= 65536:
            raise ValueError("slot_bytes must leave room for a tag and a payload")
        if not self.num_slots <= self.sched_slots <= 16384:
            raise ValueError("sched_slots must be at least num_slots (and at most 16384)")
        if not 2 <= self.footprint_bytes <= 16:
            raise ValueError("footprint_bytes must be in 2..16")

    @property
    def message_bytes(self) -> int:
        return self.num_slots * self.slot_bytes

    @property
    def schedule_bytes(self) -> int:
        return self.sched_slots * self.footprint_bytes

    @property
    def envelope_bytes(self) -> int:
        return self.message_bytes + self.schedule_bytes

    @property
    def payload_bytes(self) -> int:
        """Usable bytes in one slot: the slot minus its falsification tag."""
        return self.slot_bytes - self.tag_len

    def prefix(self) -> bytes:
        """The LE encoding of (wire_version, num_slots, slot_bytes, tag_len) the pads salt with."""
        return b"".join(
            v.to_bytes(4, "little")
            for v in (self.wire_version, self.num_slots, self.slot_bytes, self.tag_len)
        )


class ZipnetConfig(Wire, frozen=True):
    """What an integrator compiles in: the name, the round shape and a 32-byte init salt."""

    name: str
    params: RoundParams = RoundParams()
    init: bytes = bytes(32)


def deployment_id(cfg: ZipnetConfig) -> UniqueId:
    """The root id every zipnet id derives from; pure, so both sides compare it offline."""
    p = cfg.params
    text = (
        f"zipnet|{cfg.name}|slots={p.num_slots}|slot={p.slot_bytes}|tag={p.tag_len}"
        f"|sched={p.sched_slots}x{p.footprint_bytes}|v={p.wire_version}|init={cfg.init.hex()}"
    )
    return UniqueId.from_parts(text.encode())


def client_id(deployment: UniqueId, dh_public: bytes) -> bytes:
    """``ClientId``: blake3 keyed by the deployment over the client's X25519 public key."""
    return blake3.blake3(dh_public, key=deployment.bytes).digest()


class LiveRound(Wire, frozen=True):
    """The header of the open round: who may take part and what the pads are bound to."""

    round: int
    clients: tuple[bytes, ...]
    servers: tuple[bytes, ...]
    schedule_hash: bytes = NO_SCHEDULE


class Envelope(Wire, frozen=True):
    """One client's sealed contribution to a round (message ⊕ every server's pad)."""

    round: int
    client: bytes
    payload: bytes


class AggregateEnvelope(Wire, frozen=True):
    """The aggregator's XOR of every envelope it received, and whose they were."""

    round: int
    participants: tuple[bytes, ...]
    payload: bytes


class PartialUnblind(Wire, frozen=True):
    """One server's XOR of its pads with every participant of the round."""

    round: int
    server: bytes
    payload: bytes


class BroadcastRecord(Wire, frozen=True):
    """A finalized round: the cleartext broadcast vector (messages ‖ schedule)."""

    round: int
    participants: tuple[bytes, ...]
    broadcast: bytes
    #: Slots that are neither empty nor carry a valid tag: collisions, jamming, or a wrong
    #: partial / altered aggregate (then nearly every slot is garbled).
    garbled_slots: int
