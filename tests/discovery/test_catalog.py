"""The catalog's upsert rules, departures with tombstones, TTL purge and queries."""

from __future__ import annotations

import pytest
from msgspec.structs import replace

from pymosaik.discovery.catalog import Catalog, Upsert
from pymosaik.discovery.entry import Departure, PeerEntry, SignedPeerEntry
from pymosaik.primitives import UNIVERSE, SecretKey, UniqueId, unique_id

LOCAL = SecretKey.from_id(unique_id("test.catalog.local"))
A = SecretKey.from_id(unique_id("test.catalog.a"))
B = SecretKey.from_id(unique_id("test.catalog.b"))
OTHER_NET = unique_id("test.catalog.other-network")
DRIFT = 10_000
TTL = 60_000
NOW = 1_000_000


def catalog() -> Catalog:
    return Catalog(UNIVERSE, LOCAL.peer_id, max_drift_ms=DRIFT, ttl_ms=TTL)


def entry(
    key: SecretKey,
    started: int = NOW - 5_000,
    updated: int = NOW,
    *,
    network: UniqueId = UNIVERSE,
    tags: tuple[UniqueId, ...] = (),
    streams: tuple[UniqueId, ...] = (),
    groups: tuple[UniqueId, ...] = (),
) -> SignedPeerEntry:
    e = PeerEntry(network, key.peer_id.bytes, started, updated, (), tags, streams, groups)
    return e.sign(key)


def test_insert_then_get() -> None:
    cat = catalog()
    s = entry(A)
    assert cat.upsert(s, NOW) is Upsert.INSERTED
    assert Upsert.INSERTED.changed
    assert cat.get(A.peer_id) == s.entry
    assert cat.signed(A.peer_id) == s
    assert cat.all_signed() == [s]
    assert len(cat) == 1
    assert list(cat) == [s.entry]
    assert cat.get(B.peer_id) is None


def test_other_network_is_refused() -> None:
    cat = catalog()
    assert cat.upsert(entry(A, network=OTHER_NET), NOW) is Upsert.OTHER_NETWORK
    assert len(cat) == 0


def test_own_entry_is_never_catalogued() -> None:
    cat = catalog()
    assert cat.upsert(entry(LOCAL), NOW) is Upsert.OWN_ENTRY
    assert len(cat) == 0


def test_bad_signature_is_refused() -> None:
    cat = catalog()
    good = entry(A)
    forged = SignedPeerEntry(replace(good.entry, tags=(unique_id("evil"),)), good.signature)
    assert cat.upsert(forged, NOW) is Upsert.BAD_SIGNATURE
    assert len(cat) == 0
    # Signed by B but claiming to be A.
    claims_a = PeerEntry(UNIVERSE, A.peer_id.bytes, NOW, NOW)
    by_b = SignedPeerEntry(claims_a, B.sign(b"whatever"))
    assert cat.upsert(by_b, NOW) is Upsert.BAD_SIGNATURE
    # A forged *newer* version of a known peer is refused and leaves the old one.
    assert cat.upsert(good, NOW) is Upsert.INSERTED
    newer = SignedPeerEntry(replace(good.entry, update_ms=NOW + 1), good.signature)
    assert cat.upsert(newer, NOW) is Upsert.BAD_SIGNATURE
    assert cat.signed(A.peer_id) == good
    assert not Upsert.BAD_SIGNATURE.changed


def test_clock_drift_bound() -> None:
    cat = catalog()
    assert cat.upsert(entry(A, updated=NOW + DRIFT + 1), NOW) is Upsert.TOO_FAR_AHEAD
    assert len(cat) == 0
    assert cat.upsert(entry(A, updated=NOW + DRIFT), NOW) is Upsert.INSERTED


def test_outdated_entry_is_refused() -> None:
    """An entry whose own update time is beyond the TTL is presumed dead (mosaik: Outdated)."""
    cat = catalog()
    assert cat.upsert(entry(A, updated=NOW - TTL - 1), NOW) is Upsert.OUTDATED
    assert len(cat) == 0
    assert cat.upsert(entry(A, updated=NOW - TTL), NOW) is Upsert.INSERTED


