"""asyncio helpers the drivers share: `TaskScope` owns tasks, `Watch` wakes waiters.

Protocol cores never import this module; only the thin asyncio drivers above
them do, so the cores stay free of asyncio.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, Self, TypeVar

__all__ = ["TaskScope", "Watch"]

log = logging.getLogger("pymosaik.aio")

T = TypeVar("T")


class TaskScope:
    """Owns background tasks the way a trio nursery does, for objects that outlive a call.

    * No child outlives the scope: ``aclose()`` cancels every child and waits for it.
    * A child's unhandled exception is never swallowed: it cancels the siblings,
      closes the scope (``spawn`` then refuses) and is raised by ``aclose()``.
      Children catch what they expect (a peer hanging up); anything else is a bug
      and stops the whole owner rather than leaving it half alive.
    * ``async with TaskScope() as scope:`` behaves like `asyncio.TaskGroup`: the
      block waits for its children on exit, and a failing child cancels the
      block's task too, so the error surfaces where the scope was opened.

    Unlike a TaskGroup, ``spawn``/``aclose`` need no enclosing block: a
    long-lived object (an endpoint, a group) spawns in one method and closes in
    another, which entering a TaskGroup by hand cannot do safely (its failure
    would cancel whichever task happened to enter it).
    """

    def __init__(self, name: str = "scope") -> None:
        self.name = name
        self._tasks: set[asyncio.Task[Any]] = set()
        self._error: BaseException | None = None
        self._closed = False
        self._host: asyncio.Task[Any] | None = None
        self._host_cancelled = False

    @property
    def active(self) -> bool:
        """True until the scope is closed or a child has failed."""
        return not self._closed and self._error is None

    @property
    def error(self) -> BaseException | None:
        """The first unhandled child exception, if any."""
        return self._error

    def spawn(self, coro: Coroutine[Any, Any, T], *, name: str | None = None) -> asyncio.Task[T]:
        """Run ``coro`` as a child; raises RuntimeError (closing ``coro``) once inactive."""
        if not self.active:
            coro.close()
            raise RuntimeError(f"{self.name} is closed") from self._error
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._on_done)
        # A task cancelled before its first step never starts ``coro``; closing it
        # then (a no-op once it has run) avoids "coroutine was never awaited".
        task.add_done_callback(lambda _t: coro.close())
        return task

    def _on_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            return
        if self._error is not None:
            log.error("%s: %r failed too: %r", self.name, task.get_name(), exc)
            return
        # said now, not only when the owner closes the scope: a long-lived scope (a member's
        # core host) would otherwise stop without a word until shutdown
        log.error("%s: %r failed: %r", self.name, task.get_name(), exc)
        self._error = exc
        for sibling in self._tasks:
            sibling.cancel()
        host = self._host
        if host is not None and not host.done():
            self._host_cancelled = True
            host.cancel()

    async def _join(self) -> None:
        """Wait until every child is done; if we are cancelled meanwhile, cancel them first."""
        cancelled: asyncio.CancelledError | None = None
        while self._tasks:
            try:
                await asyncio.wait(set(self._tasks))
            except asyncio.CancelledError as exc:
                cancelled = exc
                for task in self._tasks:
                    task.cancel()
        if cancelled is not None:
            raise cancelled

    def _raise(self) -> None:
        error, self._error = self._error, None
        if error is not None:
            self._closed = True
            raise error

    async def aclose(self) -> None:
        """Cancel every child, wait for them all, then raise the first child error (once)."""
        self._closed = True
        for task in self._tasks:
            task.cancel()
        await self._join()
        self._raise()

    async def __aenter__(self) -> Self:
        self._host = asyncio.current_task()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        host, self._host = self._host, None
        ours = False
        if self._host_cancelled and host is not None:
            # We cancelled the block because a child failed: that cancellation is ours
            # to absorb (unless someone else cancelled the task too).
            ours = host.uncancel() == 0 and exc_type is asyncio.CancelledError
        if exc_type is not None:
            for task in self._tasks:
                task.cancel()
        try:
            await self._join()
        finally:
            self._closed = True
        if self._error is not None and (exc_type is None or ours):
            self._raise()
        if self._error is not None:
            # The block raised on its own; keep the child's error visible with it.
            log.error("%s: child failed while the block raised: %r", self.name, self._error)
            self._error = None
        return ours


class Watch:
    """A version counter tasks can wait on: ``await watch.until(predicate)``.

    ``bump`` wakes every waiter by setting the current event and swapping in a
    fresh one, so no task is spawned and no wake-up is lost.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.version = 0

    def bump(self) -> None:
        self.version += 1
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def until(self, predicate: Callable[[], bool]) -> None:
        while True:
            event = self._event
            if predicate():
                return
            await event.wait()

    async def changed(self, since: int) -> int:
        await self.until(lambda: self.version != since)
        return self.version
