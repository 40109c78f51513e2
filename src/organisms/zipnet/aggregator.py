"""The untrusted aggregator: the fold (ZIPNet Algorithm 2) and its pure member core."""

from __future__ import annotations

from collections.abc import Container
from typing import Final, Protocol

from .machine import ClientBundle, Command, RegisterClient, SubmitAggregate
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

    @property
    def count(self) -> int:
        return len(self._seen)

    def finish(self) -> AggregateEnvelope | None:
        if not self._seen:
            return None
        payload = self._acc.to_bytes(self.params.envelope_bytes, "little")
        return AggregateEnvelope(self.header.round, tuple(sorted(self._seen)), payload)


#: Rounds ahead of the aggregator's replica whose envelopes it keeps (a client whose replica
#: saw the round open first), and envelopes kept for them.
AHEAD_ROUNDS: Final = 2
MAX_EARLY: Final = 4 * 65_536
#: Registrations waiting to be committed.
MAX_PENDING_REGISTRATIONS: Final = 4096
DEFAULT_FOLD_MS: Final = 2_000


class CommitteeView(Protocol):
    """What the aggregator reads of the committee: a replica, or the public surface's events."""

    @property
    def clients(self) -> Container[bytes]: ...

    @property
    def current(self) -> LiveRound | None: ...

    @property
    def aggregate(self) -> object | None: ...


class AggregatorCore:
    """The aggregator's side, pure: ``(its replica of the committee, inputs, now) -> commands``.

    Inputs come from its host: ``register`` takes a bundle whose registration ticket the host
    checked (the ticket-gated registration stream); ``receive`` an envelope from the submit
    stream. ``step`` proposes ``RegisterClient`` for admitted bundles the registry lacks, and
    ``SubmitAggregate`` for the open round once every listed client's envelope is in, or when
    ``fold_ms`` has passed since the round opened (the book's ZIPNET_FOLD_DEADLINE) with at
    least one. It is untrusted for anonymity (it sees only envelopes) and trusted for liveness.
    """

    def __init__(self, params: RoundParams, *, fold_ms: int = DEFAULT_FOLD_MS) -> None:
        self.params, self._fold_ms = params, fold_ms
        self._pending: dict[bytes, ClientBundle] = {}
        self._proposed: set[bytes] = set()
        self._fold: RoundFold | None = None
        self._opened_at = 0
        self._submitted: set[int] = set()
        self._early: dict[int, list[Envelope]] = {}
        self._early_count = 0
        self.refused = 0

    def register(self, bundle: ClientBundle) -> str | None:
        if len(self._pending) >= MAX_PENDING_REGISTRATIONS:
            return "too many registrations waiting; try again"
        self._pending.setdefault(bundle.client, bundle)
        return None

    def receive(self, env: Envelope) -> str | None:
        """``None`` when folded or kept for a round about to open, else why it was refused."""
        fold = self._fold
        current = fold.header.round if fold is not None else None
        if current is not None and env.round == current:
            why = fold.add(env) if fold is not None else None
        elif current is None or current < env.round <= current + AHEAD_ROUNDS:
            if self._early_count >= MAX_EARLY:
                why = "too many envelopes for rounds not open yet"
            elif len(env.payload) != self.params.envelope_bytes:
                why = f"envelope is {len(env.payload)} bytes"
            else:
                self._early.setdefault(env.round, []).append(env)
                self._early_count += 1
                why = None
        else:
            why = f"envelope for round {env.round}, round {current} is open"
        if why is not None:
            self.refused += 1
        return why

    def step(self, m: CommitteeView, now_ms: int) -> list[Command]:
        out: list[Command] = []
        for cid in [c for c in self._pending if c in m.clients]:
            del self._pending[cid]
            self._proposed.discard(cid)
        for cid, bundle in self._pending.items():
            if cid not in self._proposed:
                self._proposed.add(cid)
                out.append(RegisterClient(bundle))
        cur = m.current
        if cur is None:
            return out
        if self._fold is None or self._fold.header.round != cur.round:
            self._fold, self._opened_at = RoundFold(self.params, cur), now_ms
            for r in [r for r in self._early if r <= cur.round]:
                envs = self._early.pop(r)
                self._early_count -= len(envs)
                for env in envs if r == cur.round else ():
                    if self._fold.add(env) is not None:
                        self.refused += 1
        fold = self._fold
        if cur.round in self._submitted or m.aggregate is not None:
            return out
        complete = fold.count == len(cur.clients)
        if complete or (now_ms - self._opened_at >= self._fold_ms and fold.count > 0):
            agg = fold.finish()
            if agg is not None:
                self._submitted.add(cur.round)
                out.append(SubmitAggregate(agg))
        return out

    def failed(self, cmd: Command) -> None:
        """A proposal was not committed: propose it again at the next step."""
        if isinstance(cmd, RegisterClient):
            self._proposed.discard(cmd.bundle.client)
        elif isinstance(cmd, SubmitAggregate):
            self._submitted.discard(cmd.aggregate.round)

    def rejected(self, cmd: Command) -> None:
        """The committee refused a proposal: never propose it again."""
        if isinstance(cmd, RegisterClient):
            self._pending.pop(cmd.bundle.client, None)
            self._proposed.discard(cmd.bundle.client)
