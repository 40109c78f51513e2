"""A Compute committee member's pure core: relay private requests, clear on a cadence.

Requests reach the committee only as cleartext opened by the module's shuffle (zipnet +
unseal): ``observe`` takes the opened payloads, each a canonical ``ComputeRequest``. Before
proposing one the core needs its payment read on the chain; that read is I/O, so the core only
asks (``lookups``) and its host answers (``settle``, with ``settlement.lookup``'s result). A
payment not on the chain yet, or a chain that cannot be asked, is asked again with backoff
until ``settle_window_ms`` passes; only then is the request dropped, with the last reason. The
core proposes ``Clear`` every ``cadence_ms`` while requests wait (an idle committee's log does
not grow). Several members relaying one request is harmless
(the machine keeps the first), and so are several clears. Nothing here learns who sent a
request: the shuffle hid that.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from pymosaik.primitives import DecodeError, SecretKey, decode

from .items import ComputeRequest
from .machine import Body, Clear, ComputeMachine, Signed, Submit
from .settlement import Lookup, Missing, SettlementReader, lookup

log = logging.getLogger("organisms.compute.member")

MAX_REQUEST_BYTES = 4096
#: How long a request may wait for its payment to show on the chain.
SETTLE_WINDOW_MS = 60_000
FIRST_RETRY_MS = 500
MAX_RETRY_MS = 8_000
#: Requests waiting for a lookup at once; more are dropped (a flood of unpaid requests).
MAX_WAITING = 1024


@dataclass
class _Waiting:
    request: ComputeRequest
    since_ms: int
    next_ms: int
    retry_ms: int = FIRST_RETRY_MS
    asked: bool = False
    last: Missing | None = None


class ComputeMemberCore:
    def __init__(
        self,
        index: int,
        key: SecretKey,
        *,
        tag_key: bytes,
        cadence_ms: int = 1_000,
        settle_window_ms: int = SETTLE_WINDOW_MS,
    ) -> None:
        self.index, self._key, self._tag_key = index, key, tag_key
        self._cadence, self._window = cadence_ms, settle_window_ms
        self._opened: list[ComputeRequest] = []
        self._waiting: dict[bytes, _Waiting] = {}
        self._ready: list[Submit] = []
        self._last_clear = -(10**18)
        self.dropped = 0

    def observe(self, cleartexts: list[bytes]) -> None:
        for raw in cleartexts:
            try:
                self._opened.append(decode(raw, ComputeRequest, max_size=MAX_REQUEST_BYTES))
            except DecodeError:
                self.dropped += 1
                log.info("an opened payload is not a compute request")

    def lookups(self, now_ms: int) -> list[bytes]:
        """Payments the host should read now (each answered through ``settle``)."""
        for req in self._opened:
            if req.settlement in self._waiting:
                continue  # the same payment named twice: the machine keeps one request anyway
            if len(self._waiting) >= MAX_WAITING:
                self.dropped += 1
                log.info("too many requests wait for their payment; one dropped")
                continue
            self._waiting[req.settlement] = _Waiting(req, now_ms, now_ms)
        self._opened.clear()
        due = [tx for tx, w in self._waiting.items() if not w.asked and w.next_ms <= now_ms]
        for tx in due:
            self._waiting[tx].asked = True
        return due

    def settle(self, tx_hash: bytes, answer: Lookup, now_ms: int) -> None:
        w = self._waiting.get(tx_hash)
        if w is None or not w.asked:
            return  # not asked for (or already settled): ignore
        if not isinstance(answer, Missing):
            del self._waiting[tx_hash]
            self._ready.append(Submit.relay(w.request, answer, at_ms=now_ms, tag_key=self._tag_key))
            return
        if now_ms - w.since_ms >= self._window:
            del self._waiting[tx_hash]
            self.dropped += 1
            log.info("a request is dropped after %d s: %s", self._window // 1000, answer.value)
            return
        w.asked, w.last = False, answer
        w.next_ms = now_ms + w.retry_ms
        w.retry_ms = min(w.retry_ms * 2, MAX_RETRY_MS)

    def step(self, m: ComputeMachine, now_ms: int) -> list[Signed]:
        out: list[Body] = list(self._ready)
        self._ready.clear()
        if (m.pending or any(isinstance(b, Submit) for b in out)) and (
            now_ms - self._last_clear >= self._cadence
        ):
            self._last_clear = now_ms
            out.append(Clear(at_ms=now_ms))
        return [Signed.by(self._key, self.index, b) for b in out]


def settle_now(core: ComputeMemberCore, reader: SettlementReader, now_ms: int) -> int:
    """Answer the core's due lookups in line (harnesses on a simulated clock)."""
    due = core.lookups(now_ms)
    for tx in due:
        core.settle(tx, lookup(reader, tx), now_ms)
    return len(due)


async def settle_due(core: ComputeMemberCore, reader: SettlementReader, now_ms: int) -> int:
    """The asyncio host's side: read the due payments in worker threads (a slow node never
    blocks the event loop) and feed the answers back."""
    due = core.lookups(now_ms)
    answers = await asyncio.gather(*(asyncio.to_thread(lookup, reader, tx) for tx in due))
    for tx, answer in zip(due, answers, strict=True):
        core.settle(tx, answer, now_ms)
    return len(due)
