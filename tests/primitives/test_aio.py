"""`TaskScope`: children never outlive it, and a child's error is never swallowed."""

from __future__ import annotations

import asyncio

import pytest

from pymosaik.primitives.aio import TaskScope, Watch


class BoomError(Exception):
    pass


async def _fail_soon() -> None:
    await asyncio.sleep(0)
    raise BoomError("child bug")


async def test_aclose_cancels_and_awaits_every_child() -> None:
    scope = TaskScope("test")
    forever = scope.spawn(asyncio.sleep(3600))
    await asyncio.sleep(0)
    await scope.aclose()
    assert forever.cancelled()
    assert not scope.active
    with pytest.raises(RuntimeError, match="closed"):
        scope.spawn(asyncio.sleep(0))


async def test_a_child_error_cancels_its_siblings_and_is_raised_by_aclose(
    caplog: pytest.LogCaptureFixture,
) -> None:
    scope = TaskScope("test")
    sibling = scope.spawn(asyncio.sleep(3600))
    scope.spawn(_fail_soon(), name="boomer")
    await asyncio.sleep(0.01)
    assert sibling.cancelled()
    # logged when it happens, not only when the owner closes the scope
    assert any(
        "'boomer' failed" in r.getMessage() and "child bug" in r.getMessage()
        for r in caplog.records
    )
    assert isinstance(scope.error, BoomError)
    with pytest.raises(RuntimeError) as refused:
        scope.spawn(asyncio.sleep(0))
    assert isinstance(refused.value.__cause__, BoomError)
    with pytest.raises(BoomError):
        await scope.aclose()
    await scope.aclose()  # raised once; closing again is quiet


async def test_async_with_waits_for_children() -> None:
    done: list[int] = []

    async def work(i: int) -> None:
        await asyncio.sleep(0.01)
        done.append(i)

    async with TaskScope("test") as scope:
        for i in range(3):
            scope.spawn(work(i))
    assert sorted(done) == [0, 1, 2]


async def test_async_with_cancels_the_block_and_raises_the_child_error() -> None:
    reached_end = False

    async def body() -> None:
        nonlocal reached_end
        async with TaskScope("test") as scope:
            scope.spawn(_fail_soon())
            await asyncio.sleep(3600)
            reached_end = True

    with pytest.raises(BoomError):
        await body()
    assert not reached_end
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0  # our cancellation was absorbed


async def test_async_with_respects_an_outside_cancellation() -> None:
    started = asyncio.Event()
    child: list[asyncio.Task[None]] = []

    async def body() -> None:
        async with TaskScope("test") as scope:
            child.append(scope.spawn(asyncio.sleep(3600)))
            started.set()
            await asyncio.sleep(3600)

    outer = asyncio.create_task(body())
    await started.wait()
    outer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await outer
    assert child[0].cancelled()


async def test_watch_wakes_every_waiter() -> None:
    watch = Watch()
    waiters = [asyncio.create_task(watch.changed(0)) for _ in range(3)]
    await asyncio.sleep(0)
    watch.bump()
    assert await asyncio.gather(*waiters) == [1, 1, 1]
