"""The one place this code base imports web3 and eth-tester.

Importing them raises the process-wide recursion limit (py_ecc to 100,000, py-evm to 12,288,
both at import). With it raised, C code guarded only by that limit (msgspec decoding untyped
input) overflows the C stack and the process dies with SIGSEGV instead of raising
(docs/spec/encoding.md, "Hostile input"), so the limit goes back to CPython's default right
here. Neither the ChronicleAnchor contract nor a payment check makes nested calls: the
in-process EVM never needs py-evm's deep call stack. Everything that talks to a chain (the
Chronicle anchor, its dev node, Compute's settlement reader) imports these names from here.
"""

from __future__ import annotations

import sys
from typing import Final

from eth_account import Account
from eth_tester import EthereumTester
from eth_tester.exceptions import TransactionFailed
from web3 import Web3
from web3.exceptions import ContractLogicError, TransactionNotFound, Web3Exception
from web3.providers.eth_tester import EthereumTesterProvider

__all__ = [
    "RECURSION_LIMIT",
    "Account",
    "ContractLogicError",
    "EthereumTester",
    "EthereumTesterProvider",
    "TransactionFailed",
    "TransactionNotFound",
    "Web3",
    "Web3Exception",
]

#: CPython's default recursion limit, which every process of ours runs with.
RECURSION_LIMIT: Final = 1000

sys.setrecursionlimit(RECURSION_LIMIT)
