"""The organism framework: Config → ids → a committee with a public surface and typed handles.

* `SurfaceMachine` wraps an organism's state machine: sequenced public frames,
  request deduplication, and the retirement marker as the last frame;
* `CommitteeMember` runs one member (group, publisher, ticketed intake);
* `SurfaceReader` / `SurfaceWriter` are the handles integrators hold;
* `EvidenceBook` / `CompositeDriver` are the template for composite organisms.
"""

from .committee import CommitteeMember, Reply, Request, SurfaceIds
from .composite import CompositeDriver, StallPolicy
from .errors import ConnectTimeout, OrganismError, OrganismRetired, Refused
from .evidence import EvidenceBook, EvidencePointer, evidence_digest
from .reader import SurfaceReader
from .surface import Frame, Published, Retire, Retirement, SurfaceMachine, SurfaceResult, Wrapped
from .writer import SurfaceWriter

__all__ = [
    "CommitteeMember",
    "CompositeDriver",
    "ConnectTimeout",
    "EvidenceBook",
    "EvidencePointer",
    "Frame",
    "OrganismError",
    "OrganismRetired",
    "Published",
    "Refused",
    "Reply",
    "Request",
    "Retire",
    "Retirement",
    "StallPolicy",
    "SurfaceIds",
    "SurfaceMachine",
    "SurfaceReader",
    "SurfaceResult",
    "SurfaceWriter",
    "Wrapped",
    "evidence_digest",
]