def test_same_or_older_version_is_not_newer() -> None:
    cat = catalog()
    current = entry(A, updated=NOW)
    assert cat.upsert(current, NOW) is Upsert.INSERTED
    assert cat.upsert(current, NOW) is Upsert.NOT_NEWER
    # Same version, different content (a second signature over other tags): still not newer.
    same_version = entry(A, updated=NOW, tags=(unique_id("t"),))
    assert cat.upsert(same_version, NOW) is Upsert.NOT_NEWER
    assert cat.upsert(entry(A, updated=NOW - 1), NOW) is Upsert.NOT_NEWER
    # An older run is older whatever its update time.
    assert cat.upsert(entry(A, started=NOW - 6_000, updated=NOW + 5), NOW) is Upsert.NOT_NEWER
    assert cat.signed(A.peer_id) == current


def test_newer_update_replaces() -> None:
    cat = catalog()
    cat.upsert(entry(A, updated=NOW), NOW)
    newer = entry(A, updated=NOW + 1, tags=(unique_id("t"),))
    assert cat.upsert(newer, NOW + 1) is Upsert.UPDATED
    assert cat.get(A.peer_id) == newer.entry
    assert len(cat) == 1


def test_restart_supersedes_even_with_a_smaller_update_time() -> None:
    """Version is (started_ms, update_ms): a new run wins over any update of the old one."""
    cat = catalog()
    old_run = entry(A, started=NOW - 50_000, updated=NOW + 5_000)
    cat.upsert(old_run, NOW)
    new_run = entry(A, started=NOW - 1_000, updated=NOW - 1_000)
    assert cat.upsert(new_run, NOW) is Upsert.UPDATED
    assert cat.get(A.peer_id) == new_run.entry
    assert cat.upsert(old_run, NOW) is Upsert.NOT_NEWER


def test_departure_removes_and_tombstones() -> None:
    cat = catalog()
    run = entry(A, started=NOW - 5_000, updated=NOW)
    cat.upsert(run, NOW)
    assert cat.depart(Departure.signed(A, UNIVERSE, NOW - 5_000), NOW)
    assert cat.get(A.peer_id) is None
    assert len(cat) == 0
    # A peer that missed the departure syncs us the departed run, even a later update of it.
    assert cat.upsert(run, NOW + 10) is Upsert.DEPARTED
    later = entry(A, started=NOW - 5_000, updated=NOW + 5)
    assert cat.upsert(later, NOW + 10) is Upsert.DEPARTED
    older_run = entry(A, started=NOW - 9_000, updated=NOW)
    assert cat.upsert(older_run, NOW + 10) is Upsert.DEPARTED
    assert cat.is_departed(A.peer_id, NOW - 5_000)
    assert not cat.is_departed(A.peer_id, NOW - 4_999)
    # The node restarts: its new run is welcome.
    new_run = entry(A, started=NOW + 1_000, updated=NOW + 1_000)
    assert cat.upsert(new_run, NOW + 1_000) is Upsert.INSERTED
    # A second delivery of the old departure does not remove the new run.
    assert not cat.depart(Departure.signed(A, UNIVERSE, NOW - 5_000), NOW + 1_001)
    assert cat.get(A.peer_id) == new_run.entry


def test_departure_for_an_unknown_peer_still_tombstones() -> None:
    cat = catalog()
    assert not cat.depart(Departure.signed(A, UNIVERSE, NOW - 5_000), NOW)
    assert cat.upsert(entry(A, started=NOW - 5_000), NOW) is Upsert.DEPARTED
    assert cat.upsert(entry(B), NOW) is Upsert.INSERTED


def test_departure_of_an_older_run_keeps_the_current_one() -> None:
    cat = catalog()
    current = entry(A, started=NOW - 1_000)
    cat.upsert(current, NOW)
    assert not cat.depart(Departure.signed(A, UNIVERSE, NOW - 2_000), NOW)
    assert cat.get(A.peer_id) == current.entry


def test_a_departure_covers_its_run_and_everything_older() -> None:
    cat = catalog()
    cat.upsert(entry(A, started=NOW - 5_000), NOW)
    assert cat.depart(Departure.signed(A, UNIVERSE, NOW - 1_000), NOW)
    # An older tombstone arriving later does not weaken the newer one.
    assert not cat.depart(Departure.signed(A, UNIVERSE, NOW - 5_000), NOW)
    assert cat.upsert(entry(A, started=NOW - 1_000), NOW) is Upsert.DEPARTED


