"""The discovery driver against a hostile dialler: real sockets, one process."""

from __future__ import annotations

import asyncio
import logging

import pytest

from pymosaik.discovery import driver
from pymosaik.discovery.driver import Discovery
from pymosaik.discovery.log_limit import LogLimiter
from pymosaik.discovery.messages import DISCOVERY_PROTOCOL
from pymosaik.primitives import ManualClock, SecretKey, unique_id
from pymosaik.transport import Endpoint, TransportConfig, reasons

NET = unique_id("pymosaik.test.discovery.hostile")
FAST = TransportConfig(handshake_timeout=5.0, close_timeout=1.0)


def run(coro: object, timeout: float = 30.0) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(timeout):
            await coro  # type: ignore[misc]

    asyncio.run(bounded())


def test_malformed_messages_log_one_line_each_rate_limited(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)

    async def main() -> None:
        clock = ManualClock()
        async with (
            Endpoint(SecretKey.generate(), NET, config=FAST) as target,
            Endpoint(SecretKey.generate(), NET, config=FAST) as hostile,
        ):
            disc = Discovery(target, NET, clock)

            async def send_garbage(count: int) -> None:
                for _ in range(count):
                    link = await hostile.connect(target.addr, DISCOVERY_PROTOCOL)
                    await link.send_raw(b"\xc1")  # never valid msgpack
                    assert await link.closed() == reasons.PROTOCOL_VIOLATION

            await send_garbage(driver.COMPLAINTS_PER_PEER + 2)
            clock.advance(driver.COMPLAINT_INTERVAL_MS)
            await send_garbage(1)
            await disc.aclose()

        lines = [r for r in caplog.records if "malformed" in r.getMessage()]
        assert len(lines) == driver.COMPLAINTS_PER_PEER + 1
        for record in lines:
            text = record.getMessage()
            assert record.name == "pymosaik.discovery" and record.levelno == logging.WARNING
            assert record.exc_info is None and "\n" not in text
            assert str(hostile.peer_id) in text
        assert "suppressed" not in lines[0].getMessage()
        assert lines[-1].getMessage().endswith("(2 more from this peer suppressed)")
        assert not [r for r in caplog.records if r.exc_info is not None]  # no tracebacks

    run(main())


def test_an_idle_dialler_is_closed_with_a_timeout_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(driver, "EXCHANGE_TIMEOUT_S", 0.3)

    async def main() -> None:
        async with (
            Endpoint(SecretKey.generate(), NET, config=FAST) as target,
            Endpoint(SecretKey.generate(), NET, config=FAST) as idle,
        ):
            disc = Discovery(target, NET, ManualClock())
            link = await idle.connect(target.addr, DISCOVERY_PROTOCOL)
            reason = await link.closed()  # sends nothing
            assert reason == reasons.TIMEOUT and reason.code == 30_408
            await disc.aclose()

    run(main())


def test_log_limiter_burst_interval_and_suppressed_count() -> None:
    limiter: LogLimiter[str] = LogLimiter(burst=2, interval_ms=1000, max_keys=2)
    assert [limiter.admit("a", 0) for _ in range(4)] == [(True, 0)] * 2 + [(False, 0)] * 2
    assert limiter.admit("b", 10) == (True, 0)  # per key
    assert limiter.admit("a", 999) == (False, 0)
    assert limiter.admit("a", 1000) == (True, 3)  # a new interval reports what was dropped
    assert limiter.admit("a", 1001) == (True, 0)
    for i in range(10):  # a flood of fresh keys stays within max_keys
        limiter.admit(f"k{i}", 5000)
    assert len(limiter._windows) <= 2
