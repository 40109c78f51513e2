"""Commands a committee member signs, and the one check every organism machine applies.

Raft replicates whatever a member proposes; the machine must still know *which* member speaks
(a complaint, a share, a clearing), so every such command carries the member's index and its
Ed25519 signature over a per-organism domain and the command's canonical bytes. Organisms keep
their own envelope type (msgspec needs the concrete body union) and share this check.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from pymosaik.primitives import DecodeError, PeerId, SecretKey, decode, encode

T = TypeVar("T")


class MemberSignatures:
    """Signs and checks member commands for one committee under one domain string."""

    def __init__(self, domain: bytes, committee: Sequence[PeerId]) -> None:
        self.domain = domain
        self.committee = list(committee)

    @staticmethod
    def sign(domain: bytes, key: SecretKey, body: object) -> bytes:
        return key.sign(domain + encode(body))

    def check(self, member: int, body: object, signature: bytes) -> str | None:
        """``None`` when member ``member`` (1-based) signed ``body``, else why not."""
        if not 1 <= member <= len(self.committee):
            return f"member {member} is not on the committee"
        if not self.committee[member - 1].verify(signature, self.domain + encode(body)):
            return "bad signature"
        return None


def apply_decoded(
    command: bytes,
    typ: type[T],
    step: Callable[[T], object],
    refuse: Callable[[str], object],
) -> bytes:
    """A machine's ``apply``: decode strictly, step, encode the result.

    Undecodable bytes are still committed on every replica, so they must give the same
    refusal everywhere rather than raise (the StateMachine contract).
    """
    try:
        cmd = decode(command, typ)
    except DecodeError as exc:
        return encode(refuse(f"malformed command: {exc}"))
    return encode(step(cmd))
