"""pymosaik: a Python port of the mosaik 0.3 runtime's primitives.

Identity and encoding live in :mod:`pymosaik.primitives`; the networked
subsystems (transport, discovery, streams, groups, collections, tickets, tee)
build on them.
"""

from .primitives import UNIVERSE, NetworkId, Tag, UniqueId, unique_id

__all__ = ["UNIVERSE", "NetworkId", "Tag", "UniqueId", "unique_id"]
__version__ = "0.2.0"
