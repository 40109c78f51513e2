"""The untrusted aggregator's fold (ZIPNet Algorithm 2), as a pure per-round core."""

from __future__ import annotations

from .dcnet import xor
from .params import AggregateEnvelope, Envelope, LiveRound, RoundParams


class RoundFold:
    """XOR-folds one round's envelopes; refuses strangers, duplicates and wrong lengths."""

    def __init__(self, params: RoundParams, header: LiveRound) -> None:
        self.params, self.header = params, header
        self._clients = frozenset(header.clients)
        self._acc = bytes(params.envelope_bytes)
        self._seen: set[bytes] = set()

    def add(self, env: Envelope) -> str | None:
        """``None`` when folded, else the reason it was refused (nothing folded)."""
        if env.round != self.header.round:
            return f"envelope for round {env.round}, round {self.header.round} is open"
        if env.client not in self._clients:
            return "client is not part of this round"
        if env.client in self._seen:
            return "client already submitted this round"
        if len(env.payload) != self.params.envelope_bytes:
            return f"envelope is {len(env.payload)} bytes, expected {self.params.envelope_bytes}"
        self._acc = xor(self._acc, env.payload)
        self._seen.add(env.client)
        return None

    def finish(self) -> AggregateEnvelope | None:
        if not self._seen:
            return None
        return AggregateEnvelope(self.header.round, tuple(sorted(self._seen)), self._acc)