def test_forged_departures_are_refused() -> None:
    cat = catalog()
    s = entry(A)
    cat.upsert(s, NOW)
    real = Departure.signed(A, UNIVERSE, s.entry.started_ms)
    forged = [
        Departure(UNIVERSE, A.peer_id.bytes, s.entry.started_ms),  # unsigned
        Departure(UNIVERSE, A.peer_id.bytes, s.entry.started_ms, B.sign(b"x")),
        replace(Departure.signed(B, UNIVERSE, s.entry.started_ms), key=A.peer_id.bytes),
        replace(real, started_ms=s.entry.started_ms + 1),  # signature over another run
        Departure.signed(A, OTHER_NET, s.entry.started_ms),  # another network's
    ]
    for dep in forged:
        assert not cat.depart(dep, NOW)
        assert cat.get(A.peer_id) == s.entry
        assert cat.upsert(s, NOW) is Upsert.NOT_NEWER  # no tombstone was planted
    assert not cat.depart(Departure.signed(LOCAL, UNIVERSE, NOW), NOW)


def test_purge_after_ttl_of_the_entrys_own_update_time() -> None:
    cat = catalog()
    a = entry(A, updated=NOW)
    b = entry(B, updated=NOW + 30_000)
    cat.upsert(a, NOW)
    cat.upsert(b, NOW + 30_000)
    assert cat.purge(NOW + TTL) == []
    assert cat.purge(NOW + TTL + 1) == [A.peer_id]
    assert cat.get(A.peer_id) is None
    assert cat.get(B.peer_id) == b.entry
    # A late copy of A's dead entry cannot come back.
    assert cat.upsert(a, NOW + TTL + 2) is Upsert.OUTDATED
    # A refreshed B survives past its first TTL.
    b2 = entry(B, updated=NOW + 80_000)
    assert cat.upsert(b2, NOW + 80_000) is Upsert.UPDATED
    assert cat.purge(NOW + 30_000 + TTL + 1) == []
    assert cat.purge(NOW + 80_000 + TTL + 1) == [B.peer_id]
    assert len(cat) == 0


def test_receiving_a_dead_entry_late_does_not_extend_its_life() -> None:
    """Catalogs that learnt the same entry at different times purge it at the same time."""
    early, late = catalog(), catalog()
    a = entry(A, updated=NOW)
    early.upsert(a, NOW)
    late.upsert(a, NOW + 50_000)
    assert early.purge(NOW + TTL + 1) == [A.peer_id]
    assert late.purge(NOW + TTL + 1) == [A.peer_id]


def test_tombstones_expire_once_the_departed_run_is_outdated() -> None:
    cat = catalog()
    run = entry(A, updated=NOW)
    cat.upsert(run, NOW)
    cat.depart(Departure.signed(A, UNIVERSE, run.entry.started_ms), NOW)
    cat.purge(NOW + TTL + DRIFT)
    assert cat.is_departed(A.peer_id, run.entry.started_ms)
    cat.purge(NOW + TTL + DRIFT + 1)
    assert not cat.is_departed(A.peer_id, run.entry.started_ms)
    # Even without the tombstone, the departed run cannot return: it is outdated.
    assert cat.upsert(run, NOW + TTL + DRIFT + 1) is Upsert.OUTDATED
    assert cat.upsert(entry(A, updated=NOW + DRIFT), NOW + TTL + DRIFT + 1) is Upsert.OUTDATED


def test_queries_by_tag_stream_group() -> None:
    cat = catalog()
    t1, t2, s1, g1 = (unique_id(x) for x in ("t1", "t2", "s1", "g1"))
    a = entry(A, tags=(t1, t2), streams=(s1,))
    b = entry(B, tags=(t2,), groups=(g1,))
    cat.upsert(a, NOW)
    cat.upsert(b, NOW)
    assert cat.with_tag(t1) == [a.entry]
    assert sorted(e.key for e in cat.with_tag(t2)) == sorted([A.peer_id.bytes, B.peer_id.bytes])
    assert cat.with_stream(s1) == [a.entry]
    assert cat.with_group(g1) == [b.entry]
    assert cat.with_group(s1) == []
    assert cat.with_tag(unique_id("absent")) == []


@pytest.mark.parametrize(
    "result",
    [u for u in Upsert if u not in (Upsert.INSERTED, Upsert.UPDATED)],
)
def test_only_inserts_and_updates_count_as_changes(result: Upsert) -> None:
    assert not result.changed
