"""`DiscoveryCore` as a pure state machine: inputs in, sends and events out."""

from __future__ import annotations

import random

import pytest

from pymosaik.discovery.core import (
    Departed,
    Discovered,
    DiscoveryConfig,
    DiscoveryCore,
    Output,
    Send,
    Updated,
)
from pymosaik.discovery.entry import Departure, PeerEntry, SignedPeerEntry
from pymosaik.discovery.messages import (
    Announce,
    Depart,
    Ping,
    Pong,
    SyncRequest,
    SyncResponse,
)
from pymosaik.primitives import UNIVERSE, PeerId, SecretKey, unique_id
from pymosaik.tickets import Ticket
from pymosaik.transport import EndpointAddr, SocketAddr

T0 = 1_000_000
CFG = DiscoveryConfig(
    fanout=2,
    announce_interval_ms=1_000,
    sync_interval_ms=4_000,
    ping_interval_ms=2_000,
    ttl_ms=10_000,
    max_drift_ms=3_000,
)


def key(name: str) -> SecretKey:
    return SecretKey.from_id(unique_id(f"test.core.{name}"))


def make_core(name: str = "me", now: int = T0, *, port: int = 7000) -> DiscoveryCore:
    return DiscoveryCore(
        key(name), UNIVERSE, [("127.0.0.1", port)], now, rng=random.Random(name), config=CFG
    )


def peer_entry(
    name: str, started: int = T0, updated: int = T0, port: int = 8000
) -> SignedPeerEntry:
    k = key(name)
    return PeerEntry(
        UNIVERSE, k.peer_id.bytes, started, updated, (SocketAddr("127.0.0.1", port),)
    ).sign(k)


def sends(out: list[Output]) -> list[Send]:
    return [o for o in out if isinstance(o, Send)]


def events(out: list[Output]) -> list[Output]:
    return [o for o in out if not isinstance(o, Send)]


def with_peers(core: DiscoveryCore, *names: str, now: int = T0) -> list[SignedPeerEntry]:
    """Teach ``core`` the given peers (through an Announce from the first) and clear outputs."""
    entries = [peer_entry(n, port=8000 + i) for i, n in enumerate(names)]
    core.on_message(key(names[0]).peer_id, Announce(tuple(entries)), now)
    core.take_outputs()
    return entries


# ---- local entry ----------------------------------------------------------------------------


def test_initial_local_entry() -> None:
    core = make_core()
    e = core.local
    assert e.peer_id == key("me").peer_id
    assert e.version == (T0, T0)
    assert e.addrs == (SocketAddr("127.0.0.1", 7000),)
    assert core.signed_local.entry == e
    assert core.signed_local.verify()
    assert core.take_outputs() == []


def test_update_local_bumps_version_and_gossips() -> None:
    core = make_core()
    peers = with_peers(core, "a", "b", "c")
    t1, t2, s1 = unique_id("t1"), unique_id("t2"), unique_id("s1")
    core.update_local(T0, tags=[t2, t1, t2], streams=[s1])
    e = core.local
    # Same millisecond as the start: the version still strictly increases.
    assert e.version == (T0, T0 + 1)
    assert e.tags == tuple(sorted([t1, t2]))
    assert e.streams == (s1,)
    assert core.signed_local.verify()
    out = core.take_outputs()
    gossip = sends(out)
    assert len(gossip) == CFG.fanout
    assert len({s.to for s in gossip}) == CFG.fanout
    known = {p.entry.peer_id: p.entry.addr for p in peers}
    for s in gossip:
        assert s.message == Announce((core.signed_local,))
        assert s.to in known
        assert s.addr == known[s.to]
    # Later updates: the clock wins when it is ahead; unspecified fields stay.
    g = unique_id("g")
    ticket = Ticket(unique_id("jwt"), b"tok")
    core.update_local(T0 + 500, groups=[g], tickets=[ticket, ticket])
    assert core.local.version == (T0, T0 + 500)
    assert core.local.tags == e.tags
    assert core.local.groups == (g,)
    assert core.local.tickets == (ticket,)
    core.update_local(T0 + 500, tags=[])
    assert core.local.version == (T0, T0 + 501)
    assert core.local.tags == ()


