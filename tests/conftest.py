"""Fixtures several test directories share (pytest runs with --import-mode=importlib, so
test modules cannot import each other: shared harness lives here)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

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
