"""The DC-net algebra of ZIPNet: pads, envelopes, the fold, partial unblinding, finalization.

For each (client c, server s, round r) both sides derive the same pad
``P = AES-128-CTR(HKDF(salt = params ‖ r ‖ schedule_hash, ikm = X25519(c, s)), iv = r ‖ 0)``.
A client's envelope is its message vector XOR every server's pad; the aggregator XORs all
envelopes; each server XORs its pads with every participant; the aggregate XOR all partials is
the XOR of the message vectors, in which each talking client owns one slot. Any one honest
server's pads keep every envelope indistinguishable from random, which is the any-trust claim.

Every slot carries a falsification tag (keyed blake3 over round, slot and payload): a collision,
a jammer, a wrong partial or an altered aggregate turns slots into tag failures, so a bad round
is detected by everyone who reads it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import blake3
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from . import native
from .params import RoundParams

_PAD_INFO: Final = b"zipnet/pad/v1"
_TAG_CONTEXT: Final = "zipnet 2026 falsification tag v1"


def xor(a: bytes, b: bytes) -> bytes:
    if len(a) != len(b):
        raise ValueError("xor of unequal lengths")
    return (int.from_bytes(a, "little") ^ int.from_bytes(b, "little")).to_bytes(len(a), "little")


def xor_many(parts: Iterable[bytes], length: int) -> bytes:
    acc = 0
    for p in parts:
        if len(p) != length:
            raise ValueError("xor of unequal lengths")
        acc ^= int.from_bytes(p, "little")
    return acc.to_bytes(length, "little")


def _pad_salt(params: RoundParams, round_: int, schedule_hash: bytes) -> bytes:
    return params.prefix() + round_.to_bytes(8, "little") + schedule_hash


def _pad_iv(round_: int) -> bytes:
    return round_.to_bytes(8, "little") + bytes(8)


def _pad_stream(shared: bytes, params: RoundParams, round_: int, schedule_hash: bytes) -> Any:
    salt = _pad_salt(params, round_, schedule_hash)
    key = HKDF(algorithm=hashes.SHA256(), length=16, salt=salt, info=_PAD_INFO).derive(shared)
    return Cipher(algorithms.AES(key), modes.CTR(_pad_iv(round_))).encryptor()


def apply_pads_python(
    vector: bytes, shared: Iterable[bytes], params: RoundParams, round_: int, schedule_hash: bytes
) -> bytes:
    """``apply_pads`` in pure Python (cryptography's API per pad): the fallback and the
    reference the native batch is tested against.

    CTR mode *is* "XOR with the keystream", so each pad is applied by running the vector
    through that pad's cipher: nothing the size of a pad is materialised in Python.
    """
    if len(vector) != params.envelope_bytes:
        raise ValueError("vector has the wrong length")
    for sh in shared:
        vector = _pad_stream(sh, params, round_, schedule_hash).update(vector)
    return vector


def apply_pads(
    vector: bytes, shared: Iterable[bytes], params: RoundParams, round_: int, schedule_hash: bytes
) -> bytes:
    """``vector`` XOR the pad of every shared secret.

    One native call for the whole batch (``native.py``: the same HKDF and AES-CTR through
    OpenSSL, without ~11 µs of Python per pad; ``python -m bench zipnet`` measures it against
    raw AES-CTR), or ``apply_pads_python`` where the native library cannot be built.
    """
    if len(vector) != params.envelope_bytes:
        raise ValueError("vector has the wrong length")
    secrets = list(shared)
    salt = _pad_salt(params, round_, schedule_hash)
    out = native.xor_pads(vector, secrets, salt=salt, info=_PAD_INFO, iv=_pad_iv(round_))
    if out is None:
        return apply_pads_python(vector, secrets, params, round_, schedule_hash)
    return out


def pad_from_shared(shared: bytes, params: RoundParams, round_: int, schedule_hash: bytes) -> bytes:
    return apply_pads(bytes(params.envelope_bytes), [shared], params, round_, schedule_hash)


def client_pad(
    secret: X25519PrivateKey,
    server: bytes,
    params: RoundParams,
    round_: int,
    schedule_hash: bytes,
) -> bytes:
    shared = secret.exchange(X25519PublicKey.from_public_bytes(server))
    return pad_from_shared(shared, params, round_, schedule_hash)


class SharedSecrets:
    """X25519 shared secrets by peer public key, computed once (v1 pads re-derive from them
    every round; the exchange would otherwise cost more than the pad itself)."""

    def __init__(self, secret: X25519PrivateKey) -> None:
        self._secret = secret
        self._cache: dict[bytes, bytes] = {}

    def __call__(self, peer: bytes) -> bytes:
        sh = self._cache.get(peer)
        if sh is None:
            sh = self._secret.exchange(X25519PublicKey.from_public_bytes(peer))
            self._cache[peer] = sh
        return sh

    def forget(self, peer: bytes) -> None:
        self._cache.pop(peer, None)


def seal_envelope(
    message_vector: bytes,
    secret: X25519PrivateKey | SharedSecrets,
    servers: Iterable[bytes],
    params: RoundParams,
    *,
    round_: int,
    schedule_hash: bytes,
) -> bytes:
    """ZIPNet Algorithm 1: the message vector XOR each server's pad."""
    shared = secret if isinstance(secret, SharedSecrets) else SharedSecrets(secret)
    return apply_pads(message_vector, map(shared, servers), params, round_, schedule_hash)


def partial_unblind(
    secret: X25519PrivateKey | SharedSecrets,
    participants: Iterable[bytes],
    params: RoundParams,
    round_: int,
    schedule_hash: bytes,
) -> bytes:
    """ZIPNet Algorithm 3 (server side): XOR of this server's pad with every participant.

    ``participants`` are the participants' X25519 public keys.
    """
    shared = secret if isinstance(secret, SharedSecrets) else SharedSecrets(secret)
    zeros = bytes(params.envelope_bytes)
    return apply_pads(zeros, map(shared, participants), params, round_, schedule_hash)


def finalize(aggregate: bytes, partials: Iterable[bytes], params: RoundParams) -> bytes:
    """The broadcast vector: the aggregate XOR every server's partial."""
    return xor_many([aggregate, *partials], params.envelope_bytes)


# --- slots -------------------------------------------------------------------------------


def slot_tag(params: RoundParams, round_: int, slot: int, payload: bytes) -> bytes:
    h = blake3.blake3(derive_key_context=_TAG_CONTEXT)
    h.update(round_.to_bytes(8, "little") + slot.to_bytes(4, "little"))
    h.update(payload)
    return h.digest(params.tag_len)


def fill_slot(params: RoundParams, round_: int, slot: int, payload: bytes) -> bytes:
    """A slot's bytes: the payload (exactly ``payload_bytes``) and its tag."""
    if len(payload) != params.payload_bytes:
        raise ValueError(f"a slot payload is {params.payload_bytes} bytes")
    return payload + slot_tag(params, round_, slot, payload)


def read_slot(params: RoundParams, round_: int, slot: int, data: bytes) -> bytes | bool | None:
    """The payload of a slot, ``None`` if empty, ``False`` if garbled (tag fails)."""
    if not any(data):
        return None
    payload, tag = data[: params.payload_bytes], data[params.payload_bytes :]
    if tag != slot_tag(params, round_, slot, payload):
        return False
    return payload


def slots(params: RoundParams, broadcast: bytes) -> list[bytes]:
    n = params.slot_bytes
    return [broadcast[i * n : (i + 1) * n] for i in range(params.num_slots)]


def garbled_slots(params: RoundParams, round_: int, broadcast: bytes) -> int:
    return sum(
        1
        for i, s in enumerate(slots(params, broadcast))
        if read_slot(params, round_, i, s) is False
    )


# --- footprint scheduling (ZIPNet §3.2) ---------------------------------------------------


def schedule_vector(broadcast: bytes, params: RoundParams) -> bytes:
    return broadcast[params.message_bytes :]


def footprint_at(params: RoundParams, schedule: bytes, sched_slot: int) -> bytes:
    n = params.footprint_bytes
    return schedule[sched_slot * n : (sched_slot + 1) * n]


def reserved_slot(
    params: RoundParams, schedule: bytes, sched_slot: int, footprint: bytes
) -> int | None:
    """The message slot a reservation won, or ``None`` (collided, overwritten or overflow).

    A reservation holds when the footprint came back intact; its message slot in the next
    round is its rank among the non-empty schedule slots, so every reader derives the same
    assignment from the public vector and talking clients pack into the first slots.
    """
    if footprint_at(params, schedule, sched_slot) != footprint:
        return None
    n = params.footprint_bytes
    rank = sum(1 for k in range(sched_slot) if any(schedule[k * n : (k + 1) * n]))
    return rank if rank < params.num_slots else None


def schedule_hash(broadcast: bytes | None, params: RoundParams) -> bytes:
    """What the next round's pads are salted with: the hash of this round's schedule."""
    if broadcast is None:
        return bytes(32)
    return blake3.blake3(schedule_vector(broadcast, params)).digest()