def test_update_local_alone_sends_nothing() -> None:
    core = make_core()
    core.update_local(T0 + 1, tags=[unique_id("t")])
    assert core.take_outputs() == []


# ---- on_message -----------------------------------------------------------------------------


def test_sync_request_absorbs_and_answers_with_our_catalog() -> None:
    core = make_core()
    [b] = with_peers(core, "b")
    a = peer_entry("a", port=8100)
    reply = core.on_message(a.entry.peer_id, SyncRequest((a,)), T0)
    assert isinstance(reply, SyncResponse)
    assert reply.entries[0] == core.signed_local
    assert set(reply.entries) == {core.signed_local, a, b}
    out = core.take_outputs()
    assert events(out) == [Discovered(a.entry)]
    # The newly learnt entry is forwarded, never back to its source.
    assert [(s.to, s.message) for s in sends(out)] == [(b.entry.peer_id, Announce((a,)))]
    assert core.catalog.get(a.entry.peer_id) == a.entry


def test_sync_response_absorbs_without_reply() -> None:
    core = make_core()
    a, b = peer_entry("a"), peer_entry("b", port=8001)
    assert core.on_message(a.entry.peer_id, SyncResponse((a, b)), T0) is None
    out = core.take_outputs()
    assert events(out) == [Discovered(a.entry), Discovered(b.entry)]
    assert len(core.catalog) == 2


def test_announce_events_discovered_then_updated_and_not_newer_stops_the_flood() -> None:
    core = make_core()
    with_peers(core, "x", "y", "z")
    a1 = peer_entry("a", updated=T0)
    src = key("x").peer_id
    assert core.on_message(src, Announce((a1,)), T0) is None
    out = core.take_outputs()
    assert events(out) == [Discovered(a1.entry)]
    forwarded = sends(out)
    assert len(forwarded) == CFG.fanout
    assert all(s.to not in (src, a1.entry.peer_id) for s in forwarded)
    # The same entry again: nothing happens, nothing is forwarded.
    core.on_message(key("y").peer_id, Announce((a1,)), T0)
    assert core.take_outputs() == []
    a2 = peer_entry("a", updated=T0 + 10)
    core.on_message(src, Announce((a2,)), T0 + 10)
    out = core.take_outputs()
    assert events(out) == [Updated(a2.entry)]
    assert len(sends(out)) == CFG.fanout


def test_entries_the_catalog_refuses_produce_nothing() -> None:
    core = make_core()
    with_peers(core, "x", "y")
    src = key("x").peer_id
    other_net = PeerEntry(unique_id("net2"), key("a").peer_id.bytes, T0, T0).sign(key("a"))
    ahead = peer_entry("b", updated=T0 + CFG.max_drift_ms + 1)
    own = PeerEntry(UNIVERSE, key("me").peer_id.bytes, T0, T0 + 99).sign(key("me"))
    good = peer_entry("c")
    forged = SignedPeerEntry(good.entry, bytes(64))
    core.on_message(src, Announce((other_net, ahead, own, forged)), T0)
    assert core.take_outputs() == []
    assert len(core.catalog) == 2
    assert core.local.version == (T0, T0)


def test_ping_is_answered_with_pong() -> None:
    core = make_core()
    assert core.on_message(key("a").peer_id, Ping(42, 1234), T0) == Pong(42, 1234)
    assert core.take_outputs() == []


def _ping(core: DiscoveryCore, now: int) -> Send:
    core.tick(now)
    [ping] = [s for s in sends(core.take_outputs()) if isinstance(s.message, Ping)]
    return ping


