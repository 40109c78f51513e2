"""The Chronicle anchor on a real EVM: in process, and over JSON-RPC via HTTP."""

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from web3 import Web3

from coalition.services.anchor import AnchorError, EvmAnchor, deploy
from coalition.services.anchor_node import AnchorNode, read_info, write_info
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


@pytest.fixture
def rpc_node() -> Iterator[tuple[str, bytes]]:
    """The simulated local chain of `coalition up`, answering JSON-RPC on loopback."""
    with AnchorNode() as node:
        # a second funded account deploys its own contract below
        yield node.url, node.tester.backend.account_keys[1].to_bytes()


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
    # reverts carry their reason over JSON-RPC, as a real node reports them
    with pytest.raises(AnchorError, match="already registered"):
        remote.register(CHRONICLE)
    with pytest.raises(AnchorError, match="sequence not increasing"):
        remote.anchor(CHRONICLE, 7, UniqueId.hash("again"))


def test_unreachable_node_is_a_clear_error() -> None:
    remote = EvmAnchor.json_rpc("http://127.0.0.1:9", "0x" + "11" * 20, b"\x01" * 32)
    with pytest.raises(AnchorError, match="anchor transaction failed"):
        remote.register(CHRONICLE)


def test_anchor_node_info_file(tmp_path: Path) -> None:
    """The node's info file is labelled simulated, private (0600), and enough to anchor."""
    with AnchorNode() as node:
        path = tmp_path / "anchor.json"
        write_info(path, node.info)
        assert path.stat().st_mode & 0o777 == 0o600
        raw = json.loads(path.read_text())
        assert raw["simulated"] is True and "SIMULATED" in raw["label"]
        info = read_info(path)
        remote = EvmAnchor.json_rpc(info.url, info.contract, info.private_key)
        remote.register(CHRONICLE)
        remote.anchor(CHRONICLE, 3, UniqueId.hash("three"))
        assert remote.latest(CHRONICLE) == (3, UniqueId.hash("three"))
        path.chmod(0o644)
        with pytest.raises(ValueError, match="must be 600"):
            read_info(path)


def test_importing_the_anchor_client_leaves_the_recursion_limit_alone() -> None:
    """web3's dependencies raise it to 100,000 at import; members then crash on deep input."""
    code = (
        "import sys; before = sys.getrecursionlimit()\n"
        "import coalition.runtime.anchor_client, coalition.services.anchor_node, web3, eth_tester\n"
        "print(before, sys.getrecursionlimit())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=120
    )
    before, after = done.stdout.split()
    assert after == before == "1000"
