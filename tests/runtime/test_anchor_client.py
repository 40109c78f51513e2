"""`SteadyAnchor`: what keeps a Chronicle member anchoring across a restarted chain (fast).

The committee's anchoring loop ends at its first exception, so the wrapper must
turn a fresh chain (registration forgotten) and transient errors into retries,
and raise only for what retrying cannot fix.
"""

from __future__ import annotations

import threading

import pytest
from eth_tester import EthereumTester
from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider

from coalition.runtime import anchor_client
from coalition.runtime.anchor_client import SteadyAnchor
from coalition.services.anchor import AnchorError, EvmAnchor, deploy
from pymosaik import UniqueId

CHRONICLE = UniqueId.hash("steady-chronicle")


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(anchor_client, "RETRY_MIN_S", 0.01)


class Flaky:
    """An `Anchor` whose next calls fail with the queued errors, then behave like ``inner``."""

    def __init__(self, inner: EvmAnchor) -> None:
        self.inner = inner
        self.errors: list[str] = []
        self.calls: list[str] = []

    def _fail(self, what: str) -> None:
        self.calls.append(what)
        if self.errors:
            raise AnchorError(self.errors.pop(0))

    def register(self, chronicle: UniqueId) -> None:
        self._fail("register")
        self.inner.register(chronicle)

    def anchor(self, chronicle: UniqueId, seq: int, digest: UniqueId) -> object:
        self._fail("anchor")
        return self.inner.anchor(chronicle, seq, digest)

    def digest_at(self, chronicle: UniqueId, seq: int) -> UniqueId | None:
        return self.inner.digest_at(chronicle, seq)

    def latest(self, chronicle: UniqueId) -> tuple[int, UniqueId] | None:
        return self.inner.latest(chronicle)


def test_a_fresh_chain_is_registered_again() -> None:
    first = EvmAnchor.in_process()
    steady = SteadyAnchor(first, "test")
    steady.register(CHRONICLE)
    steady.register(CHRONICLE)  # "already registered" is success, not an error
    steady.anchor(CHRONICLE, 1, UniqueId.hash("one"))
    steady.inner = EvmAnchor.in_process()  # the node restarted: nothing is registered
    steady.anchor(CHRONICLE, 1, UniqueId.hash("one"))
    assert steady.inner.latest(CHRONICLE) == (1, UniqueId.hash("one"))
    assert steady.last_error is None


def test_transient_errors_are_retried_and_reported() -> None:
    flaky = Flaky(EvmAnchor.in_process())
    steady = SteadyAnchor(flaky, "test")
    flaky.errors = ["anchor transaction failed: connection refused"] * 2
    steady.register(CHRONICLE)
    assert flaky.calls == ["register"] * 3
    flaky.errors = ["anchor transaction failed: Invalid transaction nonce"]
    receipt = steady.anchor(CHRONICLE, 4, UniqueId.hash("four"))
    assert receipt.seq == 4 and flaky.calls[-2:] == ["anchor", "anchor"]


def test_a_head_already_on_chain_is_not_an_error_but_a_different_one_is() -> None:
    steady = SteadyAnchor(EvmAnchor.in_process(), "test")
    steady.register(CHRONICLE)
    steady.anchor(CHRONICLE, 5, UniqueId.hash("five"))
    again = steady.anchor(CHRONICLE, 5, UniqueId.hash("five"))  # an earlier leader landed it
    assert again.tx_hash == "already-anchored"
    with pytest.raises(AnchorError, match="sequence not increasing"):
        steady.anchor(CHRONICLE, 5, UniqueId.hash("rewritten"))
    assert steady.last_error is not None and "sequence" in steady.last_error


def test_another_accounts_chronicle_is_refused() -> None:
    tester = EthereumTester()
    w3 = Web3(EthereumTesterProvider(tester))
    owner_key, other_key = (k.to_bytes() for k in tester.backend.account_keys[:2])
    address = deploy(w3, owner_key)
    EvmAnchor(w3, address, owner_key, label="owner").register(CHRONICLE)
    steady = SteadyAnchor(EvmAnchor(w3, address, other_key, label="other"), "test")
    with pytest.raises(AnchorError, match="not the anchorer"):
        steady.anchor(CHRONICLE, 1, UniqueId.hash("x"))


def test_close_wakes_a_retrying_call() -> None:
    flaky = Flaky(EvmAnchor.in_process())
    steady = SteadyAnchor(flaky, "test")
    flaky.errors = ["anchor transaction failed: connection refused"] * 1000
    failure: list[BaseException] = []

    def call() -> None:
        try:
            steady.register(CHRONICLE)
        except AnchorError as exc:
            failure.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    steady.close()
    thread.join(5)
    assert not thread.is_alive()
    assert failure and "closing" in str(failure[0])