def test_rtt_sampled_for_matching_nonce_from_the_right_peer_only() -> None:
    core = make_core()
    with_peers(core, "a", "b")
    core.tick(T0)  # announce
    core.take_outputs()
    t_ping = T0 + CFG.ping_interval_ms
    ping = _ping(core, t_ping)
    assert isinstance(ping.message, Ping)
    assert ping.message.sent_ms == t_ping
    target = ping.to
    assert target is not None
    other = next(p.peer_id for p in core.catalog if p.peer_id != target)
    nonce = ping.message.nonce
    # Wrong nonce, or the right nonce from the wrong peer: no sample.
    core.on_message(target, Pong(nonce + 1, t_ping), t_ping + 10)
    core.on_message(other, Pong(nonce, t_ping), t_ping + 20)
    assert core.rtt == {}
    # The right peer's answer still counts after the impostor's (its nonce was not consumed),
    # and the RTT is measured from our own send time, not from the echoed (here lying) one.
    assert core.on_message(target, Pong(nonce, t_ping + 35), t_ping + 40) is None
    assert set(core.rtt) == {target}
    assert core.rtt[target].srtt == 40
    # A replayed pong is not sampled twice.
    core.on_message(target, Pong(nonce, t_ping), t_ping + 500)
    assert core.rtt[target].srtt == 40
    assert core.take_outputs() == []


def test_only_the_latest_ping_is_outstanding() -> None:
    core = make_core()
    with_peers(core, "a")
    first = _ping(core, T0 + CFG.ping_interval_ms)
    second = _ping(core, T0 + 2 * CFG.ping_interval_ms)
    assert isinstance(first.message, Ping)
    assert isinstance(second.message, Ping)
    a = key("a").peer_id
    core.on_message(a, Pong(first.message.nonce, 0), T0 + 2 * CFG.ping_interval_ms + 5)
    assert core.rtt == {}
    core.on_message(a, Pong(second.message.nonce, 0), T0 + 2 * CFG.ping_interval_ms + 5)
    assert core.rtt[a].srtt == 5


def test_depart_from_the_departing_peer_removes_it() -> None:
    core = make_core()
    a, _b = with_peers(core, "a", "b")
    pid = a.entry.peer_id
    dep = Departure.signed(key("a"), UNIVERSE, a.entry.started_ms)
    assert core.on_message(pid, Depart(dep), T0 + 1) is None
    assert core.take_outputs() == [Departed(pid)]
    assert core.catalog.get(pid) is None
    # Another peer syncing the departed run to us does not bring it back.
    core.on_message(key("b").peer_id, SyncResponse((a,)), T0 + 2)
    assert core.take_outputs() == []
    assert core.catalog.get(pid) is None
    # A repeated departure is silent.
    core.on_message(pid, Depart(dep), T0 + 3)
    assert core.take_outputs() == []


def test_depart_relayed_by_another_peer_is_ignored() -> None:
    core = make_core()
    a, b = with_peers(core, "a", "b")
    dep = Departure.signed(key("a"), UNIVERSE, a.entry.started_ms)
    core.on_message(b.entry.peer_id, Depart(dep), T0 + 1)
    assert core.take_outputs() == []
    assert core.catalog.get(a.entry.peer_id) == a.entry


def test_forged_depart_is_ignored() -> None:
    core = make_core()
    [a] = with_peers(core, "a")
    forged = Departure(UNIVERSE, a.entry.key, a.entry.started_ms, bytes(64))
    core.on_message(a.entry.peer_id, Depart(forged), T0 + 1)
    assert core.take_outputs() == []
    assert core.catalog.get(a.entry.peer_id) == a.entry


def test_depart_forgets_rtt_state() -> None:
    core = make_core()
    [a] = with_peers(core, "a")
    ping = _ping(core, T0 + CFG.ping_interval_ms)
    assert isinstance(ping.message, Ping)
    core.on_message(a.entry.peer_id, Pong(ping.message.nonce, 0), T0 + CFG.ping_interval_ms + 7)
    assert a.entry.peer_id in core.rtt
    dep = Departure.signed(key("a"), UNIVERSE, a.entry.started_ms)
    core.on_message(a.entry.peer_id, Depart(dep), T0 + CFG.ping_interval_ms + 8)
    assert a.entry.peer_id not in core.rtt


