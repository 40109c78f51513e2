"""An agent that tops itself up (the Compute chapter's loop, F1 and F6), as a pure core.

The agent watches its own load; above the threshold with no live grant it requests capacity,
and it renews a live grant ``renew_before_ms`` before it expires, with a fresh request (fresh
reply key and settlement), since no grant is ever extended. Every request spends its
``max_price`` from the budget when it is paid; the agent never commits more than it has, and
stops renewing when the budget cannot cover another grant. The driver pays (the settlement
transaction), submits through the module's shuffle, and feeds back the grants it sees.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from coalition.crypto.group import Entropy
from coalition.crypto.reply import ReplyTicket

from .items import ComputeGrant, ComputeRequest, request_id


@dataclass(frozen=True)
class TopUpPolicy:
    workload: bytes
    pin: bytes
    duration_sec: int
    cpu_millicores: int
    ram_mib: int
    max_price: int
    region: str = ""
    tdx_required: bool = False
    load_threshold: float = 0.75
    renew_before_ms: int = 30_000
    deadline_ms: int = 20_000  # how long a request may wait for clearing


@dataclass
class TopUpAgent:
    policy: TopUpPolicy
    budget: int
    entropy: Entropy = os.urandom
    #: Request ids this agent submitted and has not seen granted or given up on.
    pending: dict[bytes, int] = field(default_factory=dict)  # request id -> deadline
    #: The grant the agent currently relies on (by request id), if any.
    current: bytes | None = None
    spent: int = 0
    #: The reply ticket of each request, to open the provider's sealed receipt.
    tickets: dict[bytes, ReplyTicket] = field(default_factory=dict)

    def step(
        self,
        now_ms: int,
        load: float,
        grants: Mapping[bytes, ComputeGrant],
        pay: Callable[[int], bytes],
        refused: Collection[bytes] = (),
    ) -> list[ComputeRequest]:
        """Requests to submit now (zero or one); ``pay(amount)`` settles one and returns the
        payment's transaction hash, which the request carries as its settlement pointer.
        ``refused``: request ids the committee refused (its record says why): the agent stops
        waiting for them at once instead of at their deadline (what they paid stays spent)."""
        for rid in refused:
            self.pending.pop(rid, None)
        for rid in [r for r in self.pending if r in grants]:
            del self.pending[rid]
            g = grants[rid]
            if self.current is None or g.valid_to_ms > grants[self.current].valid_to_ms:
                self.current = rid
        for rid, deadline in list(self.pending.items()):
            if now_ms > deadline:
                del self.pending[rid]  # refused or expired: the committee's record says why
        live = self.current is not None and grants[self.current].valid_to_ms > now_ms
        if self.pending:
            return []
        renew = live and grants[self.current].valid_to_ms - now_ms <= self.policy.renew_before_ms  # type: ignore[index]
        start = not live and load >= self.policy.load_threshold
        if not (renew or start) or self.budget < self.policy.max_price:
            return []
        p = self.policy
        secret = X25519PrivateKey.from_private_bytes(self.entropy(32))
        req = ComputeRequest(
            p.workload,
            p.pin,
            p.duration_sec,
            p.cpu_millicores,
            p.ram_mib,
            p.tdx_required,
            p.region,
            p.max_price,
            pay(p.max_price),
            now_ms + p.deadline_ms,
            secret.public_key().public_bytes_raw(),  # a one-time reply key
        )
        self.budget -= p.max_price
        self.spent += p.max_price
        rid = request_id(req)
        self.pending[rid] = req.deadline_ms
        self.tickets[rid] = ReplyTicket(rid, secret)
        return [req]
