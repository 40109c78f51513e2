"""Compute's private intake under ``coalition up``: the module's own shuffle.

With ``shuffle = true`` in ``[compute.content.params]`` every Compute member also runs a zipnet
server and an unseal member (`Shuffle.member`) for the module's shuffle, and member 1 runs the
zipnet aggregator on a network of its own (its key in the member's data directory, vouched
for by an aggregator ticket member 1 signs). Requesters reach it with ``await
Shuffle.client(network, compute_shuffle(coalition))``; each member hands the payloads its own
unseal replica opened to its Compute core — so a request's cleartext exists only inside the
committee (the shuffle runs private: its surface publishes the unseal key alone, never the
pool), and nothing public names who sent it.

Answers go back the same private way: the members also run the module's reply board
(`compute_replies`: a keyed registry of HPKE-sealed, provider-signed receipts under request
ids, written by whoever passes the module's ACL, replicated by anyone), where a provider's
agent posts each receipt and only the requester, holding the request's reply ticket, opens it.

Parameters (in the fingerprint): ``shuffle_threshold`` (default a strict majority),
``shuffle_slots`` (16), ``shuffle_slot_bytes`` (512: a sealed ComputeRequest fits one slot),
``shuffle_period_ms`` (1000). The aggregator admits requesters by the module's ACL (open when
the ACL is open; ``recognise-issuer coalition`` checks the coalition's own issuer).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from coalition.acl import AclMode
from coalition.acl_validator import AclContext, compile_acl
from coalition.config import CoalitionConfig
from coalition.crypto.reply import ReplyError, parse_request
from coalition.framework.committee import CommitteeMember
from coalition.keygen import KeygenSecrets
from coalition.modules import ModuleKind
from coalition.organism import OrganismConfig
from coalition.runtime.files import load_or_create_seed
from coalition.services.module import MemberContext, module_params
from coalition.ticket_issuer import coalition_issuer_keys
from pymosaik.primitives import SecretKey
from pymosaik.primitives.aio import TaskScope
from pymosaik.tickets import TicketRequirement

from ..reply_board import ReplyBoard
from ..shuffle import ShuffleConfig
from ..shuffle_service import Shuffle, ShuffleMember
from ..unseal.items import UnsealConfig, dkg_session
from ..zipnet.organism import Aggregator, Zipnet
from ..zipnet.params import RoundParams, ZipnetConfig
from .member import ComputeMemberCore

__all__ = ["PrivateIntake", "compute_replies", "compute_shuffle"]

log = logging.getLogger("organisms.compute.private")

DH_FILE: Final = "shuffle-dh.seed"
UNSEAL_SEED_FILE: Final = "unseal.seed"
AGGREGATOR_KEY_FILE: Final = "aggregator.key"


def _int(params: Mapping[str, object], key: str, default: int) -> int:
    value = params.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"compute {key} must be a positive integer, got {value!r}")
    return value


def compute_shuffle(coalition: CoalitionConfig, n: int = 3) -> ShuffleConfig | None:
    """The module's shuffle for a committee of ``n`` (``None`` unless ``shuffle = true``);
    `ValueError` (one line) for a parameter the module does not take."""
    params = module_params(coalition, ModuleKind.COMPUTE)
    enabled = params.get("shuffle", False)
    if not isinstance(enabled, bool):
        raise ValueError(f"compute shuffle must be true or false, got {enabled!r}")
    slot = coalition.module(ModuleKind.COMPUTE)
    if not enabled or slot is None:
        return None
    round_params = RoundParams(
        num_slots=_int(params, "shuffle_slots", 16),
        slot_bytes=_int(params, "shuffle_slot_bytes", 512),
        sched_slots=max(64, _int(params, "shuffle_slots", 16)),
    )
    try:
        round_params.check()
    except ValueError as exc:
        raise ValueError(f"compute shuffle: {exc}") from None
    committee = coalition.module_committee(ModuleKind.COMPUTE)
    assert committee is not None
    name = slot.body.name
    unseal = UnsealConfig(f"{name}.unseal", _int(params, "shuffle_threshold", n // 2 + 1), n)
    unseal.check()
    # the init salt ties the deployment to this coalition's Compute committee
    zipnet = ZipnetConfig(f"{name}.zipnet", round_params, committee.derive("shuffle").bytes)
    return ShuffleConfig(f"{name}.shuffle", zipnet, unseal)


def compute_replies(coalition: CoalitionConfig) -> OrganismConfig | None:
    """The module's reply board (``None`` unless the module runs its shuffle): its writers
    are whoever passes the Compute module's ACL."""
    slot = coalition.module(ModuleKind.COMPUTE)
    if slot is None or compute_shuffle(coalition) is None:
        return None
    return OrganismConfig(f"{slot.body.name}.replies", acl=slot.body.acl)


