"""unseal deployed: a committee that generates its key, then opens the rounds it is fed.

`UNSEAL` derives its ids from the Config (`unseal_root`); its public surface is the committee
key (`KeyReady`, once) then UnsealedPool (`PoolEntry`, in slot order, each naming the key so
a late reader's newest item always carries it). Members take no writes: everything committed
comes from their own cores — the key generation, then ``Ingest`` of boxes each member extracted
itself (``observe``) and ``Shares`` with their proofs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from coalition.framework import SurfaceIds
from coalition.framework.committee import MEMBERS_ONLY, PUBLIC_LOG
from coalition.framework.hosted import HostedMember
from coalition.framework.keyed_read import KeyedReader, VecView
from coalition.framework.reader import SurfaceReader
from coalition.framework.spec import OrganismSpec
from coalition.framework.surface import Extractor
from coalition.keygen import DEFAULT_DEADLINES, Deadlines, KeygenSecrets
from pymosaik.groups.raft import RaftConfig
from pymosaik.network import Network
from pymosaik.primitives import decode, encode
from pymosaik.tickets import TicketValidator
from pymosaik.transport import EndpointAddr

from .items import (
    KeyReady,
    PoolEntry,
    SealedSlot,
    Signed,
    UnsealConfig,
    UnsealedRound,
    UnsealEvent,
    UnsealResult,
    unseal_root,
)
from .machine import POOL, UnsealMachine
from .member import UnsealMemberCore

__all__ = ["UNSEAL", "PoolReplica", "Unseal", "UnsealServer"]

#: The declaration: ids from ``unseal_root(cfg)``; no write side.
UNSEAL: Final[OrganismSpec[UnsealConfig, UnsealEvent]] = OrganismSpec(
    "unseal",
    UnsealEvent,  # type: ignore[arg-type]  # a tagged union decodes like a Struct
    lambda cfg: SurfaceIds.derive(unseal_root(cfg), writable=False),
    lambda cfg: f"unseal {cfg.name!r}",
)


#: Anyone may replicate the log: everything in it is public (the DKG transcript, sealed boxes,
#: proofs, opened rounds) unless the member runs private.
READERS: Final = PUBLIC_LOG


class PoolReplica:
    """``pool``: UnsealedPool as a keyed Vec (``pool.get(slot)``, ``pool.when().appended()``)."""

    def __init__(self, reader: KeyedReader) -> None:
        self.reader = reader
        self.pool: VecView[UnsealedRound] = reader.vec(POOL)

    async def ready(self, timeout_s: float = 10.0) -> None:
        await self.reader.ready(timeout_s)

    async def close(self) -> None:
        await self.reader.close()


@dataclass
class UnsealServer(HostedMember[UnsealMachine, Signed]):
    """One committee member: its group and surface, and its pure member core."""

    core: UnsealMemberCore

    def observe(self, round_: int, boxes: tuple[SealedSlot, ...]) -> None:
        """Boxes this member extracted itself from a finalized zipnet round."""
        self.core.observe(round_, boxes)

    def status(self) -> dict[str, object]:
        m = self.machine
        state = "ready" if m.key is not None else ("failed" if self.core.error else "generating")
        return {
            "unseal_key": state,
            "unsealed_rounds": m.next_slot,
            "unseal_pending": len(m.pending_rounds()),
            "bad_shares": len(m.bad_shares),
        }


class Unseal:
    """``Unseal.member`` runs one committee member; ``Unseal.read`` is the integrators' verb."""

    read = UNSEAL.read

    @staticmethod
    def member(
        network: Network,
        cfg: UnsealConfig,
        committee: Sequence[EndpointAddr],
        *,
        secrets: KeygenSecrets,
        deadlines: Deadlines = DEFAULT_DEADLINES,
        data_dir: Path | None = None,
        raft: RaftConfig | None = None,
        private: bool = False,
    ) -> UnsealServer:
        """Start one member; ``secrets`` feed its side of the key generation (keep them
        durable, `KeygenSecrets.from_seed`, so a restarted member recomputes its share).

        ``private``: what is opened stays inside the committee (Compute's requests: only the
        matched provider may see one) — the surface publishes the key alone and nobody but
        the members replicates the log; members read the pool from their own replicas."""
        peers = [a.peer_id for a in committee]
        machine = UnsealMachine(cfg, peers)
        member = UNSEAL.committee(
            network,
            cfg,
            machine,
            _key_riding(machine, pool=not private),
            committee,
            data_dir=data_dir,
            raft=raft,
            access=MEMBERS_ONLY if private else READERS,
        )
        key = network.endpoint.secret_key
        core = UnsealMemberCore(
            peers.index(key.peer_id) + 1, key, secrets=secrets, deadlines=deadlines
        )
        return UnsealServer.hosting(member, machine, core, core=core)

    @staticmethod
    def replica(
        network: Network,
        cfg: UnsealConfig,
        committee: Sequence[EndpointAddr],
        *,
        raft: RaftConfig | None = None,
    ) -> PoolReplica:
        """UnsealedPool by slot, with every entry ever opened: a non-voting replica of the
        committee's log (it checks every proof itself, so it costs what a member's apply does)."""
        inner = UnsealMachine(cfg, [a.peer_id for a in committee])
        reader = UNSEAL.replica(
            network, cfg, inner, inner.store, committee, access=READERS, raft=raft
        )
        return PoolReplica(reader)

    @staticmethod
    async def group_key(
        network: Network,
        cfg: UnsealConfig,
        *,
        timeout_s: float = 10.0,
        producers: TicketValidator | None = None,
    ) -> bytes:
        """The committee's key, from the newest surface item; `ConnectTimeout` if none.

        Whoever publishes on the surface ids (they derive from the public Config) could offer
        a key of its own and read every request sealed to it: pass ``producers``, a validator
        the committee's members pass, wherever the network is not trusted."""
        reader: SurfaceReader[UnsealEvent] = UNSEAL.read(
            network, cfg, timeout_s=timeout_s, producers=producers
        )
        try:
            return (await reader.ready()).group_key
        finally:
            await reader.close()


def _key_riding(machine: UnsealMachine, *, pool: bool) -> Extractor:
    """The extractor: `KeyReady` once, then (with ``pool``) each opened entry with its key."""

    def extract(result: bytes) -> list[bytes]:
        r = decode(result, UnsealResult)
        out: list[UnsealEvent] = [KeyReady(r.group_key)] if r.group_key is not None else []
        key = machine.key
        if pool and r.opened and key is not None:
            out += [PoolEntry(e, key.group_key) for e in r.opened]
        return [encode(e) for e in out]

    return extract
