"""D11: a retirement marker carries a pointer to the surface's last commit (seq and digest), so a
consumer can tell it saw everything the component published before it stopped."""

from __future__ import annotations

from coalition.framework.surface import Published, Retire, Retirement, SurfaceMachine, Wrapped
from coalition.identity import hash_many
from coalition.retirement import AtSequence, RetirementMarker
from organisms.feed import FeedMachine, _Post
from pymosaik.groups import ApplyContext
from pymosaik.primitives import UniqueId, encode

CTX = ApplyContext(1, 1, 1)


def test_the_marker_points_at_the_last_published_frame() -> None:
    surface = UniqueId.hash("a surface")
    m = SurfaceMachine(surface, FeedMachine(), lambda r: [r] if r else [])
    for i in range(3):
        m.apply(encode(Wrapped(encode(_Post(b"event %d" % i, i)))), CTX)
    last = m.last_frame
    assert last is not None and isinstance(last.content, Published) and last.seq == 2
    m.apply(encode(Retire(RetirementMarker.retired(AtSequence(3)))), CTX)
    frame = m.last_frame
    assert frame is not None and isinstance(frame.content, Retirement)
    (ev,) = frame.content.marker.evidence
    assert (ev.surface, ev.seq) == (surface, 2)
    assert ev.digest == hash_many([b"frame|", encode(last)])


def test_a_surface_that_published_nothing_retires_with_no_pointer() -> None:
    m = SurfaceMachine(UniqueId.hash("empty"), FeedMachine(), lambda r: [r] if r else [])
    m.apply(encode(Retire(RetirementMarker.retired(AtSequence(0)))), CTX)
    frame = m.last_frame
    assert frame is not None and isinstance(frame.content, Retirement)
    assert frame.content.marker.evidence == ()
