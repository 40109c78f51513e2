"""One declared shape for every organism, basic services included.

An organism is declared once as an `OrganismSpec`: its kind, the item type its public surface
carries, and how its ids and its display name derive from its Config — the only place ids are
derived, so raw ids never leave the package that declares it. The verbs come from the
declaration: ``spec.read(network, cfg)`` (a typed reader of the frame surface),
``spec.replica(...)`` (a reader of keyed surfaces, by key with history), ``spec.writer(network,
cfg)`` (the ticketed write side, for writable organisms) and ``spec.committee(...)`` (start one
committee member with the organism's machine). An organism's module adds its typed wrappers
(``Feed``, ``Atlas``, …) on top of these, never beside them.

The ACL a Config publishes is enforced, not only folded into the id: where the declaration
names it (``acl``), ``committee`` compiles it (`compile_acl`) into the requirement on the write
intake unless the caller passes an explicit ``writers``. Clauses that need run-time lookups
(reputation, settlement, TDX, JWT, issuer keys) read them from ``acl_context``; without one they
fail closed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from pymosaik.groups.access import GroupAccess
from pymosaik.groups.driver import TicketSource
from pymosaik.groups.raft import RaftConfig
from pymosaik.network import Network
from pymosaik.primitives import decode
from pymosaik.tickets import TicketRequirement, TicketValidator
from pymosaik.transport import EndpointAddr

from ..acl import AclComposition, AclMode
from ..acl_validator import AclContext, compile_acl
from .committee import MEMBERS_ONLY, CommitteeMember, SurfaceIds
from .keyed import KeyedStore
from .keyed_read import KeyedReader
from .reader import DEFAULT_CONNECT_TIMEOUT_S, SurfaceReader
from .surface import Extractor, SurfaceMachine
from .writer import SurfaceWriter

__all__ = ["OrganismSpec"]

Cfg = TypeVar("Cfg")
Item = TypeVar("Item")


@dataclass(frozen=True)
class OrganismSpec(Generic[Cfg, Item]):
    """An organism's declaration: ``kind``, its public ``item`` type, ``ids`` and ``what``
    (a display name for errors and logs) from its Config, whether it takes writes, and ``acl``:
    the composition its Config publishes for writers (``None``: gated by the caller only)."""

    kind: str
    item: type[Item]
    ids: Callable[[Cfg], SurfaceIds]
    what: Callable[[Cfg], str]
    acl: Callable[[Cfg], AclComposition] | None = None

    def writable(self, cfg: Cfg) -> bool:
        return self.ids(cfg).requests is not None

    def writers(self, cfg: Cfg, ctx: AclContext | None = None) -> TicketRequirement | None:
        """The Config's ACL compiled into the intake's requirement (``None``: open)."""
        if self.acl is None:
            return None
        acl = self.acl(cfg)
        return None if AclMode(acl.mode) is AclMode.OPEN else compile_acl(acl, ctx)

    def read(
        self,
        network: Network,
        cfg: Cfg,
        *,
        timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        follow_successors: bool = False,
        producers: TicketValidator | None = None,
    ) -> SurfaceReader[Item]:
        """A typed reader of the public surface (each item once, in order, across members)."""
        item: type[Item] = self.item
        return SurfaceReader(
            network,
            self.what(cfg),
            self.ids(cfg).surface,
            lambda body: decode(body, item),
            follow_successors=follow_successors,
            connect_timeout_s=timeout_s,
            producers=producers,
        )

    def replica(
        self,
        network: Network,
        cfg: Cfg,
        inner: Any,
        store: KeyedStore,
        members: Sequence[EndpointAddr],
        *,
        access: GroupAccess,
        tickets: TicketSource = (),
        raft: RaftConfig | None = None,
    ) -> KeyedReader:
        """A reader of the organism's keyed surfaces: it replicates the committee's log as a
        non-voting observer (admitted by ``access``; reader tickets in ``tickets``), so every
        replica converges on the same entries and history. ``inner`` is a fresh machine whose
        `KeyedStore` is ``store``."""
        ids = self.ids(cfg)
        machine = SurfaceMachine(ids.surface, inner, lambda _result: [])
        return KeyedReader(
            network,
            self.what(cfg),
            ids,
            machine,
            members,
            store=store,
            access=access,
            tickets=tickets,
            raft=raft,
        )

    def writer(self, network: Network, cfg: Cfg) -> SurfaceWriter:
        """The ticketed write side; `ValueError` for an organism that takes no writes."""
        return SurfaceWriter(network, self.what(cfg), self.ids(cfg))

    def committee(
        self,
        network: Network,
        cfg: Cfg,
        inner: Any,
        extract: Extractor,
        members: Sequence[EndpointAddr],
        *,
        data_dir: Path | None = None,
        raft: RaftConfig | None = None,
        writers: TicketValidator | TicketRequirement | None = None,
        acl_context: AclContext | None = None,
        republish_s: float = 1.0,
        access: GroupAccess = MEMBERS_ONLY,
        tickets: TicketSource = (),
    ) -> CommitteeMember:
        """Start one committee member running ``inner`` (the organism's pure machine) behind
        the framework's surface wrapper; ``extract`` maps each result to the public items.
        The write intake admits ``writers`` if given, else whoever passes the Config's ACL."""
        ids = self.ids(cfg)
        if writers is None:
            writers = self.writers(cfg, acl_context)
        return CommitteeMember.start(
            network,
            self.what(cfg),
            ids,
            SurfaceMachine(ids.surface, inner, extract),
            members,
            data_dir=data_dir,
            raft=raft,
            writers=writers,
            republish_s=republish_s,
            access=access,
            tickets=tickets,
        )
