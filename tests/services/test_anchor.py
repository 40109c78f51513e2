"""The Chronicle anchor on a real EVM: in process, and over JSON-RPC via HTTP."""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from eth_tester import EthereumTester
from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider

from coalition.services.anchor import AnchorError, EvmAnchor, deploy
from pymosaik import UniqueId

CHRONICLE = UniqueId.hash("chronicle-root")


@pytest.fixture(scope="module")
def anchor() -> EvmAnchor:
    a = EvmAnchor.in_process()
    a.register(CHRONICLE)
    return a


def test_anchor_and_read_back(anchor: EvmAnchor) -> None:
    d1, d2 = UniqueId.hash("digest-1"), UniqueId.hash("digest-2")
    r1 = anchor.anchor(CHRONICLE, 64, d1)
    r2 = anchor.anchor(CHRONICLE, 128, d2)
    assert r2.block_number > r1.block_number
    assert anchor.digest_at(CHRONICLE, 64) == d1
    assert anchor.digest_at(CHRONICLE, 128) == d2
    assert anchor.digest_at(CHRONICLE, 65) is None
    assert anchor.latest(CHRONICLE) == (128, d2)


def test_anchors_are_append_only(anchor: EvmAnchor) -> None:
    anchor.anchor(CHRONICLE, 1_000, UniqueId.hash("a"))
    with pytest.raises(AnchorError, match="sequence not increasing"):
        anchor.anchor(CHRONICLE, 1_000, UniqueId.hash("rewrite"))
    with pytest.raises(AnchorError, match="sequence not increasing"):
        anchor.anchor(CHRONICLE, 999, UniqueId.hash("older"))
    assert anchor.digest_at(CHRONICLE, 1_000) == UniqueId.hash("a")


def test_only_the_registered_account_anchors(anchor: EvmAnchor) -> None:
    other = UniqueId.hash("someone else's chronicle")
    with pytest.raises(AnchorError, match="not the anchorer"):
        anchor.anchor(other, 1, UniqueId.hash("x"))
    anchor.register(other)
    with pytest.raises(AnchorError, match="already registered"):
        anchor.register(other)
    assert anchor.latest(other) is None


class _Bridge(BaseHTTPRequestHandler):
    """Minimal Ethereum JSON-RPC over HTTP, answered by an in-process eth-tester chain."""

    w3: Any = None

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        # The tester provider's own middleware turns JSON-RPC hex params into the
        # Python values eth-tester takes, as it does for an in-process Web3.
        request = self.w3.provider.request_func(self.w3, self.w3.middleware_onion)
        response = request(body["method"], body.get("params", []))
        payload = json.loads(Web3.to_json(response))  # HexBytes/AttributeDict -> JSON
        payload.setdefault("jsonrpc", "2.0")
        payload["id"] = body.get("id")
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def rpc_node() -> Iterator[tuple[str, bytes]]:
    tester = EthereumTester()
    handler = type("Bridge", (_Bridge,), {"w3": Web3(EthereumTesterProvider(tester))})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", tester.backend.account_keys[1].to_bytes()
    finally:
        server.shutdown()
        server.server_close()


def test_json_rpc_anchor(rpc_node: tuple[str, bytes]) -> None:
    url, key = rpc_node
    address = deploy(Web3(Web3.HTTPProvider(url)), key)
    remote = EvmAnchor.json_rpc(url, address, key)
    assert url in repr(remote)
    assert key.hex() not in repr(remote)
    remote.register(CHRONICLE)
    remote.anchor(CHRONICLE, 7, UniqueId.hash("seven"))
    assert remote.digest_at(CHRONICLE, 7) == UniqueId.hash("seven")
    assert remote.latest(CHRONICLE) == (7, UniqueId.hash("seven"))


def test_unreachable_node_is_a_clear_error() -> None:
    remote = EvmAnchor.json_rpc("http://127.0.0.1:9", "0x" + "11" * 20, b"\x01" * 32)
    with pytest.raises(AnchorError, match="anchor transaction failed"):
        remote.register(CHRONICLE)
