"""Discovery: signed peer entries gossiped over the shared universe (mosaik ``discovery``).

The sans-IO `DiscoveryCore` (catalog, announce, sync, ping, departure) and the
asyncio `Discovery` driver over transport links. mDNS and the Mainline DHT
bootstrap are out of scope here (no internet); nodes bootstrap from the
operator's initial peer hints. See docs/spec/discovery.md.
"""

from .catalog import Catalog, Upsert
from .core import Departed, Discovered, DiscoveryConfig, DiscoveryCore, Send, Updated
from .driver import Discovery
from .entry import Departure, PeerEntry, SignedPeerEntry
from .messages import DISCOVERY_PROTOCOL, DiscoveryMessage
from .rtt import RttEstimator

__all__ = [
    "DISCOVERY_PROTOCOL",
    "Catalog",
    "Departed",
    "Departure",
    "Discovered",
    "Discovery",
    "DiscoveryConfig",
    "DiscoveryCore",
    "DiscoveryMessage",
    "PeerEntry",
    "RttEstimator",
    "Send",
    "SignedPeerEntry",
    "Updated",
    "Upsert",
]
