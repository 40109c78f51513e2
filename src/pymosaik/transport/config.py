"""Transport configuration and node addresses."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from pymosaik.primitives import KEY_LEN, PeerId, Wire

from .machine import DEFAULT_MAX_FRAME_SIZE

__all__ = ["EndpointAddr", "SocketAddr", "TransportConfig"]


@dataclass(frozen=True, slots=True)
class TransportConfig:
    """Knobs of an `Endpoint` and its links; the defaults suit loopback and LAN."""

    #: Largest message body a link sends or accepts; bigger frames close the link
    #: with ProtocolViolation before their body is read.
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE
    #: Seconds from TCP connect until both identities are proven.
    handshake_timeout: float = 10.0
    #: Seconds a closing link waits for the peer to acknowledge (by closing) before
    #: the socket is dropped.
    close_timeout: float = 2.0
    #: Messages buffered per link before the reader stops reading (TCP backpressure).
    inbox_high_water: int = 1024
    #: Bytes per socket read.
    read_chunk: int = 256 * 1024
    #: Key material for each link's Noise keys; os.urandom unless a simulation
    #: injects its own.
    random_bytes: Callable[[int], bytes] = field(default=os.urandom)

    def __post_init__(self) -> None:
        if self.max_frame_size <= 0 or self.inbox_high_water <= 0 or self.read_chunk <= 0:
            raise ValueError("sizes must be positive")
        if self.handshake_timeout <= 0 or self.close_timeout <= 0:
            raise ValueError("timeouts must be positive")


class SocketAddr(Wire, frozen=True):
    """One TCP address of a node."""

    host: str
    port: int

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port {self.port} out of range")


class EndpointAddr(Wire, frozen=True):
    """A node's PeerId with the addresses it listens on (mosaik's ``EndpointAddr``).

    Dialling an EndpointAddr always verifies that the node proves this PeerId.
    """

    key: bytes  # the PeerId's 32 bytes
    addrs: tuple[SocketAddr, ...]

    def __post_init__(self) -> None:
        if len(self.key) != KEY_LEN:
            raise ValueError(f"EndpointAddr key needs {KEY_LEN} bytes")

    @classmethod
    def of(cls, peer_id: PeerId, *addrs: tuple[str, int]) -> EndpointAddr:
        return cls(peer_id.bytes, tuple(SocketAddr(h, p) for h, p in addrs))

    @property
    def peer_id(self) -> PeerId:
        return PeerId(self.key)
