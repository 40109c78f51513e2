"""Who may bond to a module committee's Raft group, and the tickets that say so.

A module's group secret derives from the public CoalitionConfig, so knowing it
proves nothing. The committee's `GroupAccess` therefore asks for tickets:

* **member** (voters): signed by the coalition operator key. The Config names
  no peer keys for a module committee (its members preimage is lattices and
  organisms), and every module member already holds the operator key (L9 in
  docs/spec/organisms.md), so each member mints its own short-lived member
  ticket at every bond; the ticket shows the operator authorised that seat.
* **reader** (observers: replicate the log, read locally): signed by the
  operator, or any ticket of the coalition's ticket issuer when the Config
  ships one (those carry no role, and reading is what they are for);
* **writer** (observers whose forwarded commands may reach the log): signed
  by the operator only. A writer ticket also admits its holder as a reader.

A member also carries a member ticket in its discovery entry (`advertise_seat`, renewed well
before it lapses), so a reader of the committee's streams can tell its members from anyone
publishing on the same (public) surface ids: ``producers=committee_members(coalition, kind,
operator)``.

Tickets are `coalition.ticket_issuer.IssuedTicket`s under a per-role root
``module_committee(kind).derive("tickets").derive(role)``, so one role's
ticket never passes as another's and one module's never passes for another.
Decision record: docs/decisions/0012-committee-bond-tickets.md.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Callable

from pymosaik.groups.access import GroupAccess
from pymosaik.network import Network
from pymosaik.primitives import Clock, NetworkId, PeerId, SecretKey, SystemClock, UniqueId
from pymosaik.tickets import AnyOf, Ticket, TicketValidator

from ..config import CoalitionConfig
from ..modules import ModuleKind
from ..ticket_issuer import RecogniseIssuer, TicketIssuer, recognise_coalition_issuer

__all__ = [
    "MEMBER_TICKET_TTL_MS",
    "SEAT_RENEW_MS",
    "CommitteeRole",
    "advertise_seat",
    "committee_members",
    "issue_committee_ticket",
    "member_tickets",
    "module_access",
    "operator_writers",
    "role_root",
]

#: A member's own ticket lives a day; each new bond presents a freshly minted one.
MEMBER_TICKET_TTL_MS = 24 * 3600 * 1000
#: How often a running member renews the seat ticket in its discovery entry.
SEAT_RENEW_MS = 3600 * 1000


class CommitteeRole(enum.StrEnum):
    MEMBER = "member"
    READER = "reader"
    WRITER = "writer"


def role_root(coalition: CoalitionConfig, kind: ModuleKind, role: CommitteeRole) -> UniqueId:
    """The ticket class (and issuance root) of ``role`` on ``kind``'s committee."""
    committee = coalition.module_committee(kind)
    if committee is None:
        raise ValueError(f"coalition {coalition.instance_name!r} ships no {kind.value} module")
    return committee.derive("tickets").derive(role.value)


def module_access(coalition: CoalitionConfig, kind: ModuleKind, operator: PeerId) -> GroupAccess:
    """The committee's bond rules; every member and observer must build the same ones."""

    def signed(role: CommitteeRole) -> RecogniseIssuer:
        return RecogniseIssuer(role_root(coalition, kind, role), [operator])

    readers: list[TicketValidator] = [
        signed(CommitteeRole.READER),
        operator_writers(coalition, kind, operator),
    ]
    if coalition.ticket_issuer is not None:
        # An issuer whose ACL names no signing key issues nothing anyone could verify.
        with contextlib.suppress(ValueError):
            readers.append(recognise_coalition_issuer(coalition))
    return GroupAccess(
        voters=signed(CommitteeRole.MEMBER),
        observers=AnyOf(*readers),
        forwarders=operator_writers(coalition, kind, operator),
    )


def operator_writers(
    coalition: CoalitionConfig, kind: ModuleKind, operator: PeerId
) -> TicketValidator:
    """The door of a committee intake that takes only the operator's writers: a writer ticket
    signed by the coalition operator."""
    return RecogniseIssuer(role_root(coalition, kind, CommitteeRole.WRITER), [operator])


def issue_committee_ticket(
    coalition: CoalitionConfig,
    kind: ModuleKind,
    role: CommitteeRole,
    *,
    operator_key: SecretKey,
    holder: PeerId,
    network: NetworkId,
    now_ms: int | None = None,
    ttl_ms: int | None = None,
) -> Ticket:
    """A ``role`` ticket for ``holder`` on ``kind``'s committee, signed by the operator."""
    issued = SystemClock().now_ms() if now_ms is None else now_ms
    issuer = TicketIssuer(role_root(coalition, kind, role), operator_key)
    return issuer.issue(holder, network, issued, ttl_ms)


def member_tickets(
    coalition: CoalitionConfig,
    kind: ModuleKind,
    *,
    operator_key: SecretKey,
    me: PeerId,
    network: NetworkId,
    clock: Clock,
) -> Callable[[], list[Ticket]]:
    """What a member presents in its bond hellos: a fresh member ticket for each bond."""
    root = role_root(coalition, kind, CommitteeRole.MEMBER)

    def fresh() -> list[Ticket]:
        issuer = TicketIssuer(root, operator_key)
        return [issuer.issue(me, network, clock.now_ms(), MEMBER_TICKET_TTL_MS)]

    return fresh


def committee_members(
    coalition: CoalitionConfig, kind: ModuleKind, operator: PeerId
) -> RecogniseIssuer:
    """Who is a member of ``kind``'s committee: a peer whose discovery entry carries a member
    ticket the coalition operator signed. Pass it as ``producers=`` to read only the committee."""
    return RecogniseIssuer(role_root(coalition, kind, CommitteeRole.MEMBER), [operator])


def advertise_seat(
    coalition: CoalitionConfig, kind: ModuleKind, *, operator_key: SecretKey, network: Network
) -> None:
    """Put (or renew) this member's seat ticket in its discovery entry; tickets of other
    classes it carries stay."""
    me = network.endpoint.secret_key.peer_id
    ticket = issue_committee_ticket(
        coalition,
        kind,
        CommitteeRole.MEMBER,
        operator_key=operator_key,
        holder=me,
        network=network.network_id,
        now_ms=network.clock.now_ms(),
        ttl_ms=MEMBER_TICKET_TTL_MS,
    )
    others = [t for t in network.discovery.local().tickets if t.class_id != ticket.class_id]
    network.discovery.set_tickets([*others, ticket])
