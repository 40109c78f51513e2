"""The Randomness module as ``coalition up`` runs it: the beacon committee, declared once.

`RANDOMNESS` is registered under the ``coalition.modules`` entry-point group (pyproject), so
the coalition runtime runs it like Atlas or Almanac without importing this package. Its
parameters come from the coalition file's ``[randomness.content.params]`` (they are in the
fingerprint): ``scheme`` (a drand scheme id, default ``bls-unchained-g1-rfc9380``),
``period_ms`` (default 3000), ``threshold`` (default a strict majority of the committee),
``genesis_ms`` (default 0: round 1 starts two periods after the key generation finished) and
``epoch``. Each member keeps its key-generation seed in its data directory (``keygen.seed``,
0600), so a restarted member recomputes its share from its log; one that lost its data directory
comes back with a new seed and gets its share back from t others (``coalition.keygen_recovery``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from coalition.config import CoalitionConfig
from coalition.crypto.beacon import Scheme
from coalition.framework.committee import CommitteeMember
from coalition.framework.surface import Extractor
from coalition.keygen import KeygenSecrets
from coalition.modules import ModuleKind
from coalition.runtime.files import load_or_create_seed
from coalition.services.module import (
    CoreHostedMember,
    KeyRefresh,
    MemberContext,
    ModuleSpec,
    module_organism,
    module_params,
)
from pymosaik.primitives import PeerId, SecretKey, UniqueId, decode, encode

from .items import BeaconRound, Operator, OperatorRefresh, RandomnessConfig, RandomnessResult
from .machine import BeaconMachine
from .member import BeaconMemberCore

__all__ = ["RANDOMNESS", "Randomness", "RandomnessMember", "randomness_config"]

log = logging.getLogger("organisms.randomness")

SEED_FILE: Final = "keygen.seed"
DEFAULT_PERIOD_MS: Final = 3_000


def _int(params: Mapping[str, object], key: str, default: int) -> int:
    value = params.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"randomness {key} must be a non-negative integer, got {value!r}")
    return value


def randomness_config(coalition: CoalitionConfig, n: int) -> RandomnessConfig:
    """The beacon's config for a committee of ``n``, from the coalition's module parameters;
    `ValueError` (one line) for a parameter that is not what the module takes."""
    params = module_params(coalition, ModuleKind.RANDOMNESS)
    slot = coalition.module(ModuleKind.RANDOMNESS)
    assert slot is not None
    scheme = params.get("scheme", Scheme.UNCHAINED_G1.value)
    if not isinstance(scheme, str) or scheme not in {s.value for s in Scheme}:
        names = ", ".join(s.value for s in Scheme)
        raise ValueError(f"randomness scheme must be one of {names}, got {scheme!r}")
    cfg = RandomnessConfig(
        slot.body.name,
        _int(params, "threshold", n // 2 + 1),
        n,
        scheme,
        _int(params, "period_ms", DEFAULT_PERIOD_MS),
        _int(params, "genesis_ms", 0),
        _int(params, "epoch", 0),
    )
    cfg.check()
    return cfg


def _machine(
    coalition: CoalitionConfig,
    peers: Sequence[PeerId],
    operator: PeerId,
    member_operators: Mapping[UniqueId, PeerId] | None,
) -> tuple[BeaconMachine, Extractor]:
    cfg = randomness_config(coalition, len(peers))
    machine = BeaconMachine(cfg, peers, Operator(operator, _scope(coalition)))

    def rounds(result: bytes) -> list[bytes]:
        card = machine.card()
        ticks = decode(result, RandomnessResult).ticks
        return [encode(BeaconRound(t, card)) for t in ticks] if card is not None else []

    return machine, rounds


def _scope(coalition: CoalitionConfig) -> UniqueId:
    """What the operator's commands are signed for: this coalition's beacon committee."""
    committee = coalition.module_committee(ModuleKind.RANDOMNESS)
    if committee is None:
        raise ValueError(f"coalition {coalition.instance_name!r} ships no randomness module")
    return committee


def _refresh_command(coalition: CoalitionConfig, operator: SecretKey, at_ms: int) -> bytes:
    return encode(OperatorRefresh.signed(operator, _scope(coalition), at_ms))


def _refresh_outcome(raw: bytes) -> tuple[bool, str, int]:
    result = decode(raw, RandomnessResult)
    return result.ok, result.reason, result.index


@dataclass
class RandomnessMember(CoreHostedMember):
    inner: BeaconMachine | None = None
    core: BeaconMemberCore | None = None

    def refresh(self) -> None:
        """This member asks for a key refresh (every member deals at 0 through the log; every
        share moves, the group key and card stay). Needs every member up. A running
        deployment's operator uses ``coalition refresh randomness`` (`OperatorRefresh`)."""
        assert self.core is not None
        self.core.refresh()

    def extra(self) -> dict[str, object]:
        assert self.inner is not None
        assert self.core is not None
        last = self.inner.ticks[-1].round if self.inner.ticks else None
        keygen = self.core.keygen
        error = keygen.error or self.inner.keygen.transcript.failure
        book = self.inner.keygen.recovery
        if self.core.share is not None:
            state = "refreshing" if book.refresh is not None else "ready"
        elif keygen.lost(self.inner.keygen):
            state = "recovering"  # no share of its own (a lost seed): asking the others
        else:
            state = "failed" if error else "generating"
        return {
            "beacon_round": last,
            "beacon_key": state,
            "bad_partials": len(self.inner.bad),
            "key_refreshes": book.refreshes,
            "refresh_deals": 0 if book.refresh is None else len(book.refresh.deals),
        }


def _start(ctx: MemberContext, member: CommitteeMember, inner: BeaconMachine) -> RandomnessMember:
    key = ctx.network.endpoint.secret_key
    index = ctx.peers.index(key.peer_id) + 1
    session = inner.keygen.params.session
    if ctx.data_dir is not None:
        ctx.data_dir.mkdir(parents=True, exist_ok=True)
        secrets = KeygenSecrets.from_seed(load_or_create_seed(ctx.data_dir / SEED_FILE), session)
    else:
        secrets = KeygenSecrets.fresh()  # nothing to restart from: the share lives in memory
    core = BeaconMemberCore(index, key, scheme=inner.cfg.kind, secrets=secrets)
    m = RandomnessMember(ModuleKind.RANDOMNESS, member, ctx, inner=inner, core=core)
    m.host_core(inner, core)
    return m


RANDOMNESS: Final[ModuleSpec[BeaconRound, BeaconMachine]] = ModuleSpec(
    ModuleKind.RANDOMNESS,
    # writable for the operator's commands only (the members' own go through the group)
    module_organism(ModuleKind.RANDOMNESS, BeaconRound, writable=True),
    _machine,
    _start,
    (
        ("beacon_round", "round"),
        ("bad_partials", "bad partials"),
        ("key_refreshes", "key refreshes"),
    ),
    operator_writes=True,
    key_refresh=KeyRefresh(_refresh_command, _refresh_outcome),
)


class Randomness:
    """``Randomness.read(network, coalition)`` → verified rounds with their card, in order."""

    read = RANDOMNESS.organism.read
