"""A Compute committee member's pure core: relay private requests, clear on a cadence.

Requests reach the committee only as cleartext opened by the module's shuffle (zipnet +
unseal): ``observe`` takes the opened payloads, each a canonical ``ComputeRequest``. The core
reads the request's settlement on the chain (a ``SettlementReader``), drops one whose payment
is missing, and proposes the rest with what it read; it proposes ``Clear`` every
``cadence_ms``. Several members relaying one request is harmless (the machine keeps the first),
and so are several clears. Nothing here learns who sent a request: the shuffle hid that.
"""

from __future__ import annotations

import logging
from collections import deque

from pymosaik.primitives import DecodeError, SecretKey, decode

from .items import ComputeRequest
from .machine import Body, Clear, ComputeMachine, Signed, Submit
from .settlement import SettlementReader

log = logging.getLogger("organisms.compute.member")

MAX_REQUEST_BYTES = 4096


class ComputeMemberCore:
    def __init__(
        self, index: int, key: SecretKey, reader: SettlementReader, *, cadence_ms: int = 1_000
    ) -> None:
        self.index, self._key, self._reader = index, key, reader
        self._cadence = cadence_ms
        self._inbox: deque[bytes] = deque()
        self._last_clear = -(10**18)
        self.dropped = 0

    def observe(self, cleartexts: list[bytes]) -> None:
        self._inbox.extend(cleartexts)

    def step(self, m: ComputeMachine, now_ms: int) -> list[Signed]:
        out: list[Body] = []
        while self._inbox:
            raw = self._inbox.popleft()
            try:
                req = decode(raw, ComputeRequest, max_size=MAX_REQUEST_BYTES)
            except DecodeError:
                self.dropped += 1
                log.info("an opened payload is not a compute request")
                continue
            ev = self._reader.evidence(req.settlement)
            if ev is None:
                self.dropped += 1
                log.info("a request's settlement is not on the chain")
                continue
            out.append(Submit(req, ev, at_ms=now_ms))
        if now_ms - self._last_clear >= self._cadence:
            self._last_clear = now_ms
            out.append(Clear(at_ms=now_ms))
        return [Signed.by(self._key, self.index, b) for b in out]
