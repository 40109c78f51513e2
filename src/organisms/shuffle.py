"""The standalone shuffle: one Config naming a zipnet + unseal pair, and its sealing client.

A private submission (infer.corp's prompts, Compute's private requests) is sealed to the unseal
committee's key, framed into a zipnet slot and broadcast anonymously; unseal opens each
finalized round at t of n. Nobody learns who sent what (zipnet), nobody below the threshold
learns what was sent (unseal), and the answer comes back HPKE-sealed under a reply tag only the
submitter knows (``coalition.crypto.reply``). Decision D6.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import blake3

from coalition.crypto.group import Entropy
from coalition.crypto.reply import ReplyTicket, request, salted_commitment
from coalition.crypto.ristretto import RISTRETTO255
from coalition.crypto.threshold import Sealed, ThresholdElGamal
from pymosaik.primitives import DecodeError, Wire, decode, encode

from .unseal.items import SealedSlot, UnsealConfig
from .unseal.machine import seal_context
from .zipnet.client import ZipnetClient, unframe
from .zipnet.dcnet import read_slot, slots
from .zipnet.params import BroadcastRecord, ZipnetConfig

_TE = ThresholdElGamal(RISTRETTO255)


class ShuffleConfig(Wire, frozen=True):
    name: str
    zipnet: ZipnetConfig
    unseal: UnsealConfig


def boxes_from_broadcast(cfg: ZipnetConfig, record: BroadcastRecord) -> tuple[SealedSlot, ...]:
    """The well-formed sealed boxes of a finalized round, in canonical order.

    Garbled, empty and undecodable slots are skipped. The order is by digest of the box, so a
    box's position in the pool says nothing about the zipnet slot (or client) it came from.
    """
    boxes: list[Sealed] = []
    for i, data in enumerate(slots(cfg.params, record.broadcast)):
        payload = read_slot(cfg.params, record.round, i, data)
        if not isinstance(payload, bytes):
            continue
        inner = unframe(payload)
        if inner is None:
            continue
        try:
            boxes.append(decode(inner, Sealed, max_size=cfg.params.payload_bytes))
        except DecodeError:
            continue
    boxes.sort(key=lambda b: blake3.blake3(encode(b)).digest())
    return tuple(SealedSlot(k, b) for k, b in enumerate(boxes))


@dataclass(frozen=True)
class Submission:
    """What the submitter keeps: the zipnet id, the salted commitment, the reply ticket."""

    submission: int
    commitment: bytes
    salt: bytes
    reply: ReplyTicket


class SealClient:
    """Seals a request to the committee key and queues it on a zipnet client."""

    def __init__(
        self, cfg: ShuffleConfig, zipnet: ZipnetClient, *, entropy: Entropy = os.urandom
    ) -> None:
        self.cfg, self.zipnet, self._entropy = cfg, zipnet, entropy

    def capacity(self) -> int:
        """The largest request body that still fits one slot once sealed."""
        overhead = len(encode(Sealed(bytes(32), bytes(16)))) + 2 + len(request(b"")[0]) + 8
        return self.cfg.zipnet.params.payload_bytes - overhead

    def submit(self, body: bytes, group_key: bytes) -> Submission:
        plaintext, ticket = request(body, entropy=self._entropy)
        sealed = _TE.seal(
            group_key, plaintext, context=seal_context(self.cfg.unseal), entropy=self._entropy
        )
        salt = self._entropy(32)
        wire = encode(sealed)
        sid = self.zipnet.send(wire)
        return Submission(sid, salted_commitment(wire, salt), salt, ticket)
