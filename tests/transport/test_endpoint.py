"""Real sockets on 127.0.0.1: several endpoints in one process."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from pymosaik.primitives import SecretKey, Wire, encode, unique_id
from pymosaik.tickets import PeerIdentity
from pymosaik.transport import (
    Endpoint,
    EndpointAddr,
    Link,
    LinkClosedError,
    LinkMachine,
    PeerMismatchError,
    TransportConfig,
    reasons,
)
from pymosaik.transport.framing import FrameKind, encode_frame
from pymosaik.transport.identity import Hello, sign_hello
from pymosaik.transport.link import _Socket, handshake

T = TypeVar("T")
NET = unique_id("pymosaik.test.transport")
ECHO = "/test/echo/1"
FAST = TransportConfig(handshake_timeout=5.0, close_timeout=1.0)


class Ping(Wire, frozen=True):
    seq: int
    body: bytes


def run(coro: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await coro

    return asyncio.run(bounded())


async def echo(link: Link) -> None:
    while True:
        await link.send(await link.recv(Ping))


def endpoint(net=NET, config: TransportConfig = FAST, key: SecretKey | None = None) -> Endpoint:
    return Endpoint(key or SecretKey.generate(), net, config=config)


async def assert_still_serves(server: Endpoint) -> None:
    async with endpoint() as probe:
        link = await probe.connect(server.addr, ECHO)
        await link.send(Ping(7, b"alive"))
        assert await link.recv(Ping) == Ping(7, b"alive")
        await link.close()


def test_mutual_identity_is_proven_and_messages_echo() -> None:
    async def main() -> None:
        async with endpoint() as a, endpoint() as b:
            seen: list[Link] = []

            async def serve(link: Link) -> None:
                seen.append(link)
                await echo(link)

            b.accept(ECHO, serve)
            link = await a.connect(b.addr, ECHO)
            assert link.peer_id == b.peer_id
            assert link.local_id == a.peer_id
            assert link.protocol == ECHO
            for n in range(50):
                await link.send(Ping(n, bytes(n)))
            for n in range(50):
                assert await link.recv(Ping) == Ping(n, bytes(n))
            (inbound,) = seen
            assert inbound.peer_id == a.peer_id
            assert link.remote_addr == b.socket_addr
            assert isinstance(link, PeerIdentity)  # tickets validate against links
            assert inbound.remote_addr is not None
            assert inbound.remote_addr[0] == "127.0.0.1"
            assert inbound.channel_binding == link.channel_binding
            assert inbound.shared_random("mosaik.group.bond.id") == link.shared_random(
                "mosaik.group.bond.id"
            )
            await link.close()
            assert link.close_reason == reasons.SUCCESS
            assert await inbound.closed() == reasons.SUCCESS

    run(main())


def test_dial_by_bare_address_learns_the_proven_peer() -> None:
    async def main() -> None:
        async with endpoint() as a, endpoint() as b:
            b.accept(ECHO, echo)
            link = await a.connect(b.socket_addr, ECHO)
            assert link.peer_id == b.peer_id
            await link.close()

    run(main())


def test_expected_peer_mismatch_is_refused_and_endpoint_survives() -> None:
    async def main() -> None:
        async with endpoint() as a, endpoint() as b:
            b.accept(ECHO, echo)
            wrong = EndpointAddr.of(SecretKey.generate().peer_id, b.socket_addr)
            with pytest.raises(PeerMismatchError) as info:
                await a.connect(wrong, ECHO)
            assert info.value.reason == reasons.UNEXPECTED_PEER
            assert info.value.actual == b.peer_id
            assert info.value.expected == wrong.peer_id
            await assert_still_serves(b)
            assert not a.links

    run(main())


def test_different_network_is_refused_with_different_network() -> None:
    async def main() -> None:
        async with endpoint() as a, endpoint(net=unique_id("elsewhere")) as b:
            b.accept(ECHO, echo)
            with pytest.raises(LinkClosedError) as info:
                await a.connect(b.addr, ECHO)
            assert info.value.reason == reasons.DIFFERENT_NETWORK
            assert info.value.by_peer
            assert not b.links

    run(main())


def test_unknown_protocol_is_refused_with_invalid_alpn() -> None:
    async def main() -> None:
        async with endpoint() as a, endpoint() as b:
            b.accept(ECHO, echo)
            with pytest.raises(LinkClosedError) as info:
                await a.connect(b.addr, "/nobody/speaks/this")
            assert info.value.reason == reasons.INVALID_ALPN

    run(main())


def test_oversize_frame_closes_with_protocol_violation() -> None:
    async def main() -> None:
        big = TransportConfig(max_frame_size=1 << 20, close_timeout=1.0)
        small = TransportConfig(max_frame_size=1024, close_timeout=1.0)
        async with endpoint(config=big) as a, endpoint(config=small) as b:
            closed: asyncio.Future[BaseException] = asyncio.get_running_loop().create_future()

            async def sink(link: Link) -> None:
                try:
                    await link.recv_raw()
                except LinkClosedError as exc:
                    closed.set_result(exc)
                    raise

            b.accept(ECHO, sink)
            link = await a.connect(b.addr, ECHO)
            await link.send_raw(bytes(64 * 1024))
            local = await closed
            assert isinstance(local, LinkClosedError)
            assert local.reason == reasons.PROTOCOL_VIOLATION
            assert not local.by_peer
            assert await link.closed() == reasons.PROTOCOL_VIOLATION
            with pytest.raises(LinkClosedError) as info:
                await link.recv_raw()
            assert info.value.by_peer
            b.accept("/test/echo/2", echo)
            async with endpoint() as probe:
                again = await probe.connect(b.addr, "/test/echo/2")
                await again.send(Ping(1, b"x"))
                assert await again.recv(Ping) == Ping(1, b"x")

    run(main())


def test_undecodable_message_closes_with_protocol_violation() -> None:
    async def main() -> None:
        async with endpoint() as a, endpoint() as b:
            b.accept(ECHO, echo)
            link = await a.connect(b.addr, ECHO)
            await link.send_raw(b"\xc1")  # never valid msgpack
            assert await link.closed() == reasons.PROTOCOL_VIOLATION
            await assert_still_serves(b)

    run(main())


def test_handler_crash_closes_link_and_endpoint_lives(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        async with endpoint() as a, endpoint() as b:

            async def broken(link: Link) -> None:
                raise RuntimeError("boom")

            b.accept("/broken/1", broken)
            b.accept(ECHO, echo)
            link = await a.connect(b.addr, "/broken/1")
            assert await link.closed() == reasons.UNEXPECTED_CLOSE
            await assert_still_serves(b)

    with caplog.at_level("INFO", logger="pymosaik"):
        run(main())
    failures = [r for r in caplog.records if "boom" in r.getMessage() or r.exc_info]
    assert len(failures) == 1, "a failing handler is logged once"
    assert failures[0].levelname == "ERROR"
    assert "/broken/1" in failures[0].getMessage()
    assert not failures[0].exc_info, "one line, no traceback"


def test_a_bug_in_the_endpoint_itself_stops_it_and_aclose_raises_it() -> None:
    class BugError(Exception):
        pass

    async def main() -> None:
        server = endpoint()
        await server.start()
        server.accept(ECHO, echo)

        def policy(request: object) -> None:
            raise BugError("accept loop bug")

        server._open_policy = policy  # type: ignore[method-assign]
        async with endpoint() as client:
            with pytest.raises((LinkClosedError, OSError, TimeoutError)):
                await client.connect(server.addr, ECHO)
            with pytest.raises(RuntimeError, match="not running") as refused:
                await server.connect(client.addr, ECHO)
            assert isinstance(refused.value.__cause__, BugError)
        with pytest.raises(BugError):
            await server.aclose()

    run(main())


async def raw_exchange(addr: tuple[str, int], payload: bytes, *, half_close: bool) -> bytes:
    reader, writer = await asyncio.open_connection(*addr)
    writer.write(payload)
    await writer.drain()
    if half_close:
        writer.write_eof()
    try:
        async with asyncio.timeout(5):
            return await reader.read()
    finally:
        writer.close()


@pytest.mark.parametrize(
    "payload",
    [
        b"GET / HTTP/1.1\r\n\r\n",
        b"\x00\x20" + bytes(31),  # truncated first handshake message
        b"\x00\x20" + bytes(32),  # a low-order X25519 point
        bytes(range(256)) * 4,
        b"",
    ],
)
def test_garbage_and_truncated_input_close_without_crashing(payload: bytes) -> None:
    async def main() -> None:
        async with endpoint() as b:
            b.accept(ECHO, echo)
            answer = await raw_exchange(b.socket_addr, payload, half_close=True)
            assert len(answer) <= 96  # at most its own handshake message
            await assert_still_serves(b)
            assert not b.links

    run(main())


class Forger(LinkMachine):
    """A client claiming one identity while signing with another key."""

    def _send_hello(self) -> None:
        assert self.channel_binding is not None
        other = SecretKey.generate()
        real = sign_hello(other, self._static_public, self.channel_binding, NET, ECHO)
        forged = Hello(self.local_id.bytes, NET, ECHO, real.signature)
        self._plain += encode_frame(FrameKind.HELLO, encode(forged))


def test_wrongly_signed_identity_closes_the_link_without_crashing() -> None:
    async def main() -> None:
        async with endpoint() as b:
            b.accept(ECHO, echo)
            reader, writer = await asyncio.open_connection(*b.socket_addr)
            machine = Forger(
                is_initiator=True,
                key=SecretKey.generate(),
                network_id=NET,
                random_bytes=FAST.random_bytes,
                protocol=ECHO,
            )
            sock = _Socket(machine, reader, writer, FAST)
            with pytest.raises(LinkClosedError) as info:
                await handshake(sock, None)
            assert info.value.reason == reasons.PROTOCOL_VIOLATION
            assert info.value.by_peer
            await sock.finish()
            await assert_still_serves(b)

    run(main())


def test_shutdown_closes_links_with_graceful_shutdown() -> None:
    async def main() -> None:
        async with endpoint() as a:
            async with endpoint() as b:
                b.accept(ECHO, echo)
                link = await a.connect(b.addr, ECHO)
                await link.send(Ping(1, b""))
                assert await link.recv(Ping) == Ping(1, b"")
            assert await link.closed() == reasons.GRACEFUL_SHUTDOWN
            with pytest.raises(LinkClosedError) as info:
                await link.send(Ping(2, b""))
            assert info.value.reason == reasons.GRACEFUL_SHUTDOWN
            assert not a.links

    run(main())


def test_messages_sent_before_close_are_still_received() -> None:
    async def main() -> None:
        async with endpoint() as a, endpoint() as b:
            got: asyncio.Queue[int | str] = asyncio.Queue()

            async def producer(link: Link) -> None:
                for n in range(100):
                    link.feed(Ping(n, b"x" * 100))
                await link.flush()
                await link.close(reasons.TOO_SLOW)

            b.accept(ECHO, producer)
            link = await a.connect(b.addr, ECHO)
            try:
                while True:
                    await got.put((await link.recv(Ping)).seq)
            except LinkClosedError as exc:
                await got.put(exc.reason.name)
            items = [got.get_nowait() for _ in range(got.qsize())]
            assert items == [*range(100), "TooSlow"]

    run(main())


def test_slow_reader_applies_backpressure_without_loss() -> None:
    async def main() -> None:
        cfg = TransportConfig(inbox_high_water=8, close_timeout=1.0)
        async with endpoint(config=cfg) as a, endpoint(config=cfg) as b:
            total = 2000

            async def producer(link: Link) -> None:
                for n in range(total):
                    await link.send(Ping(n, bytes(1000)))
                await link.recv_raw()  # wait for the reader's goodbye

            b.accept(ECHO, producer)
            link = await a.connect(b.addr, ECHO)
            for n in range(total):
                if n % 500 == 0:
                    await asyncio.sleep(0.01)  # be slow on purpose
                assert (await link.recv(Ping)).seq == n
            await link.close()

    run(main())


def test_many_concurrent_links_between_several_endpoints() -> None:
    async def main() -> None:
        eps = [endpoint() for _ in range(4)]
        for ep in eps:
            await ep.start()
        try:
            for ep in eps:
                ep.accept(ECHO, echo)

            async def talk(src: Endpoint, dst: Endpoint, n: int) -> None:
                async with await src.connect(dst.addr, ECHO) as link:
                    await link.send(Ping(n, src.peer_id.bytes))
                    reply = await link.recv(Ping)
                    assert reply == Ping(n, src.peer_id.bytes)
                    assert link.peer_id == dst.peer_id

            async with asyncio.TaskGroup() as tg:
                for i, src in enumerate(eps):
                    for j, dst in enumerate(eps):
                        if i != j:
                            for k in range(3):
                                tg.create_task(talk(src, dst, 100 * i + 10 * j + k))
        finally:
            for ep in eps:
                await ep.aclose()

    run(main())


def test_handshake_timeout_against_a_silent_server() -> None:
    async def main() -> None:
        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read()
            writer.close()

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        host, port = server.sockets[0].getsockname()[:2]
        cfg = TransportConfig(handshake_timeout=0.3, close_timeout=0.2)
        try:
            async with endpoint(config=cfg) as a:
                with pytest.raises(TimeoutError):
                    await a.connect((host, port), ECHO)
        finally:
            server.close()
            await server.wait_closed()

    run(main())


def test_connect_refused_raises_oserror() -> None:
    async def main() -> None:
        async with endpoint() as a:
            async with endpoint() as b:
                addr = b.addr
            with pytest.raises(OSError, match=r"127\.0\.0\.1"):
                await a.connect(addr, ECHO)

    run(main())
