"""The untrusted aggregator's fold (ZIPNet Algorithm 2), as a pure per-round core."""

from __future__ import annotations

from .params import AggregateEnvelope, Envelope, LiveRound, RoundParams


class RoundFold:
    """XOR-folds one round's envelopes; refuses strangers, duplicates and wrong lengths."""

    def __init__(self, params: RoundParams, header: LiveRound) -> None:
        self.params, self.header = params, header
        self._clients = frozenset(header.clients)
        self._acc = 0  # the XOR so far, as an integer: one conversion per envelope
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
        self._acc ^= int.from_bytes(env.payload, "little")
        self._seen.add(env.client)
        return None

    def finish(self) -> AggregateEnvelope | None:
        if not self._seen:
            return None
        payload = self._acc.to_bytes(self.params.envelope_bytes, "little")
        return AggregateEnvelope(self.header.round, tuple(sorted(self._seen)), payload)
