"""Transport: authenticated, encrypted links between PeerIds (mosaik's iroh layer).

mosaik links are QUIC connections with TLS and one ALPN each. The port keeps the
identity guarantees, not the wire (D5): Noise XX over TCP, each side's Ed25519
identity signing its per-link X25519 static key, the handshake hash and the
NetworkId; the handshake hash is the channel binding. One protocol per link,
length-delimited frames with a hard size limit, mosaik's close reasons.
See docs/spec/transport.md.

* `LinkMachine` — the sans-IO protocol (bytes in, events and bytes out);
* `Endpoint` / `Link` — the asyncio driver on top.
"""

from . import reasons
from .config import EndpointAddr, SocketAddr, TransportConfig
from .endpoint import AcceptHandler, Endpoint
from .errors import LinkClosedError, LinkError, PeerMismatchError
from .link import Link
from .machine import (
    DEFAULT_MAX_FRAME_SIZE,
    Closed,
    Established,
    Event,
    InboundOpen,
    LinkMachine,
    LinkState,
    Message,
)
from .reasons import CloseReason

__all__ = [
    "DEFAULT_MAX_FRAME_SIZE",
    "AcceptHandler",
    "CloseReason",
    "Closed",
    "Endpoint",
    "EndpointAddr",
    "Established",
    "Event",
    "InboundOpen",
    "Link",
    "LinkClosedError",
    "LinkError",
    "LinkMachine",
    "LinkState",
    "Message",
    "PeerMismatchError",
    "SocketAddr",
    "TransportConfig",
    "reasons",
]
