"""A zipnet client as a pure core: queue, footprint reservations, sealing, receipts.

Timeline of one message (ZIPNet §3.2): in round r the client XORs a random non-zero footprint
into a random schedule slot; when round r finalizes with the footprint intact, the client owns
message slot ``rank`` in round r+1 and writes its message there; round r+1's broadcast tells it
whether the message landed. A broken footprint (two clients on one schedule slot) or a garbled
slot is retried with a fresh reservation. A client with nothing to send still seals an envelope
of pads alone (cover traffic), so the set of participants does not reveal who talks.
"""

from __future__ import annotations

import enum
import os
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from coalition.crypto.group import Entropy
from pymosaik.primitives import Wire

from .dcnet import (
    SharedSecrets,
    fill_slot,
    reserved_slot,
    schedule_vector,
    seal_envelope,
    slots,
)
from .params import BroadcastRecord, Envelope, LiveRound, ZipnetConfig, client_id, deployment_id


class Outcome(enum.Enum):
    LANDED = "landed"
    COLLIDED = "collided"
    DROPPED = "dropped"


class Receipt(Wire, frozen=True):
    """What happened to one attempt of one submission."""

    submission: int
    round: int
    slot: int
    outcome: str


@dataclass(frozen=True)
class _Reservation:
    round: int
    sched_slot: int
    footprint: bytes


@dataclass(frozen=True)
class _InFlight:
    round: int
    slot: int
    submission: int
    payload: bytes


def frame(message: bytes, payload_bytes: int) -> bytes:
    """Length-prefixed, zero-padded to one slot payload."""
    if len(message) > payload_bytes - 2:
        raise ValueError(f"message is {len(message)} bytes; a slot carries {payload_bytes - 2}")
    return len(message).to_bytes(2, "little") + message + bytes(payload_bytes - 2 - len(message))


def unframe(payload: bytes) -> bytes | None:
    n = int.from_bytes(payload[:2], "little")
    if n > len(payload) - 2 or any(payload[2 + n :]):
        return None
    return payload[2 : 2 + n]


class ZipnetClient:
    """One client's protocol state; the driver feeds it headers and finalized rounds."""

    def __init__(
        self, cfg: ZipnetConfig, secret: X25519PrivateKey, *, entropy: Entropy = os.urandom
    ) -> None:
        cfg.params.check()
        self.cfg = cfg
        self._secret = secret
        self._shared = SharedSecrets(secret)
        self.public = secret.public_key().public_bytes_raw()
        self.id = client_id(deployment_id(cfg), self.public)
        self._entropy = entropy
        self._queue: deque[tuple[int, bytes]] = deque()
        self._next_id = 0
        self._reservation: _Reservation | None = None
        self._inflight: _InFlight | None = None

    def send(self, message: bytes) -> int:
        """Queue a message; its SubmissionId correlates the receipts."""
        payload = frame(message, self.cfg.params.payload_bytes)
        sid = self._next_id
        self._next_id += 1
        self._queue.append((sid, payload))
        return sid

    @property
    def pending(self) -> int:
        return len(self._queue)

    def _random_index(self, n: int) -> int:
        return int.from_bytes(self._entropy(8), "little") % n

    def seal(
        self, header: LiveRound, server_keys: Sequence[bytes], last: BroadcastRecord | None
    ) -> Envelope | None:
        """This round's envelope (message, reservation or cover), or ``None`` if not invited."""
        if self.id not in header.clients:
            return None
        p = self.cfg.params
        vector = bytearray(p.envelope_bytes)
        placed = False
        res, self._reservation = self._reservation, None
        if (
            res is not None
            and last is not None
            and last.round == res.round == header.round - 1
            and self._queue
            and self._inflight is None
        ):
            slot = reserved_slot(
                p, schedule_vector(last.broadcast, p), res.sched_slot, res.footprint
            )
            if slot is not None:
                sid, payload = self._queue[0]
                vector[slot * p.slot_bytes : (slot + 1) * p.slot_bytes] = fill_slot(
                    p, header.round, slot, payload
                )
                self._inflight = _InFlight(header.round, slot, sid, payload)
                placed = True
        if len(self._queue) > (1 if placed else 0) or (self._queue and self._inflight is None):
            k = self._random_index(p.sched_slots)
            fp = self._entropy(p.footprint_bytes)
            while not any(fp):
                fp = self._entropy(p.footprint_bytes)
            at = p.message_bytes + k * p.footprint_bytes
            vector[at : at + p.footprint_bytes] = fp
            self._reservation = _Reservation(header.round, k, fp)
        payload = seal_envelope(
            bytes(vector),
            self._shared,
            server_keys,
            p,
            round_=header.round,
            schedule_hash=header.schedule_hash,
        )
        return Envelope(header.round, self.id, payload)

    def on_broadcast(self, record: BroadcastRecord) -> list[Receipt]:
        """Receipts for the attempt that ran in ``record``'s round, if any."""
        out: list[Receipt] = []
        fl = self._inflight
        if fl is not None and record.round >= fl.round:
            self._inflight = None
            if record.round > fl.round or self.id not in record.participants:
                outcome = Outcome.DROPPED
            else:
                p = self.cfg.params
                got = slots(p, record.broadcast)[fl.slot]
                landed = got == fill_slot(p, fl.round, fl.slot, fl.payload)
                outcome = Outcome.LANDED if landed else Outcome.COLLIDED
            if outcome is Outcome.LANDED and self._queue and self._queue[0][0] == fl.submission:
                self._queue.popleft()
            out.append(Receipt(fl.submission, fl.round, fl.slot, outcome.value))
        res = self._reservation
        if res is not None and record.round >= res.round and self.id not in record.participants:
            self._reservation = None
        return out
