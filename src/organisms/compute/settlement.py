"""Reading settlement evidence from a chain: checked, never moved (D9).

A request names its payment by transaction hash. The committee member that relays the request
asks a ``SettlementReader`` what that transaction paid, and to whom, before proposing it; the
machine then refuses evidence for another contract and caps the price at the amount. The
reader is the chain's own record: a successful transaction, its recipient, its value.

``EvmSettlement`` reads any Ethereum JSON-RPC endpoint, or the in-process EVM (eth-tester,
labelled) that the tests pay into with real signed transactions.
"""

from __future__ import annotations

from typing import Any, Protocol

from coalition.evm import EthereumTesterProvider, TransactionNotFound, Web3, Web3Exception

from .items import SettlementEvidence


class SettlementReader(Protocol):
    def evidence(self, tx_hash: bytes) -> SettlementEvidence | None: ...


class EvmSettlement:
    """Evidence from an EVM chain: a successful transaction's recipient and value (wei)."""

    def __init__(self, w3: Any, *, label: str) -> None:
        self.w3, self.label = w3, label

    @classmethod
    def in_process(cls) -> EvmSettlement:
        """A fresh in-memory chain (SIMULATED: eth-tester; accounts pre-funded)."""
        return cls(Web3(EthereumTesterProvider()), label="SIMULATED in-process EVM")

    @classmethod
    def json_rpc(cls, url: str) -> EvmSettlement:
        return cls(Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 10})), label=url)

    def evidence(self, tx_hash: bytes) -> SettlementEvidence | None:
        """``None`` when the chain has no successful transaction with this hash."""
        if len(tx_hash) != 32:
            return None
        try:
            tx = self.w3.eth.get_transaction(tx_hash)
            receipt = self.w3.eth.get_transaction_receipt(tx_hash)
        except (TransactionNotFound, Web3Exception, ValueError):
            return None
        if receipt["status"] != 1 or tx["to"] is None:
            return None
        to = bytes.fromhex(str(tx["to"])[2:])
        return SettlementEvidence(tx_hash, to, int(tx["value"]), int(receipt["blockNumber"]))

    def pay(self, to: bytes, amount: int, *, sender: int = 0) -> bytes:
        """Send ``amount`` wei to ``to`` from a pre-funded test account (in-process chain)."""
        account = self.w3.eth.accounts[sender]
        dest = Web3.to_checksum_address(to)
        tx_hash = self.w3.eth.send_transaction({"from": account, "to": dest, "value": amount})
        self.w3.eth.wait_for_transaction_receipt(tx_hash)
        return bytes(tx_hash)
