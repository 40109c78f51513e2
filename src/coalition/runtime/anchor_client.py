"""The anchor client of a Chronicle member process (imports web3: Chronicle members only).

`SteadyAnchor` wraps the web3 client so that the Chronicle's anchoring loop survives
what a local run meets: a node that is still starting or was restarted (a fresh
simulated chain has nothing registered, so it registers again), transient HTTP errors
(retried until the member closes), and a head a previous leader already anchored.

The Chronicle's own loop (`ChronicleMember.anchor_heads`) compares the chain with
the sealed head at every boundary, so a fresh chain gets the head again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from pathlib import Path
from typing import Final

from pymosaik.primitives import UniqueId

from ..services.anchor import Anchor, AnchorError, AnchorReceipt, EvmAnchor
from ..services.anchor_node import read_info
from .anchoring import ExternalAnchor, read_private_key
from .plan import PlanError

__all__ = ["ANCHOR_WAIT_S", "SteadyAnchor", "open_anchor"]

log = logging.getLogger("coalition.runtime.anchor_client")

#: How long a Chronicle member waits for the simulated anchor node's ``anchor.json``.
ANCHOR_WAIT_S: Final = 60.0
RETRY_MIN_S: Final = 0.5
RETRY_MAX_S: Final = 5.0


async def open_anchor(source: Path | ExternalAnchor, stop: asyncio.Event) -> SteadyAnchor | None:
    """The JSON-RPC anchor client for ``source``; waits for a simulated node's info file."""
    if isinstance(source, ExternalAnchor):
        try:
            key = read_private_key(source.key_file)
        except (OSError, ValueError) as exc:
            raise PlanError(f"--anchor key file: {exc}") from None
        return SteadyAnchor(EvmAnchor.json_rpc(source.url, source.contract, key), source.url)
    deadline = asyncio.get_running_loop().time() + ANCHOR_WAIT_S
    while True:
        try:
            info = read_info(source)
            break
        except FileNotFoundError:
            if asyncio.get_running_loop().time() >= deadline:
                raise PlanError(f"{source}: the anchor node did not start") from None
        except (OSError, ValueError) as exc:
            raise PlanError(str(exc)) from None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.2)
        if stop.is_set():
            return None
    anchor = EvmAnchor.json_rpc(info.url, info.contract, info.private_key)
    label = f"simulated {info.url}" if info.simulated else info.url
    return SteadyAnchor(anchor, label)


class SteadyAnchor:
    """An `Anchor` that retries instead of failing the Chronicle's anchoring loop.

    The loop in coalition.services.committees ends at the first exception, so this
    wrapper raises only for what retrying cannot fix (another account owns the
    chronicle id; the chain already holds a later, different anchor) or once closed.
    Calls run on worker threads (``asyncio.to_thread``); `close` wakes them.
    """

    def __init__(self, inner: Anchor, label: str) -> None:
        self.inner = inner
        self.label = label
        self.last_error: str | None = None
        self._closed = threading.Event()
        self._registered: set[UniqueId] = set()

    def close(self) -> None:
        self._closed.set()

    def __repr__(self) -> str:
        return f"SteadyAnchor({self.inner!r})"

    def note(self, error: str | None) -> None:
        if error != self.last_error and error is not None:
            log.warning("anchor %s: %s", self.label, error)
        self.last_error = error

    def _retry(self, what: str, wait: float) -> float:
        """Sleep before retrying (or raise once closed); returns the next wait."""
        if self._closed.wait(wait):
            raise AnchorError(f"{what}: the member is closing")
        return min(wait * 2, RETRY_MAX_S)

    def _try_register(self, chronicle: UniqueId) -> bool:
        """True once registered (by this account, or already); False on a transient error."""
        try:
            self.inner.register(chronicle)
        except AnchorError as exc:
            # register's only require is "already registered": any revert means that
            # (nodes without revert data do not say so); anything else is transient
            if "reverted" not in str(exc):
                self.note(str(exc))
                return False
        self._registered.add(chronicle)
        return True

    def register(self, chronicle: UniqueId) -> None:
        wait = RETRY_MIN_S
        while not self._try_register(chronicle):
            wait = self._retry("register", wait)
        self.note(None)
        log.info("anchor %s: chronicle %s registered", self.label, chronicle.hex()[:16])

    def anchor(self, chronicle: UniqueId, seq: int, digest: UniqueId) -> AnchorReceipt:
        wait = RETRY_MIN_S
        refused = 0
        while True:
            if chronicle in self._registered or self._try_register(chronicle):
                try:
                    receipt = self.inner.anchor(chronicle, seq, digest)
                except AnchorError as exc:
                    msg = str(exc)
                    if "not the anchorer" in msg:
                        # a fresh chain (the simulated node restarted) forgot the
                        # registration; twice in a row means another account owns the id
                        self._registered.discard(chronicle)
                        refused += 1
                        if refused >= 2:
                            self.note(msg)
                            raise
                        continue
                    if "sequence not increasing" in msg:
                        if self._latest(chronicle) == (seq, digest):
                            self.note(None)  # an earlier leader landed it but did not record it
                            return AnchorReceipt(chronicle, seq, digest, "already-anchored", -1)
                        self.note(msg)
                        raise
                    self.note(msg)
                else:
                    self.note(None)
                    return receipt
            wait = self._retry("anchor", wait)

    def _latest(self, chronicle: UniqueId) -> tuple[int, UniqueId] | None:
        try:
            return self.inner.latest(chronicle)
        except Exception:  # unreachable or garbled: the caller treats it as unknown
            return None

    def digest_at(self, chronicle: UniqueId, seq: int) -> UniqueId | None:
        return self.inner.digest_at(chronicle, seq)

    def latest(self, chronicle: UniqueId) -> tuple[int, UniqueId] | None:
        return self.inner.latest(chronicle)


def _as_anchor(steady: SteadyAnchor) -> Anchor:
    """Never called: lets mypy check that `SteadyAnchor` satisfies the `Anchor` protocol."""
    return steady
