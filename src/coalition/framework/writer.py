"""The write side of an organism: ticketed requests in, replies back, resent until answered."""

from __future__ import annotations

import asyncio
import contextlib

from pymosaik.network import Network
from pymosaik.primitives import UniqueId
from pymosaik.primitives.aio import TaskScope
from pymosaik.streams import Consumer, Producer
from pymosaik.streams.producer import ProducerError

from .committee import Reply, Request, SurfaceIds
from .errors import ConnectTimeout, Refused

__all__ = ["SurfaceWriter"]

DEFAULT_WRITE_TIMEOUT_S = 10.0
RESEND_S = 1.0


class SurfaceWriter:
    """Submits commands to a committee; the writer's tickets ride in its discovery entry.

    Members execute every copy they receive and the machine answers a repeated
    request id from memory, so resending after a lost reply never applies a
    command twice.
    """

    def __init__(self, network: Network, what: str, ids: SurfaceIds) -> None:
        if ids.requests is None or ids.replies is None:
            raise ValueError(f"{what} has no write surface")
        self._network = network
        self.what = what
        # One request producer per node and organism, shared by its writers (and
        # closed with the network): requests carry their own ids.
        self._requests: Producer[Request] = network.streams.produce(Request, stream_id=ids.requests)
        self._replies: Consumer[Reply] = network.streams.consumer(
            Reply, stream_id=ids.replies
        ).build()
        self._waiting: dict[UniqueId, asyncio.Future[Reply]] = {}
        self._scope = TaskScope(what)
        self._scope.spawn(self._collect(), name=f"{what}:replies")

    async def submit(self, command: bytes, *, timeout_s: float = DEFAULT_WRITE_TIMEOUT_S) -> bytes:
        """Commit ``command``; return the machine's result, `Refused` or `ConnectTimeout`."""
        request = Request(UniqueId.random(), command)
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._waiting[request.id] = future
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    await self._requests.online()
                    with contextlib.suppress(ProducerError):
                        self._requests.try_send(request)
                    done, _ = await asyncio.wait({future}, timeout=RESEND_S)
                    if done:
                        break
        except TimeoutError:
            raise ConnectTimeout(self.what, timeout_s) from None
        finally:
            self._waiting.pop(request.id, None)
        reply = future.result()
        if not reply.ok:
            raise Refused(self.what, reply.reason)
        return reply.result

    async def _collect(self) -> None:
        while (reply := await self._replies.recv()) is not None:
            future = self._waiting.get(reply.id)
            if future is not None and not future.done():
                future.set_result(reply)

    async def close(self) -> None:
        try:
            await self._scope.aclose()
        finally:
            await self._replies.close()
