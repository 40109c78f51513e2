"""unseal's configuration, commands and public records."""

from __future__ import annotations

from coalition.crypto.threshold import PartialDecryption, Sealed
from coalition.keygen import KeygenCmd
from coalition.member_commands import MemberSignatures
from pymosaik.primitives import SecretKey, UniqueId, Wire


class UnsealConfig(Wire, frozen=True):
    """t of n, pinned in content: changing either means a new committee (the book)."""

    name: str
    t: int
    n: int
    epoch: int = 0

    def check(self) -> None:
        if not 1 <= self.t <= self.n <= 64:
            raise ValueError(f"unseal needs 1 ≤ t ≤ n ≤ 64, got t={self.t} n={self.n}")


def unseal_root(cfg: UnsealConfig) -> UniqueId:
    return UniqueId.from_parts(f"unseal|{cfg.name}|t={cfg.t}|n={cfg.n}|epoch={cfg.epoch}")


def dkg_session(cfg: UnsealConfig) -> bytes:
    return unseal_root(cfg).derive("dkg").bytes


# --- commands (each signed by the committee member that sends it) -------------------------


class SealedSlot(Wire, frozen=True):
    slot_index: int
    sealed: Sealed


class Ingest(Wire, frozen=True, tag="ingest"):
    """The sealed boxes of one finalized zipnet round, in canonical order."""

    member: int
    round: int
    boxes: tuple[SealedSlot, ...]


class SlotPartial(Wire, frozen=True):
    slot_index: int
    partial: PartialDecryption


class Shares(Wire, frozen=True, tag="shares"):
    member: int
    round: int
    partials: tuple[SlotPartial, ...]


Body = KeygenCmd | Ingest | Shares


class Signed(Wire, frozen=True):
    body: Body
    signature: bytes

    @classmethod
    def by(cls, key: SecretKey, body: Body) -> Signed:
        return cls(body, MemberSignatures.sign(SIGN_DOMAIN, key, body))


SIGN_DOMAIN = b"unseal.command.v1|"


# --- public records -----------------------------------------------------------------------


class Cleartext(Wire, frozen=True):
    slot_index: int
    payload: bytes


class UnsealedRound(Wire, frozen=True):
    """One entry of UnsealedPool: ``slot`` is its position in the pool."""

    slot: int
    round: int
    cleartext: tuple[Cleartext, ...]
    #: Boxes whose AEAD failed after a correct combination (sealed to another key, or junk).
    undecryptable: tuple[int, ...] = ()


class BadShare(Wire, frozen=True):
    """Evidence that a member's partial failed its proof (excluded, never combined)."""

    round: int
    slot_index: int
    member: int
    reason: str


class UnsealResult(Wire, frozen=True):
    ok: bool
    reason: str = ""
    opened: tuple[UnsealedRound, ...] = ()
    bad_shares: tuple[BadShare, ...] = ()
    #: Set by the one command that completed the key generation: the committee's key.
    group_key: bytes | None = None


# --- the public surface: the committee key, then UnsealedPool entries ----------------------


class KeyReady(Wire, frozen=True, tag="key"):
    """The key generation finished: requests seal to ``group_key`` from now on."""

    group_key: bytes


class PoolEntry(Wire, frozen=True, tag="entry"):
    """One UnsealedPool entry; the key rides along so the newest item always names it."""

    entry: UnsealedRound
    group_key: bytes


UnsealEvent = KeyReady | PoolEntry
