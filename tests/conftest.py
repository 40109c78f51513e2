"""Fixtures several test directories share (pytest runs with --import-mode=importlib, so
test modules cannot import each other: shared harness lives here)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from pymosaik.groups.driver import Groups
from pymosaik.network import Network
from pymosaik.primitives import UNIVERSE, SecretKey
from pymosaik.transport import Endpoint

#: ``await group_nodes(n)``: n endpoints listening on loopback, each with its `Groups`.
GroupNodes = Callable[[int], Awaitable[list[tuple[Endpoint, Groups]]]]


@pytest.fixture
async def group_nodes() -> AsyncIterator[GroupNodes]:
    """Start endpoints with their group registries; everything started is closed afterwards."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(count: int) -> list[tuple[Endpoint, Groups]]:
            nodes = []
            for _ in range(count):
                ep = Endpoint(SecretKey.generate(), UNIVERSE)
                await ep.start()
                stack.push_async_callback(ep.aclose)
                groups = Groups(ep)
                stack.push_async_callback(groups.aclose)  # before its endpoint (LIFO)
                nodes.append((ep, groups))
            return nodes

        yield start


@pytest.fixture
async def nets() -> AsyncIterator[list[Network]]:
    """Networks a test creates and appends here are closed afterwards (in creation order)."""
    made: list[Network] = []
    yield made
    for net in made:
        await net.close()


#: ``await new_network(**create_kw)``: a loopback `Network` bootstrapped from the first one made.
NewNetwork = Callable[..., Awaitable[Network]]
#: ``await organism_committee(Feed.member, cfg, **member_kw)`` → three members.
OrganismCommittee = Callable[..., Awaitable[list[Any]]]


@pytest.fixture
def new_network(nets: list[Network]) -> NewNetwork:
    """Networks on loopback with fast discovery, closed afterwards (they go into ``nets``)."""
    from pymosaik.discovery import DiscoveryConfig  # noqa: PLC0415 - heavy, on use

    async def create(**kw: Any) -> Network:
        boot = [nets[0].addr] if nets else []
        net = await Network.create(bootstrap=boot, discovery=DiscoveryConfig.loopback(), **kw)
        nets.append(net)
        return net

    return create


@pytest.fixture
def organism_committee(new_network: NewNetwork) -> OrganismCommittee:
    """Three members of a standalone organism (``member`` is its verb, e.g. ``Feed.member``),
    each on a network of its own, with loopback Raft timings unless ``raft=`` is given."""
    from pymosaik.groups.raft import RaftConfig  # noqa: PLC0415

    async def start(member: Callable[..., Any], cfg: object, **kw: Any) -> list[Any]:
        member_nets = [await new_network() for _ in range(3)]
        addrs = [n.addr for n in member_nets]
        kw.setdefault("raft", RaftConfig.loopback())
        return [member(n, cfg, addrs, **kw) for n in member_nets]

    return start


#: ``await module_committee(kind, coalition, operator, *, extra=1, data_dir=None, **start_kw)``
#: → (networks, members): three members of a module committee on loopback, plus ``extra`` bare
#: networks (integrators, agents); everything is closed afterwards.
ModuleCommittee = Callable[..., Awaitable[tuple[list[Network], list[object]]]]


@pytest.fixture
async def module_committee() -> AsyncIterator[ModuleCommittee]:
    from coalition.services.committees import start_member  # noqa: PLC0415 - heavy, on use
    from pymosaik.discovery import DiscoveryConfig  # noqa: PLC0415
    from pymosaik.groups.raft import RaftConfig  # noqa: PLC0415

    nets: list[Network] = []
    members: list[object] = []

    async def start(
        kind: object,
        coalition: object,
        operator: SecretKey,
        *,
        extra: int = 1,
        data_dir: Callable[[int], object] | None = None,
        **kw: object,
    ) -> tuple[list[Network], list[object]]:
        mine: list[Network] = []
        for _ in range(3 + extra):
            boot = [mine[0].addr] if mine else []
            net = await Network.create(bootstrap=boot, discovery=DiscoveryConfig.loopback())
            nets.append(net)
            mine.append(net)
        addrs = [n.addr for n in mine[:3]]
        for i, net in enumerate(mine[:3]):
            where = {"data_dir": data_dir(i)} if data_dir is not None else {}
            members.append(
                await start_member(
                    kind,  # type: ignore[arg-type]
                    net,
                    coalition,  # type: ignore[arg-type]
                    committee=addrs,
                    operator_key=operator,
                    raft=RaftConfig.loopback(),
                    **where,  # type: ignore[arg-type]
                    **kw,  # type: ignore[arg-type]
                )
            )
        return mine, members[-3:]

    yield start
    for m in members:
        await m.close()  # type: ignore[attr-defined]
    for n in nets:
        await n.close()
