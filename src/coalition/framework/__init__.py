"""The organism framework: Config → ids → a committee with a public surface and typed handles.

* `SurfaceMachine` wraps an organism's state machine: sequenced public frames,
  request deduplication, and the retirement marker as the last frame;
* `CommitteeMember` runs one member (group, publisher, ticketed intake);
* `SurfaceReader` / `SurfaceWriter` are the handles integrators hold;
* `EvidenceBook` / `CompositeDriver` are the template for composite organisms;
* `MapSurface` / `VecSurface` declare keyed surfaces a machine keeps in a `KeyedStore`
  with full history; `KeyedReader` reads them by key; `HistoryResolver` resolves
  `KeyedPointer` evidence into them.
"""

from .committee import CommitteeMember, Reply, Request, SurfaceIds
from .composite import CompositeDriver, StallPolicy
from .errors import ConnectTimeout, OrganismError, OrganismRetired, Refused
from .evidence import EvidenceBook, EvidencePointer, evidence_digest
from .history import EvidenceMismatch, EvidenceUnavailable, HistoryResolver
from .keyed import KeyedPointer, KeyedStore, MapSurface, VecSurface
from .keyed_read import KeyedReader, MapView, ReadRefused, VecView, Versioned
from .reader import SurfaceReader
from .surface import (
    Frame,
    Published,
    Retire,
    Retirement,
    SubscriberCount,
    SurfaceMachine,
    SurfaceResult,
    Wrapped,
)
from .writer import SurfaceWriter

__all__ = [
    "CommitteeMember",
    "CompositeDriver",
    "ConnectTimeout",
    "EvidenceBook",
    "EvidenceMismatch",
    "EvidencePointer",
    "EvidenceUnavailable",
    "Frame",
    "HistoryResolver",
    "KeyedPointer",
    "KeyedReader",
    "KeyedStore",
    "MapSurface",
    "MapView",
    "OrganismError",
    "OrganismRetired",
    "Published",
    "ReadRefused",
    "Refused",
    "Reply",
    "Request",
    "Retire",
    "Retirement",
    "StallPolicy",
    "SubscriberCount",
    "SurfaceIds",
    "SurfaceMachine",
    "SurfaceReader",
    "SurfaceResult",
    "SurfaceWriter",
    "VecSurface",
    "VecView",
    "Versioned",
    "Wrapped",
    "evidence_digest",
]
