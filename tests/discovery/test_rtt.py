"""RFC 6298 arithmetic against hand-computed values."""

from __future__ import annotations

import pytest

from pymosaik.discovery.rtt import RttEstimator


def test_initial_rto_is_one_second() -> None:
    est = RttEstimator()
    assert est.srtt is None
    assert est.rttvar is None
    assert est.rto == 1000.0


def test_first_sample() -> None:
    # (2.2): SRTT = R, RTTVAR = R/2, RTO = SRTT + max(G, 4*RTTVAR) = 300 + 600 = 900 -> min 1 s.
    est = RttEstimator()
    est.sample(300)
    assert est.srtt == 300
    assert est.rttvar == 150
    assert est.rto == 1000.0
    # Without the floor the formula shows through.
    est = RttEstimator(min_rto_ms=0)
    est.sample(300)
    assert est.rto == 900.0


def test_subsequent_samples() -> None:
    est = RttEstimator(min_rto_ms=0)
    est.sample(400)  # srtt 400, rttvar 200, rto 1200
    assert (est.srtt, est.rttvar, est.rto) == (400, 200, 1200)
    est.sample(200)
    # (2.3) with the *old* SRTT: rttvar = 3/4*200 + 1/4*|400-200| = 150 + 50 = 200
    #                            srtt   = 7/8*400 + 1/8*200 = 350 + 25 = 375
    # rto = 375 + 4*200 = 1175
    assert est.rttvar == pytest.approx(200)
    assert est.srtt == pytest.approx(375)
    assert est.rto == pytest.approx(1175)
    est.sample(375)
    # rttvar = 3/4*200 + 1/4*0 = 150; srtt = 375; rto = 375 + 600 = 975
    assert est.rttvar == pytest.approx(150)
    assert est.srtt == pytest.approx(375)
    assert est.rto == pytest.approx(975)
    est.sample(1175)
    # rttvar = 3/4*150 + 1/4*|375-1175| = 112.5 + 200 = 312.5
    # srtt = 7/8*375 + 1/8*1175 = 328.125 + 146.875 = 475 ; rto = 475 + 1250 = 1725
    assert est.rttvar == pytest.approx(312.5)
    assert est.srtt == pytest.approx(475)
    assert est.rto == pytest.approx(1725)


def test_rttvar_uses_the_srtt_before_the_update() -> None:
    """Updating SRTT first would give 3/4*50 + 1/4*|112.5-200| = 59.375 instead of 62.5."""
    est = RttEstimator(min_rto_ms=0)
    est.sample(100)  # srtt 100, rttvar 50
    est.sample(200)
    assert est.rttvar == pytest.approx(0.75 * 50 + 0.25 * 100)


def test_clock_granularity_bounds_the_variance_term() -> None:
    # A constant RTT drives RTTVAR to ~0; the RTO is then SRTT + G.
    est = RttEstimator(min_rto_ms=0, g_ms=10)
    for _ in range(200):
        est.sample(50)
    assert est.srtt == pytest.approx(50)
    assert est.rttvar == pytest.approx(0, abs=1e-9)
    assert est.rto == pytest.approx(60)


def test_clamping() -> None:
    est = RttEstimator()  # min 1 s, max 60 s
    est.sample(10)
    assert est.rto == 1000.0  # 10 + 20 = 30 clamped up (2.4)
    est = RttEstimator()
    est.sample(30_000)  # 30000 + 60000 = 90000 clamped down (2.5)
    assert est.rto == 60_000.0
    assert est.srtt == 30_000


def test_zero_sample_is_fine_and_negative_is_refused() -> None:
    est = RttEstimator(min_rto_ms=0, g_ms=1)
    est.sample(0)
    assert (est.srtt, est.rttvar, est.rto) == (0, 0, 1)
    with pytest.raises(ValueError, match="negative"):
        est.sample(-1)
    assert est.srtt == 0


def test_backoff_doubles_up_to_the_ceiling() -> None:
    est = RttEstimator()
    est.backoff()
    assert est.rto == 2000.0
    est.backoff()
    assert est.rto == 4000.0
    for _ in range(10):
        est.backoff()
    assert est.rto == 60_000.0
    # A fresh sample recomputes the RTO from the estimates (5.7 leaves that to the sample).
    est.sample(100)
    assert est.rto == 1000.0
