"""Reading settlement evidence from a chain: checked, never moved (D9).

A request names its payment by transaction hash. The committee member that relays the request
asks a ``SettlementReader`` what that transaction paid, and to whom, before proposing it; the
machine then refuses evidence for another contract and caps the price at the amount. The
reader is the chain's own record: a successful transaction, its recipient, its value.

``EvmSettlement`` reads any Ethereum JSON-RPC endpoint, or the in-process EVM (eth-tester,
labelled) that the tests pay into with real signed transactions.

Reading a chain is I/O, so the member core never does it: it asks for lookups, its host runs
them (``lookup``, off the event loop) and feeds the answers back. "No such payment" and "the
chain could not be asked" are different answers: the second must never turn into a refusal.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Protocol

from coalition.evm import EthereumTesterProvider, TransactionNotFound, Web3, Web3Exception

from .items import SettlementEvidence


class SettlementUnavailableError(Exception):
    """The chain could not be asked (node down, timeout): try again later."""


class Missing(Enum):
    """Why a lookup found no evidence."""

    NOT_FOUND = "no successful payment with this hash on the chain"
    UNREACHABLE = "the chain could not be asked"


#: A lookup's answer, as a member core takes it.
Lookup = SettlementEvidence | Missing


class SettlementReader(Protocol):
    def evidence(self, tx_hash: bytes) -> SettlementEvidence | None:
        """The payment's evidence, ``None`` when the chain holds no such successful payment;
        raises ``SettlementUnavailableError`` when the chain cannot be asked."""
        ...


def lookup(reader: SettlementReader, tx_hash: bytes) -> Lookup:
    """One lookup as a core takes it (blocking: hosts run it in a worker thread)."""
    try:
        ev = reader.evidence(tx_hash)
    except SettlementUnavailableError:
        return Missing.UNREACHABLE
    return Missing.NOT_FOUND if ev is None else ev


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
        except TransactionNotFound:
            return None
        except OSError as exc:  # requests' errors are OSErrors: refused, reset, timed out
            raise SettlementUnavailableError(f"{self.label}: {type(exc).__name__}") from exc
        except (Web3Exception, ValueError) as exc:  # an answer we cannot use: not evidence
            raise SettlementUnavailableError(f"{self.label}: {exc}") from exc
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
