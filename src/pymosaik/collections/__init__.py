"""mosaik's replicated collections: one Raft group per collection, typed handles.

Machines (``MapMachine`` …) are deterministic and hold canonical bytes; handles
(``MapHandle.join(groups, secret, schema, members, key, value)``) encode, commit
and read. See docs/spec/collections.md.
"""

from .base import CollectionMachine, Outcome, StoreId, Version, store_id
from .cell import CellMachine, OnceMachine
from .handles import (
    CellHandle,
    MapHandle,
    OnceHandle,
    PriorityQueueHandle,
    SetHandle,
    VecHandle,
    When,
)
from .map import MapMachine
from .pqueue import PriorityQueueMachine
from .set import SetMachine
from .vec import VecMachine

__all__ = [
    "CellHandle",
    "CellMachine",
    "CollectionMachine",
    "MapHandle",
    "MapMachine",
    "OnceHandle",
    "OnceMachine",
    "Outcome",
    "PriorityQueueHandle",
    "PriorityQueueMachine",
    "SetHandle",
    "SetMachine",
    "StoreId",
    "VecHandle",
    "VecMachine",
    "Version",
    "When",
    "store_id",
]
