"""A chain node in its own process (module scoped) and a wallet's payment to it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from coalition.evm import Account, Web3


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """A chain node in its own process, answering Ethereum JSON-RPC over HTTP on loopback."""
    out = tmp_path_factory.mktemp("node") / "node.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "coalition.services.anchor_node", "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not out.exists() or not out.read_text().strip().endswith("}"):
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the node did not start"
            time.sleep(0.1)
        yield json.loads(out.read_text())
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def pay(
    url: str, key_hex: str, chain_id: int, to: bytes, value: int, *, gas: int = 21_000
) -> bytes:
    """A signed raw transaction, as a wallet sends it."""
    w3 = Web3(Web3.HTTPProvider(url))
    account = Account.from_key(bytes.fromhex(key_hex.removeprefix("0x")))
    tx = {
        "to": Web3.to_checksum_address(to),
        "value": value,
        "gas": gas,
        "gasPrice": w3.eth.gas_price,
        "nonce": w3.eth.get_transaction_count(account.address),
        "chainId": chain_id,
    }
    signed = account.sign_transaction(tx)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10)
    return bytes(tx_hash), int(receipt["status"])
