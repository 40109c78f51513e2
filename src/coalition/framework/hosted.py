"""A committee member with its pure member core: the one way an organism hosts a core.

`OrganismSpec.committee` starts the member (group, surface, intake); `HostedMember.start` adds
the `CoreHost` that steps the core against the member's replica and commits what it proposes,
each command wrapped for the surface machine like any other. Organisms subclass it to add
their own status and inputs (zipnet's server, unseal's member, committee opinions).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, Self, TypeVar

from pymosaik.primitives import encode

from .committee import CommitteeMember
from .core_host import CoreHost, MemberCore
from .surface import Wrapped

__all__ = ["HostedMember", "surface_command"]

M = TypeVar("M")
C = TypeVar("C")


def surface_command(cmd: Any) -> bytes:
    """A core's command as the surface machine takes it (an inner command, wrapped)."""
    return encode(Wrapped(encode(cmd)))


@dataclass
class HostedMember(Generic[M, C]):
    committee: CommitteeMember
    host: CoreHost[M, C]

    @classmethod
    def hosting(
        cls, committee: CommitteeMember, machine: M, core: MemberCore[M, C], /, **extra: Any
    ) -> Self:
        """Start ``core`` on ``committee``'s group against ``machine`` (its replica);
        ``extra``: the subclass's own fields."""
        host: CoreHost[M, C] = CoreHost(committee.group, machine, core, surface_command)
        host.start()
        return cls(committee, host, **extra)

    @property
    def machine(self) -> M:
        return self.host.machine

    async def close(self) -> None:
        try:
            await self.host.aclose()
        finally:
            await self.committee.close()