def _acl_context(coalition: CoalitionConfig) -> AclContext:
    return AclContext(issuer_keys=coalition_issuer_keys(coalition))


def period_ms(coalition: CoalitionConfig) -> int:
    return _int(module_params(coalition, ModuleKind.COMPUTE), "shuffle_period_ms", 1_000)


def requesters(coalition: CoalitionConfig) -> TicketRequirement | None:
    """Who the aggregator admits: the Compute module's ACL (``None``: open)."""
    slot = coalition.module(ModuleKind.COMPUTE)
    if slot is None or AclMode(slot.body.acl.mode) is AclMode.OPEN:
        return None
    return compile_acl(slot.body.acl, _acl_context(coalition))


def _opened_requests(payloads: list[bytes]) -> list[bytes]:
    """The ComputeRequest bytes inside opened payloads (sealed with or without a reply frame)."""
    out = []
    for p in payloads:
        try:
            out.append(parse_request(p).body)
        except ReplyError:
            out.append(p)
    return out


@dataclass
class PrivateIntake:
    """One Compute member's shuffle, the pool feed into its core, and (member 1) the aggregator."""

    shuffle: ShuffleMember
    core: ComputeMemberCore
    replies: CommitteeMember
    aggregator: Aggregator | None = None
    scope: TaskScope = field(default_factory=lambda: TaskScope("compute private intake"))

    @classmethod
    def start(
        cls, ctx: MemberContext, cfg: ShuffleConfig, core: ComputeMemberCore, index: int
    ) -> PrivateIntake:
        data = ctx.data_dir
        if data is not None:
            data.mkdir(parents=True, exist_ok=True)
            dh_seed = load_or_create_seed(data / DH_FILE)
            unseal_seed = load_or_create_seed(data / UNSEAL_SEED_FILE)
            secrets = KeygenSecrets.from_seed(unseal_seed, dkg_session(cfg.unseal))
            dh = X25519PrivateKey.from_private_bytes(dh_seed)
        else:  # nothing to restart from: the shares live in memory
            secrets, dh = KeygenSecrets.fresh(), X25519PrivateKey.generate()
        member = Shuffle.member(
            ctx.network,
            cfg,
            ctx.committee,
            dh=dh,
            secrets=secrets,
            data_dir=None if data is None else data / "shuffle",
            raft=ctx.raft,
            period_ms=period_ms(ctx.coalition),
            private=True,  # a request's cleartext is for the committee and its provider only
        )
        board = compute_replies(ctx.coalition)
        assert board is not None  # the shuffle runs, so the board does
        replies = ReplyBoard.member(
            ctx.network,
            board,
            ctx.committee,
            acl_context=_acl_context(ctx.coalition),
            raft=ctx.raft,
        )
        intake = cls(member, core, replies)
        intake.scope.spawn(intake._feed(), name="compute:pool")
        if index == 1:
            intake.scope.spawn(intake._run_aggregator(ctx, cfg, data), name="compute:aggregator")
        return intake

    async def _feed(self) -> None:
        """Hand each pool entry this member's unseal replica committed to the Compute core."""
        unseal = self.shuffle.unseal
        group, fed = unseal.committee.group, 0
        while True:
            applied = group.applied_index
            if unseal.machine.next_slot > fed:  # most applied commands open nothing
                for entry in list(unseal.machine.pool):
                    if entry.slot >= fed:
                        fed = entry.slot + 1
                        self.core.observe(_opened_requests([c.payload for c in entry.cleartext]))
            await group.when().applied_reaches(applied + 1)

    async def _run_aggregator(
        self, ctx: MemberContext, cfg: ShuffleConfig, data: Path | None
    ) -> None:
        seed = load_or_create_seed(data / AGGREGATOR_KEY_FILE) if data is not None else None
        self.aggregator = await Zipnet.vouched_aggregator(
            ctx.network,
            cfg.zipnet,
            clients=requesters(ctx.coalition),
            key=SecretKey(seed) if seed is not None else None,
        )
        log.info("shuffle aggregator up as %s", self.aggregator.peer_id.hex()[:8])
        await asyncio.Event().wait()  # lives until the member closes

    def status(self) -> dict[str, object]:
        s = self.shuffle.status()
        return {
            "shuffle_round": s["round"],
            "shuffle_participants": s["participants"],
            "shuffle_finalized": s["finalized"],
            "unseal_key": s["unseal_key"],
            "unseal_ready": int(s["unseal_key"] == "ready"),
            "unseal_lag": s["unseal_lag"],
        }

    async def close(self) -> None:
        try:
            await self.scope.aclose()
        finally:
            if self.aggregator is not None:
                with contextlib.suppress(Exception):
                    await self.aggregator.close()
            try:
                await self.shuffle.close()
            finally:
                await self.replies.close()
