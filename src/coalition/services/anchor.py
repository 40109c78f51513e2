"""External anchors for Chronicle digests: an in-process EVM and a JSON-RPC node.

The Chronicle committee periodically commits a blake3 digest of its stream to
an external settlement contract (book: "Basic services — Chronicle"). Both
implementations talk to the same `ChronicleAnchor` contract
(contracts/ChronicleAnchor.sol, compiled ABI and bytecode committed next to
this module) through web3: `EvmAnchor.in_process()` runs a real EVM (py-evm
via eth-tester) inside this process; `EvmAnchor.json_rpc()` signs raw
transactions locally and sends them to any Ethereum JSON-RPC endpoint.

The calls are synchronous (web3's HTTP provider is); asyncio drivers run them
with ``asyncio.to_thread``.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final, Protocol

from pymosaik.primitives import UniqueId

from ..evm import (
    Account,
    ContractLogicError,
    EthereumTester,
    EthereumTesterProvider,
    TransactionFailed,
    Web3,
    Web3Exception,
)

__all__ = ["Anchor", "AnchorError", "AnchorReceipt", "EvmAnchor", "contract_artifact"]

_ZERO32: Final = bytes(32)


class AnchorError(Exception):
    """The anchor refused or could not record a digest (reverted, unreachable)."""


@dataclass(frozen=True)
class AnchorReceipt:
    """Where a digest landed: the transaction and block that recorded it."""

    chronicle: UniqueId
    seq: int
    digest: UniqueId
    tx_hash: str
    block_number: int


class Anchor(Protocol):
    """What the Chronicle needs from an external anchor."""

    def register(self, chronicle: UniqueId) -> None: ...

    def anchor(self, chronicle: UniqueId, seq: int, digest: UniqueId) -> AnchorReceipt: ...

    def digest_at(self, chronicle: UniqueId, seq: int) -> UniqueId | None: ...

    def latest(self, chronicle: UniqueId) -> tuple[int, UniqueId] | None: ...


def contract_artifact() -> dict[str, Any]:
    """The compiled ChronicleAnchor contract: ``{"abi": [...], "bytecode": "0x..."}``."""
    text = (
        resources.files(__package__ or "coalition.services")
        .joinpath("chronicle_anchor.json")
        .read_text("utf-8")
    )
    artifact: dict[str, Any] = json.loads(text)
    return artifact


class EvmAnchor:
    """The ChronicleAnchor contract behind web3, with transactions signed by one key.

    Calls come from worker threads (``asyncio.to_thread``) and may overlap (a status read
    beside an anchoring): one lock keeps them in turn, so two transactions never take the same
    nonce and the in-process chain (eth-tester, not thread-safe) is never entered twice."""

    def __init__(self, w3: Any, address: str, private_key: bytes, *, label: str) -> None:
        self._lock = threading.Lock()
        self._w3 = w3
        self._account = Account.from_key(private_key)
        self._contract = w3.eth.contract(address=address, abi=contract_artifact()["abi"])
        self.address: str = address
        self.label = label  # "in-process EVM (eth-tester)" or the RPC URL; never the key

    def __repr__(self) -> str:
        return f"EvmAnchor({self.label}, contract={self.address})"

    # ---- constructors -----------------------------------------------------
    @classmethod
    def in_process(cls) -> EvmAnchor:
        """A fresh in-process chain with the contract deployed by a funded test account."""
        tester = EthereumTester()
        w3 = Web3(EthereumTesterProvider(tester))
        key = tester.backend.account_keys[0].to_bytes()
        address = deploy(w3, key)
        return cls(w3, address, key, label="in-process EVM (eth-tester)")

    @classmethod
    def json_rpc(cls, url: str, contract_address: str, private_key: bytes) -> EvmAnchor:
        """An anchor on a real node; ``contract_address`` from :func:`deploy`."""
        w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 30}))
        return cls(w3, Web3.to_checksum_address(contract_address), private_key, label=url)

    # ---- Anchor -----------------------------------------------------------
    def register(self, chronicle: UniqueId) -> None:
        with self._lock:
            self._transact(self._contract.functions.register(chronicle.bytes))

    def anchor(self, chronicle: UniqueId, seq: int, digest: UniqueId) -> AnchorReceipt:
        with self._lock:
            receipt = self._transact(
                self._contract.functions.anchor(chronicle.bytes, seq, digest.bytes)
            )
        return AnchorReceipt(
            chronicle, seq, digest, receipt["transactionHash"].hex(), receipt["blockNumber"]
        )

    def digest_at(self, chronicle: UniqueId, seq: int) -> UniqueId | None:
        with self._lock:
            raw = bytes(self._contract.functions.digestAt(chronicle.bytes, seq).call())
        return None if raw == _ZERO32 else UniqueId(raw)

    def latest(self, chronicle: UniqueId) -> tuple[int, UniqueId] | None:
        with self._lock:
            is_set, seq, digest = self._contract.functions.latest(chronicle.bytes).call()
        return (int(seq), UniqueId(bytes(digest))) if is_set else None

    def _transact(self, call: Any) -> Any:
        return send_signed(self._w3, self._account, call)


def send_signed(w3: Any, account: Any, call: Any) -> Any:
    """Build, sign locally and send one transaction; raise AnchorError on revert."""
    reverted = (ContractLogicError, TransactionFailed)
    try:
        tx = call.build_transaction(
            {
                "from": account.address,
                "nonce": w3.eth.get_transaction_count(account.address),
                "chainId": w3.eth.chain_id,
            }
        )
        signed = account.sign_transaction(tx)
        tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)
    except reverted as exc:
        raise AnchorError(f"anchor contract reverted: {exc}") from None
    except (Web3Exception, OSError, ValueError) as exc:
        raise AnchorError(f"anchor transaction failed: {exc}") from None
    if receipt["status"] != 1:
        raise AnchorError(f"anchor transaction {tx_hash.hex()} reverted")
    return receipt


def deploy(w3: Any, private_key: bytes) -> str:
    """Deploy ChronicleAnchor with a locally signed transaction; return its address."""
    artifact = contract_artifact()
    account = Account.from_key(private_key)
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    receipt = send_signed(w3, account, factory.constructor())
    address: str = receipt["contractAddress"]
    return address