def test_local_depart_tells_every_known_peer() -> None:
    core = make_core()
    peers = with_peers(core, "a", "b", "c")
    core.depart(T0 + 5)
    out = core.take_outputs()
    assert {s.to for s in sends(out)} == {p.entry.peer_id for p in peers}
    for s in sends(out):
        assert isinstance(s.message, Depart)
        dep = s.message.departure
        assert dep.verify()
        assert dep.key == core.local.key
        assert dep.started_ms == core.local.started_ms
        assert dep.network_id == UNIVERSE
        assert s.to is not None
        assert s.addr == core.catalog.get(s.to).addr  # type: ignore[union-attr]
    assert events(out) == []


# ---- bootstrap and tick ---------------------------------------------------------------------


def test_bootstrap_sends_sync_requests_to_hints() -> None:
    core = make_core()
    known = EndpointAddr.of(key("k").peer_id, ("10.0.0.2", 9000))
    core.bootstrap([("10.0.0.1", 9000), known])
    out = sends(core.take_outputs())
    assert [(s.to, s.addr) for s in out] == [
        (None, ("10.0.0.1", 9000)),
        (key("k").peer_id, known),
    ]
    for s in out:
        assert isinstance(s.message, SyncRequest)
        assert s.message.entries == (core.signed_local,)


def test_tick_schedule() -> None:
    core = make_core()
    with_peers(core, "a", "b", "c")

    def kinds(now: int) -> list[str]:
        core.tick(now)
        return sorted(type(s.message).__name__ for s in sends(core.take_outputs()))

    assert core.next_deadline() == T0  # the first announce is due at once
    assert kinds(T0) == ["Announce"] * CFG.fanout
    assert core.local.update_ms == T0 + 1  # re-signed with a fresh update time
    assert core.next_deadline() == T0 + CFG.announce_interval_ms
    assert kinds(T0 + 999) == []
    assert kinds(T0 + 1_000) == ["Announce"] * CFG.fanout
    assert core.local.update_ms == T0 + 1_000
    assert kinds(T0 + 1_500) == []
    # ping every 2 s, sync first at half its interval then every 4 s
    assert kinds(T0 + 2_000) == sorted(["Announce"] * CFG.fanout + ["Ping", "SyncRequest"])
    assert kinds(T0 + 3_000) == ["Announce"] * CFG.fanout
    assert kinds(T0 + 4_000) == sorted(["Announce"] * CFG.fanout + ["Ping"])
    assert kinds(T0 + 6_000) == sorted(["Announce"] * CFG.fanout + ["Ping", "SyncRequest"])
    # A late tick does not fire a backlog: each timer fires once and reschedules from now.
    # (announce was due at 7 s, ping at 8 s; the peers' entries are still within their TTL)
    assert kinds(T0 + 9_500) == sorted(["Announce"] * CFG.fanout + ["Ping"])
    assert core.next_deadline() == T0 + 10_000  # the sync
    assert kinds(T0 + 10_000) == ["SyncRequest"]
    assert core.next_deadline() == T0 + 10_500


