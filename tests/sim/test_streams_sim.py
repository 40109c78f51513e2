"""Streams under the seeded simulator: clean seeds, exact replay, and checkers that bite.

Each mutation breaks one rule of the real session cores (monkeypatched for the
test) and must be caught by the checker that guards that rule.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import pytest

from pymosaik.sim.__main__ import main
from pymosaik.sim.streams import run_streams_seed
from pymosaik.streams import admission, session
from pymosaik.streams.session import Outbound, ProducerCore, Published, Subscription
from pymosaik.tickets import Expiration
from pymosaik.transport import CloseReason, reasons


def violations_of(kind: str, seeds: Iterable[int]) -> list[str]:
    """Run seeds until one shows a violation of ``kind``; return that seed's violations."""
    for seed in seeds:
        found = [v for v in run_streams_seed(seed).violations if f"{kind}:" in v]
        if found:
            return found
    return []


def test_seeds_are_clean_cover_the_protocol_and_replay_exactly() -> None:
    totals: Counter[str] = Counter()
    for seed in range(4):
        result = run_streams_seed(seed)
        assert result.violations == [], "\n".join(result.violations + result.plan)
        totals.update(result.stats)
    again = run_streams_seed(3)
    assert again.stats == run_streams_seed(3).stats
    for what in ("sessions", "too-slow-cuts", "unknown-peer", "resyncs", "broken-links"):
        assert totals[what] > 0, what
    assert totals["stop-NotAllowed"] > 0  # tickets gate (missing or expired)


def test_cli_prints_the_summary_and_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["streams", "--seed", "5"]) == 0
    assert "seeds=1 violations=0" in capsys.readouterr().out


def test_unbounded_queues_are_caught_by_the_lagging_checker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def unbounded(self: ProducerCore, data: bytes, datum: object = None) -> Published:
        live = [o for o in self.sessions.values() if o.kick is None]
        for out in live:
            out.queue.append(data)
        return Published(bool(live))

    monkeypatch.setattr(ProducerCore, "publish", unbounded)
    assert violations_of("lagging", range(6))


def test_a_replayed_frame_is_caught_by_the_order_checker(monkeypatch: pytest.MonkeyPatch) -> None:
    real = ProducerCore.drain

    def stutter(self: ProducerCore, out: Outbound, limit: int | None = None) -> list[bytes]:
        batch = real(self, out, limit)
        return batch + batch[-1:]

    monkeypatch.setattr(ProducerCore, "drain", stutter)
    assert violations_of("order", range(2))


def test_giving_up_on_io_errors_is_caught_by_the_resume_checker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = Subscription.on_closed

    def brittle(self: Subscription, reason: CloseReason | None) -> session.Next:
        if reason is None:
            return self.stop(reasons.UNEXPECTED_CLOSE)
        return real(self, reason)

    monkeypatch.setattr(Subscription, "on_closed", brittle)
    assert violations_of("resume", range(6))


def test_ignoring_tickets_is_caught_by_the_tickets_checker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(admission, "_tickets_expiry", lambda *a: Expiration.never())
    assert violations_of("tickets", [2, 7, 13])  # seeds with a ticketless consumer


def test_not_expiring_sessions_is_caught_by_the_tickets_checker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ProducerCore, "expire", lambda self, now_ms: [])
    monkeypatch.setattr(ProducerCore, "recheck", lambda self, lookup, rtt, now_ms: [])
    assert violations_of("tickets", [1, 3, 10])  # seeds with an expiring ticket
