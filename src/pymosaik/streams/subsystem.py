"""`Streams`: the per-node registry of producers and consumers, and the protocol acceptor."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, TypeVar

from ..primitives import Clock, DecodeError, NetworkId, PeerId, UniqueId
from ..primitives.aio import TaskScope
from ..transport import Endpoint, Link, LinkClosedError, reasons
from .admission import admit_consumer
from .consumer import Consumer, ConsumerBuilder, ConsumerConfig
from .datum import schema_stream_id
from .directory import Directory
from .messages import STREAMS_PROTOCOL, ConsumerHandshake
from .producer import Producer, ProducerBuilder, ProducerConfig
from .session import HANDSHAKE_TIMEOUT_S

__all__ = ["AlreadyExistsError", "Streams"]

D = TypeVar("D")


class AlreadyExistsError(Exception):
    """A producer for this stream id already exists on this node; ``existing`` is it."""

    def __init__(self, existing: Producer[Any]) -> None:
        super().__init__(f"a producer for stream {existing.stream_id.short()} already exists")
        self.existing = existing


class Streams:
    def __init__(
        self, endpoint: Endpoint, directory: Directory, network_id: NetworkId, clock: Clock
    ) -> None:
        self.endpoint = endpoint
        self.directory = directory
        self.network_id = network_id
        self.clock = clock
        self._producers: dict[UniqueId, Producer[Any]] = {}
        self._consumers: set[Consumer[Any]] = set()
        self._scope = TaskScope("streams")
        self._recheck: asyncio.Task[None] | None = None
        endpoint.accept(STREAMS_PROTOCOL, self._accept)

    @property
    def local_id(self) -> PeerId:
        return self.endpoint.peer_id

    # ---- builders ----------------------------------------------------------
    def producer(
        self, datum_type: type[D], *, stream_id: UniqueId | str | None = None
    ) -> ProducerBuilder[D]:
        return ProducerBuilder(self, datum_type, schema_stream_id(datum_type, stream_id))

    def consumer(
        self, datum_type: type[D], *, stream_id: UniqueId | str | None = None
    ) -> ConsumerBuilder[D]:
        return ConsumerBuilder(self, datum_type, schema_stream_id(datum_type, stream_id))

    def produce(
        self, datum_type: type[D], *, stream_id: UniqueId | str | None = None
    ) -> Producer[D]:
        """The existing producer for the stream, or a new one with defaults."""
        try:
            return self.producer(datum_type, stream_id=stream_id).build()
        except AlreadyExistsError as exc:
            existing: Producer[D] = exc.existing
            return existing

    def consume(
        self, datum_type: type[D], *, stream_id: UniqueId | str | None = None
    ) -> Consumer[D]:
        return self.consumer(datum_type, stream_id=stream_id).build()

    def _add_producer(
        self, stream_id: UniqueId, datum_type: type[D], config: ProducerConfig
    ) -> Producer[D]:
        if stream_id in self._producers:
            raise AlreadyExistsError(self._producers[stream_id])
        producer = Producer(self, stream_id, datum_type, config)
        self._producers[stream_id] = producer
        self.directory.advertise_stream(stream_id)
        self._ensure_recheck()
        return producer

    def _remove_producer(self, producer: Producer[Any]) -> None:
        if self._producers.get(producer.stream_id) is producer:
            del self._producers[producer.stream_id]
            self.directory.withdraw_stream(producer.stream_id)

    def _add_consumer(
        self, stream_id: UniqueId, datum_type: type[D], config: ConsumerConfig
    ) -> Consumer[D]:
        consumer = Consumer(self, stream_id, datum_type, config)
        self._consumers.add(consumer)
        return consumer

    def _remove_consumer(self, consumer: Consumer[Any]) -> None:
        self._consumers.discard(consumer)

    # ---- accepting consumers ---------------------------------------------
    async def _accept(self, link: Link) -> None:
        peer = self.directory.get(link.peer_id)
        if peer is None:
            await link.close(reasons.UNKNOWN_PEER)
            return
        try:
            async with asyncio.timeout(HANDSHAKE_TIMEOUT_S):
                hs = await link.recv(ConsumerHandshake)
        except (TimeoutError, DecodeError):
            await link.close(reasons.PROTOCOL_VIOLATION)
            return
        except LinkClosedError:
            return
        producer = self._producers.get(hs.stream_id)
        if producer is None:
            # Refused in mosaik's order: another network first, then no such stream.
            decision = admit_consumer(
                peer,
                local_network=self.network_id,
                requested_network=hs.network_id,
                stream_known=False,
                predicates=(),
                requirements=(),
                consumers=0,
                max_consumers=None,
                now_ms=self.clock.now_ms(),
            )
            await link.close(decision.refused or reasons.STREAM_NOT_FOUND)
            return
        with contextlib.suppress(LinkClosedError):
            await producer.accept(link, peer, hs)

    # ---- catalog changes -------------------------------------------------
    def _ensure_recheck(self) -> None:
        if self._recheck is None or self._recheck.done():
            self._recheck = self._scope.spawn(self._recheck_loop(), name="streams:recheck")

    async def _recheck_loop(self) -> None:
        version = self.directory.version
        while self._producers:
            version = await self.directory.changed(version)
            now = self.clock.now_ms()
            for producer in list(self._producers.values()):
                producer.recheck(self.directory, now)

    async def aclose(self) -> None:
        for consumer in list(self._consumers):
            await consumer.close()
        for producer in list(self._producers.values()):
            await producer.close()
        await self._scope.aclose()