def test_tick_with_an_empty_catalog_syncs_with_the_hints() -> None:
    core = make_core()
    core.bootstrap([("10.0.0.1", 9000)])
    core.take_outputs()
    core.tick(T0 + CFG.sync_interval_ms // 2)
    out = sends(core.take_outputs())
    assert [(s.to, s.addr, type(s.message)) for s in out] == [
        (None, ("10.0.0.1", 9000), SyncRequest)
    ]


def test_sync_goes_to_a_known_peer_with_our_catalog() -> None:
    core = make_core()
    peers = with_peers(core, "a", "b")
    core.tick(T0 + CFG.sync_interval_ms // 2)
    [sync] = [s for s in sends(core.take_outputs()) if isinstance(s.message, SyncRequest)]
    assert sync.to in {p.entry.peer_id for p in peers}
    assert isinstance(sync.message, SyncRequest)
    assert set(sync.message.entries) == {core.signed_local, *peers}


def test_purge_emits_departed() -> None:
    core = make_core()
    a, b = with_peers(core, "a", "b")
    fresh_b = peer_entry("b", updated=T0 + 5_000, port=8001)
    core.on_message(b.entry.peer_id, Announce((fresh_b,)), T0 + 5_000)
    core.take_outputs()
    core.tick(T0 + CFG.ttl_ms + 1)
    out = core.take_outputs()
    assert events(out) == [Departed(a.entry.peer_id)]
    assert core.catalog.get(a.entry.peer_id) is None
    assert core.catalog.get(b.entry.peer_id) == fresh_b.entry


def test_ping_targets_a_known_peer() -> None:
    core = make_core()
    with_peers(core, "a")
    ping = _ping(core, T0 + CFG.ping_interval_ms)
    assert ping.to == key("a").peer_id
    assert ping.addr == core.catalog.get(key("a").peer_id).addr  # type: ignore[union-attr]


def test_no_ping_without_peers() -> None:
    core = make_core()
    core.tick(T0 + CFG.ping_interval_ms)
    assert all(not isinstance(s.message, Ping) for s in sends(core.take_outputs()))


@pytest.mark.parametrize("seed", range(3))
def test_same_seed_same_outputs(seed: int) -> None:
    """No hidden randomness: two cores with equal RNG seeds behave identically."""

    def run() -> list[Output]:
        core = DiscoveryCore(
            key("me"), UNIVERSE, [("127.0.0.1", 1)], T0, rng=random.Random(seed), config=CFG
        )
        with_peers(core, "a", "b", "c", "d")
        for t in range(T0, T0 + 10_000, 500):
            core.tick(t)
        return core.take_outputs()

    assert run() == run()


def test_payload_peer_ids_are_distinct() -> None:
    core = make_core()
    peers = with_peers(core, "a", "b", "c")
    reply = core.on_message(peers[0].entry.peer_id, SyncRequest(()), T0)
    assert isinstance(reply, SyncResponse)
    ids: list[PeerId] = [s.entry.peer_id for s in reply.entries]
    assert len(ids) == len(set(ids)) == 4


def test_hints_no_catalogued_peer_accounts_for_are_retried_every_sync() -> None:
    """How a node finds its way back after a partition longer than the TTL."""
    core = make_core()
    seed = key("seed")
    core.bootstrap([("127.0.0.1", 8000), EndpointAddr.of(key("k").peer_id, ("10.0.0.9", 1))])
    core.take_outputs()

    def sync_targets(now: int) -> list[object]:
        core.tick(now)
        return [s.addr for s in sends(core.take_outputs()) if isinstance(s.message, SyncRequest)]

    t = T0 + CFG.sync_interval_ms // 2
    assert sync_targets(t) == [
        ("127.0.0.1", 8000),
        EndpointAddr.of(key("k").peer_id, ("10.0.0.9", 1)),
    ]
    # The seed's entry (advertising the hinted address) and k's entry arrive: only the
    # random catalog peer is synced from now on.
    seed_entry = PeerEntry(
        UNIVERSE, seed.peer_id.bytes, t, t, (SocketAddr("127.0.0.1", 8000),)
    ).sign(seed)
    k_entry = peer_entry("k", started=t, updated=t, port=8001)
    core.on_message(seed.peer_id, Announce((seed_entry, k_entry)), t)
    core.take_outputs()
    t += CFG.sync_interval_ms
    [only] = sync_targets(t)
    assert only in (seed_entry.entry.addr, k_entry.entry.addr)
    # Both purged (their TTL lapsed without refresh): the hints are retried.
    t = t + CFG.ttl_ms
    assert sync_targets(t) == [
        ("127.0.0.1", 8000),
        EndpointAddr.of(key("k").peer_id, ("10.0.0.9", 1)),
    ]


def test_own_address_is_not_a_hint() -> None:
    core = make_core(port=7000)
    core.bootstrap([("127.0.0.1", 7000), EndpointAddr.of(key("me").peer_id, ("10.0.0.1", 1))])
    assert core.take_outputs() == []
    core.tick(T0 + CFG.sync_interval_ms // 2)
    assert not [s for s in sends(core.take_outputs()) if isinstance(s.message, SyncRequest)]
