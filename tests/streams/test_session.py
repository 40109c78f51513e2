"""The sans-IO stream session cores (streams/session.py) with plain values and chosen times."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from pymosaik.primitives import UNIVERSE, PeerId, SecretKey, UniqueId, unique_id
from pymosaik.streams import OnlineConditions, rtt_below
from pymosaik.streams.admission import PeerInfo
from pymosaik.streams.session import (
    Backoff,
    ConsumerConfig,
    ConsumerCore,
    GiveUp,
    ProducerConfig,
    ProducerCore,
    Retry,
    Stop,
    SubscriptionState,
)
from pymosaik.tickets import Expiration, InvalidTicketError, PeerIdentity, Require, Ticket
from pymosaik.transport import EndpointAddr, reasons

STREAM = unique_id("test.session.v1")
OTHER_NET = unique_id("another network")
TICKET = unique_id("test.session.ticket")
NOW = 1_700_000_000_000


@dataclass(frozen=True)
class Entry:
    peer_id: PeerId
    network_id: UniqueId = UNIVERSE
    tags: frozenset[UniqueId] = frozenset()
    streams: frozenset[UniqueId] = frozenset()
    tickets: tuple[Ticket, ...] = ()

    @property
    def addr(self) -> EndpointAddr:
        return EndpointAddr(self.peer_id.bytes, ())


class UntilTicket:
    """Ticket data is the big-endian expiry instant."""

    def ticket_class(self) -> UniqueId:
        return TICKET

    def signature(self) -> UniqueId:
        return unique_id("test.session.validator")

    def validate(self, data: bytes, peer: PeerIdentity, now_ms: int) -> Expiration:
        at = int.from_bytes(data, "big")
        if at < now_ms:
            raise InvalidTicketError("expired")
        return Expiration.at(at)


def peer(**kw: object) -> Entry:
    return Entry(SecretKey.generate().peer_id, **kw)  # type: ignore[arg-type]


def producer(**kw: object) -> ProducerCore:
    return ProducerCore(STREAM, SecretKey.generate().peer_id, UNIVERSE, ProducerConfig(**kw))  # type: ignore[arg-type]


def admit(core: ProducerCore, key: int, who: Entry | None, **kw: object) -> object:
    args: dict[str, object] = {
        "requested_network": UNIVERSE,
        "requested_stream": STREAM,
        "now_ms": NOW,
    }
    args.update(kw)
    return core.admit(key, who, **args).refused  # type: ignore[arg-type]


# ---- producer ----------------------------------------------------------------------
def test_admission_refuses_in_mosaiks_order() -> None:
    core = producer(predicates=(lambda p: bool(p.tags),), requirements=(), max_consumers=1)
    tagged = peer(tags=frozenset({unique_id("x")}))
    assert admit(core, 0, None, requested_network=OTHER_NET) == reasons.UNKNOWN_PEER
    assert admit(core, 0, tagged, requested_network=OTHER_NET) == reasons.DIFFERENT_NETWORK
    assert admit(core, 0, tagged, requested_stream=OTHER_NET) == reasons.STREAM_NOT_FOUND
    assert admit(core, 0, peer()) == reasons.STREAM_NOT_ALLOWED
    assert admit(core, 0, tagged) is None
    assert admit(core, 1, peer(tags=frozenset({unique_id("y")}))) == reasons.NO_CAPACITY
    assert core.connected_count() == 1 and core.online


def test_full_queue_cuts_the_laggard_with_too_slow_and_spares_the_others() -> None:
    core = producer(buffer_size=3)
    admit(core, 0, peer())
    admit(core, 1, peer())
    slow, fast = core.sessions[0], core.sessions[1]
    for i in range(3):
        core.publish(bytes([i]))
        assert core.drain(fast) == [bytes([i])]
    result = core.publish(b"x")
    assert result.kicked == (slow,) and slow.kick == reasons.TOO_SLOW
    assert not slow.queue  # nothing more goes to a cut session
    assert result.delivered and core.drain(fast) == [b"x"]
    assert core.publish(b"y").kicked == ()  # cut once
    assert core.connected_count() == 1


def test_drop_mode_skips_the_datum_and_counts_it() -> None:
    core = producer(buffer_size=2, disconnect_lagging=False)
    admit(core, 0, peer())
    out = core.sessions[0]
    for i in range(5):
        assert core.publish(bytes([i])).kicked == ()
    assert out.kick is None
    assert out.info.stats.dropped == 3 and core.stats.dropped == 3
    assert core.drain(out, 1) == [b"\x00"] and core.drain(out) == [b"\x01"]


def test_lag_is_the_deepest_queue_of_a_live_session() -> None:
    core = producer(buffer_size=4)
    assert core.lag() == 0
    admit(core, 0, peer())
    admit(core, 1, peer())
    slow, fast = core.sessions[0], core.sessions[1]
    for i in range(3):
        core.publish(bytes([i]))
    core.drain(fast)
    assert core.lag() == 3  # the slow reader is three datums behind
    core.drain(slow, 2)
    assert core.lag() == 1
    for i in range(5):
        core.publish(bytes([i]))
        if i < 4:
            core.drain(fast, 1)  # fast stays one behind
    assert slow.kick is not None and fast.kick is None
    assert core.lag() == len(fast.queue) == 1  # a cut session no longer counts


def test_undelivered_sink_gets_data_nobody_took() -> None:
    missed: list[object] = []
    core = producer(undelivered=missed.append)
    assert not core.publish(b"a", "datum-a").delivered
    admit(core, 0, peer())
    core.publish(b"b", "datum-b")
    assert missed == ["datum-a"]


def test_ticket_expiry_and_revocation_cut_with_not_allowed() -> None:
    core = producer(requirements=(Require(UntilTicket()),))
    until = NOW + 1_000
    holder = peer(tickets=(Ticket(TICKET, until.to_bytes(8, "big")),))
    assert admit(core, 0, peer()) == reasons.STREAM_NOT_ALLOWED
    assert admit(core, 0, holder) is None
    assert core.next_expiry_ms() == until
    assert core.expire(until) == []  # mosaik: expired once now is past the instant
    (cut,) = core.expire(until + 1)
    assert cut.kick == reasons.STREAM_NOT_ALLOWED
    # Revocation: the consumer's entry is re-published without its ticket.
    admit(core, 1, holder)
    bare = Entry(holder.peer_id)
    (cut,) = core.recheck(lambda pid: bare, lambda pid: None, NOW)
    assert cut.key == 1 and cut.kick == reasons.STREAM_NOT_ALLOWED


def test_close_ends_every_session_gracefully_and_refuses_new_ones() -> None:
    core = producer()
    admit(core, 0, peer())
    admit(core, 1, peer())
    assert {o.kick for o in core.close()} == {reasons.GRACEFUL_SHUTDOWN}
    assert not core.online
    assert admit(core, 2, peer()) == reasons.STREAM_NOT_FOUND


def test_online_conditions_follow_sessions() -> None:
    validator = unique_id("validator")
    core = producer(online_when=OnlineConditions().minimum_of(2).with_tags(validator))
    admit(core, 0, peer(tags=frozenset({validator})))
    admit(core, 1, peer())
    assert not core.online
    admit(core, 2, peer(tags=frozenset({validator})))
    assert core.online
    core.remove(2)
    assert not core.online


# ---- consumer ------------------------------------------------------------------------
def subscription(backoff: Backoff | None = None) -> tuple[ConsumerCore, Entry]:
    core = ConsumerCore(
        STREAM,
        SecretKey.generate().peer_id,
        UNIVERSE,
        ConsumerConfig(backoff=backoff or Backoff()),
        random.Random(1),
    )
    return core, peer(streams=frozenset({STREAM}))


def test_subscription_decides_retry_resync_and_stop() -> None:
    core, prod = subscription()
    sub = core.subscription(prod, Expiration.never())
    assert sub.on_accepted(OTHER_NET, NOW) == reasons.PROTOCOL_VIOLATION
    assert sub.on_accepted(STREAM, NOW) is None and sub.state is SubscriptionState.CONNECTED
    step = sub.on_closed(reasons.UNKNOWN_PEER)
    assert isinstance(step, Retry) and step.resync
    for reason in (None, reasons.TOO_SLOW, reasons.GRACEFUL_SHUTDOWN, reasons.STREAM_NOT_FOUND):
        step = sub.on_closed(reason)
        assert isinstance(step, Retry) and not step.resync
    for fatal in (reasons.STREAM_NOT_ALLOWED, reasons.DIFFERENT_NETWORK):
        assert sub.on_closed(fatal) == Stop(fatal)


def test_backoff_budget_runs_out_and_a_session_that_got_through_renews_it() -> None:
    core, prod = subscription(Backoff(initial_s=1.0, factor=2.0, max_elapsed_s=3.0))
    sub = core.subscription(prod, Expiration.never())
    assert isinstance(sub.on_closed(None), Retry)  # interval 1 s
    assert isinstance(sub.on_closed(None), Retry)  # interval 2 s: 3 s spent
    sub.on_accepted(STREAM, NOW)
    assert isinstance(sub.on_closed(None), Retry)
    assert isinstance(sub.on_closed(None), Retry)
    assert isinstance(sub.on_closed(None), GiveUp)


def test_eligible_producers_follow_stream_network_predicates_and_refusals() -> None:
    core, prod = subscription()
    local = peer()
    elsewhere = Entry(SecretKey.generate().peer_id, OTHER_NET, streams=frozenset({STREAM}))
    unrelated = peer()
    found = core.eligible([prod, elsewhere, unrelated], local, lambda pid: None, NOW)
    assert list(found) == [prod.peer_id]
    core.refuse(prod, local)
    assert core.eligible([prod], local, lambda pid: None, NOW) == {}
    # A changed ticket on either side lifts the refusal.
    renewed = Entry(prod.peer_id, streams=prod.streams, tickets=(Ticket(TICKET, b"\x01"),))
    assert list(core.eligible([renewed], local, lambda pid: None, NOW)) == [prod.peer_id]


# ---- RTT predicates ----------------------------------------------------------------------
def test_rtt_below_is_optimistic_until_measured() -> None:
    far = rtt_below(50)
    entry = peer()
    assert far(PeerInfo(entry, None))
    assert far(PeerInfo(entry, 49.9))
    assert not far(PeerInfo(entry, 50.0))
    with pytest.raises(ValueError, match="positive"):
        rtt_below(0)


def test_rtt_predicate_gates_both_ends() -> None:
    near = peer(streams=frozenset({STREAM}))
    far = peer(streams=frozenset({STREAM}))
    rtts = {near.peer_id: 5.0, far.peer_id: 400.0}
    consumer = ConsumerCore(
        STREAM,
        SecretKey.generate().peer_id,
        UNIVERSE,
        ConsumerConfig(predicates=(rtt_below(100),)),
        random.Random(1),
    )
    assert list(consumer.eligible([near, far], peer(), rtts.get, NOW)) == [near.peer_id]

    core = producer(predicates=(rtt_below(100),))
    assert admit(core, 0, far, rtt_ms=400.0) == reasons.STREAM_NOT_ALLOWED
    assert admit(core, 1, near, rtt_ms=5.0) is None
    # The link got slow: the next catalog re-check cuts it.
    (cut,) = core.recheck(lambda pid: near, lambda pid: 250.0, NOW)
    assert cut.key == 1 and cut.kick == reasons.STREAM_NOT_ALLOWED
