"""The staging committee (E9): where an agent drifts candidate policies before promoting one.

The book: an agent "may use a non-TDX staging committee it authored itself to evaluate candidate
policies before promoting the winner to a TDX-gated deployment. The staging committee's Config
is absent from every production consumer's TicketValidator; its commits are invisible to
production" (819; again 2894, 3173), and the cycle is staging → promote → publish (823–831).

How that holds here:

* Staging members hold tickets of their own class, ``staging_root(agent)``: a root derived from
  the production agent's stable id, signed by a key the agent chooses (``staging_issuer``). It is
  neither the coalition issuer's root nor TDX (825: "no TDX requirement in its manifest"), so a
  production consumer's validator — the coalition issuer, a TDX measurement — matches none of
  their tickets.
* Surface ids derive from public Configs, so a reader authenticates producers (``producers=``).
  `bond` reads a surface only from producers its validator accepts and refuses at the bond —
  `ReadRefused` naming each producer's reason — when the producers it finds all fail. A
  production consumer therefore cannot read the staging committee even when it asks to, and a
  frame a staging member puts on the production surface never reaches it.
* Pattern III (1059): a consumer that wants the shadow opts in "via a separate ticket validator
  clause" — ``staging_clause(agent, keys)`` as the shadow side's validator in `shadow.opt_in`.
* Promote → publish: the experiment machine never names a staging candidate in a retirement
  marker; ``Promote`` names the winner's production deployment, whose members hold production
  tickets, and followers of the marker read it with their unchanged production validator.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Final, TypeVar

from coalition.framework.errors import ConnectTimeout
from coalition.framework.keyed_read import ReadRefused
from coalition.framework.reader import DEFAULT_CONNECT_TIMEOUT_S, SurfaceReader
from coalition.framework.spec import OrganismSpec
from coalition.ticket_issuer import RecogniseIssuer, TicketIssuer
from pymosaik.network import Network
from pymosaik.primitives import PeerId, SecretKey, UniqueId
from pymosaik.streams.directory import PeerView
from pymosaik.tickets import InvalidTicketError, TicketValidator, validate_ticket

__all__ = ["bond", "producer_refusal", "staging_clause", "staging_issuer", "staging_root"]

Cfg = TypeVar("Cfg")
Item = TypeVar("Item")

_LABEL: Final = "experiments.staging-tickets.v1"


def staging_root(agent: UniqueId) -> UniqueId:
    """The staging ticket class of the agent with stable id ``agent`` (no other root equals it)."""
    return agent.derive(_LABEL)


def staging_issuer(agent: UniqueId, key: SecretKey) -> TicketIssuer:
    """Signs the staging members' tickets; the agent authored the committee (819, 825)."""
    return TicketIssuer(staging_root(agent), key)


def staging_clause(agent: UniqueId, keys: Iterable[PeerId]) -> RecogniseIssuer:
    """The opt-in clause: producers holding the agent's staging tickets (Pattern III, 1059)."""
    return RecogniseIssuer(staging_root(agent), keys)


def producer_refusal(validator: TicketValidator, peer: PeerView, now_ms: int) -> str | None:
    """Why a consumer whose validator is ``validator`` does not read from ``peer`` (None: it
    does). The consumer's own check of a producer's discovery entry, as its streams make it."""
    try:
        validate_ticket(validator, tuple(peer.tickets), peer, now_ms)
    except InvalidTicketError as exc:
        return str(exc)
    return None


async def bond(
    network: Network,
    spec: OrganismSpec[Cfg, Item],
    cfg: Cfg,
    *,
    producers: TicketValidator,
    timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
    follow_successors: bool = False,
) -> SurfaceReader[Item]:
    """A reader of ``cfg``'s surface from producers ``producers`` accepts.

    Returns as soon as the catalog shows one acceptable producer. When ``timeout_s`` passes
    without one, raises `ReadRefused` with each producer's reason if producers were seen (a
    staging committee seen by a production consumer), else `ConnectTimeout` (nothing there).
    """
    surface, what = spec.ids(cfg).surface, spec.what(cfg)
    directory = network.streams.directory
    refused: dict[str, str] = {}
    version = -1
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                now = network.clock.now_ms()
                refused = {}
                for peer in directory.peers():
                    if surface not in peer.streams or peer.network_id != network.network_id:
                        continue
                    why = producer_refusal(producers, peer, now)
                    if why is None:
                        return spec.read(
                            network,
                            cfg,
                            timeout_s=timeout_s,
                            follow_successors=follow_successors,
                            producers=producers,
                        )
                    refused[str(peer.peer_id)] = why
                version = await directory.changed(version)
    except TimeoutError:
        pass
    if refused:
        raise ReadRefused(what, refused)
    raise ConnectTimeout(what, timeout_s)
