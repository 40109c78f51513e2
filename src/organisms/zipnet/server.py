"""A zipnet committee server's pure core: open rounds on a cadence, unblind each aggregate.

Every server runs it against its own replica. First it registers its own X25519 key, signed
(``RegisterServer``), until the registry holds it. When no round is in flight and ``period_ms``
has passed since the last one finalized (or ``deadline_ms`` since a round opened without
finalizing: the book's "the leader decides when to move on"), it proposes ``OpenRound`` with
the registered clients, the committee and the schedule hash of the last broadcast; two servers
proposing the same round are harmless (the machine takes the first); no round opens before
every server's key is registered. Once the round's aggregate
is committed it submits its signed partial: the XOR of its pads with every participant.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from pymosaik.primitives import SecretKey

from .dcnet import SharedSecrets, partial_unblind, schedule_hash
from .machine import Command, OpenRound, RegisterServer, SubmitPartial, ZipnetMachine
from .params import LiveRound, PartialUnblind


class ZipnetServerCore:
    def __init__(
        self,
        index: int,
        dh: X25519PrivateKey,
        key: SecretKey,
        *,
        period_ms: int = 1_000,
        deadline_ms: int = 5_000,
    ) -> None:
        self.index = index
        self.public = dh.public_key().public_bytes_raw()
        self._shared = SharedSecrets(dh)
        self._key = key
        self._period, self._deadline = period_ms, deadline_ms
        self._registering = False
        self._since: tuple[int, int] | None = None  # (round seen, when first seen)
        self._opened: set[int] = set()
        self._unblinded: set[int] = set()

    def step(self, m: ZipnetMachine, now_ms: int) -> list[Command]:
        if self.public not in m.servers:
            # once: the host retries a command until the group takes it
            if not self._registering:
                self._registering = True
                return [RegisterServer.signed(self._key, self.public)]
            return []
        if not m.complete:
            return []
        cur = m.current
        last = m.history[-1] if m.history else None
        marker = cur.round if cur is not None else (last.round if last else 0)
        if self._since is None or self._since[0] != marker:
            self._since = (marker, now_ms)
        waited = now_ms - self._since[1]
        out: list[Command] = []
        if cur is None or waited >= self._deadline:
            nxt = marker + 1
            if (
                cur is not None or waited >= self._period or last is None
            ) and nxt not in self._opened:
                clients = tuple(sorted(m.clients))  # the committed ClientRegistry
                if clients:
                    self._opened.add(nxt)
                    sh = schedule_hash(last.broadcast if last else None, m.cfg.params)
                    servers = tuple(sorted(m.servers))
                    out.append(OpenRound(LiveRound(nxt, clients, servers, sh)))
        agg = m.aggregate
        if (
            cur is not None
            and agg is not None
            and cur.round not in self._unblinded
            and not m.has_partial(self.public)
        ):
            self._unblinded.add(cur.round)
            pubs = [m.clients[c] for c in agg.participants]
            payload = partial_unblind(
                self._shared, pubs, m.cfg.params, cur.round, cur.schedule_hash
            )
            partial = PartialUnblind(cur.round, self.public, payload)
            out.append(SubmitPartial.signed(self._key, partial))
        return out
