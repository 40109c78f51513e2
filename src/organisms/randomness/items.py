"""Randomness configuration, card, commands and evidence."""

from __future__ import annotations

from dataclasses import dataclass

from coalition.crypto.beacon import BeaconTick, PartialSignature, Scheme
from coalition.keygen import KeygenCmd
from coalition.member_commands import MemberSignatures
from pymosaik.primitives import PeerId, SecretKey, UniqueId, Wire


class RandomnessConfig(Wire, frozen=True):
    """Pinned in content: t of n, the drand scheme, the period and the genesis time."""

    name: str
    t: int
    n: int
    scheme: str = Scheme.UNCHAINED_G1.value
    period_ms: int = 3_000
    genesis_ms: int = 0
    epoch: int = 0

    def check(self) -> None:
        if not 1 <= self.t <= self.n <= 64:
            raise ValueError(f"randomness needs 1 ≤ t ≤ n ≤ 64, got t={self.t} n={self.n}")
        Scheme(self.scheme)
        if self.period_ms < 100 or self.genesis_ms < 0:
            raise ValueError("period must be at least 100 ms and genesis non-negative")

    @property
    def kind(self) -> Scheme:
        return Scheme(self.scheme)


def randomness_root(cfg: RandomnessConfig) -> UniqueId:
    return UniqueId.from_parts(
        f"randomness|{cfg.name}|t={cfg.t}|n={cfg.n}|{cfg.scheme}|p={cfg.period_ms}"
        f"|g={cfg.genesis_ms}|epoch={cfg.epoch}"
    )


class RandomnessCard(Wire, frozen=True):
    """What a provider registers (D12): scheme, group key, t of n, period and genesis."""

    scheme: str
    group_key: bytes
    t: int
    n: int
    period_ms: int
    genesis_ms: int


class BeaconRound(Wire, frozen=True):
    """The Randomness surface's item: a verified round and the card it verifies against.

    A consumer pins the card the first time (or compares it with one it got out of band) and
    checks every later round against the same group key: ``verify_tick(card, tick)``."""

    tick: BeaconTick
    card: RandomnessCard


class SubmitPartial(Wire, frozen=True, tag="partial"):
    member: int
    round: int
    partial: PartialSignature


Body = KeygenCmd | SubmitPartial
SIGN_DOMAIN = b"randomness.command.v1|"


class Signed(Wire, frozen=True):
    body: Body
    signature: bytes

    @classmethod
    def by(cls, key: SecretKey, body: Body) -> Signed:
        return cls(body, MemberSignatures.sign(SIGN_DOMAIN, key, body))


OPERATOR_DOMAIN = b"randomness.operator-refresh.v1|"


@dataclass(frozen=True)
class Operator:
    """Who may command the committee (the coalition operator's key) and what its commands are
    signed for (``scope``: the module committee's id, so a command is good for one beacon)."""

    key: PeerId
    scope: UniqueId


class OperatorRefresh(Wire, frozen=True, tag="operator-refresh"):
    """The coalition operator asks for a key refresh (``coalition refresh randomness``): sent
    to the committee's intake under an operator writer ticket, signed by the operator over the
    committee's id and ``at_ms``, and taken once (the machine keeps the newest ``at_ms`` it
    accepted)."""

    at_ms: int
    signature: bytes

    @staticmethod
    def message(scope: UniqueId, at_ms: int) -> bytes:
        return OPERATOR_DOMAIN + scope.bytes + at_ms.to_bytes(8, "big")

    @classmethod
    def signed(cls, key: SecretKey, scope: UniqueId, at_ms: int) -> OperatorRefresh:
        return cls(at_ms, key.sign(cls.message(scope, at_ms)))

    def verify(self, operator: Operator) -> bool:
        if not 0 <= self.at_ms < 2**63:
            return False
        return operator.key.verify(self.signature, self.message(operator.scope, self.at_ms))


class BadPartial(Wire, frozen=True):
    """Evidence: a member's partial failed its pairing check (excluded, never combined)."""

    round: int
    member: int
    reason: str


class RandomnessResult(Wire, frozen=True):
    ok: bool
    reason: str = ""
    ticks: tuple[BeaconTick, ...] = ()
    bad: tuple[BadPartial, ...] = ()
    #: The log index an operator's command was committed at (0 for the members' commands).
    index: int = 0
