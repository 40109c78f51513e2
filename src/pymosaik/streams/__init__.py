"""Streams: typed producer → consumer dataflow (mosaik's ``/mosaik/streams/1.0``).

``net.streams.producer(PriceTick).require_ticket(v).build()`` advertises the
stream in discovery; ``async for tick in net.streams.consume(PriceTick)``
subscribes to every eligible producer. See docs/spec/streams.md.
"""

from .admission import Admission, PeerInfo, admit_consumer, producer_eligible, rtt_below
from .consumer import Backoff, Consumer, ConsumerBuilder, ConsumerConfig
from .datum import StreamId, schema_stream_id
from .directory import Directory, PeerView
from .messages import STREAMS_PROTOCOL, ConsumerHandshake, Criteria, SubscriptionAccepted
from .producer import Closed, Offline, Producer, ProducerBuilder, ProducerConfig, ProducerError
from .status import ChannelInfo, ChannelState, OnlineConditions, Stats
from .subsystem import AlreadyExistsError, Streams

__all__ = [
    "STREAMS_PROTOCOL",
    "Admission",
    "AlreadyExistsError",
    "Backoff",
    "ChannelInfo",
    "ChannelState",
    "Closed",
    "Consumer",
    "ConsumerBuilder",
    "ConsumerConfig",
    "ConsumerHandshake",
    "Criteria",
    "Directory",
    "Offline",
    "OnlineConditions",
    "PeerInfo",
    "PeerView",
    "Producer",
    "ProducerBuilder",
    "ProducerConfig",
    "ProducerError",
    "Stats",
    "StreamId",
    "Streams",
    "SubscriptionAccepted",
    "admit_consumer",
    "producer_eligible",
    "rtt_below",
    "schema_stream_id",
]
