"""Wire messages of the streams protocol (``/mosaik/streams/1.0``)."""

from __future__ import annotations

from typing import Final

from ..primitives import UniqueId, Wire

__all__ = ["STREAMS_PROTOCOL", "ConsumerHandshake", "Criteria", "SubscriptionAccepted"]

STREAMS_PROTOCOL: Final = "/mosaik/streams/1.0"


class Criteria(Wire, frozen=True):
    """Data selection sent to the producer. Like mosaik's, it currently matches everything."""

    def matches(self, datum: object) -> bool:
        return True


class ConsumerHandshake(Wire, frozen=True):
    """The consumer's first message: which stream, on which network, with which criteria."""

    network_id: UniqueId
    stream_id: UniqueId
    criteria: Criteria = Criteria()


class SubscriptionAccepted(Wire, frozen=True):
    """The producer's answer before data flows; refusals are close reasons instead."""

    stream_id: UniqueId
