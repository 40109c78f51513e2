"""The zipnet committee's replicated machine: RegisterServer, RegisterClient, OpenRound,
SubmitAggregate, SubmitPartial.

As the book's ``CommitteeMachine``: every command is idempotent and validated; a round
finalizes when the aggregate and *every* server's partial are in (v1: all servers needed for
liveness, one honest server enough for anonymity). Partials are signed by the server's
Ed25519 key so one server cannot speak for another; the machine never sees a secret.

The ClientRegistry (``clients``: ClientId → X25519 public key) is kept here too: the
aggregator mirrors into it the bundles of clients whose registration tickets it checked (the
book's "registering client bundle"), and a round may list only registered clients, so the
header, the servers' pads and the registry all come from one committed state.

The ServerRegistry (X25519 key → signing PeerId) is either given whole (a harness) or filled by
``RegisterServer``: each committee member signs its own X25519 key, so a deployment needs no
out-of-band exchange of server keys, and no round opens until every member's key is in.
Every applied command yields at most one `ZipnetEvent`, which the public surface carries.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import Final

from coalition.framework.keyed import KeyedStore, MapSurface
from pymosaik.primitives import DecodeError, PeerId, SecretKey, UniqueId, Wire, decode, encode

from .dcnet import finalize, garbled_slots
from .params import (
    AggregateEnvelope,
    BroadcastRecord,
    LiveRound,
    PartialUnblind,
    ZipnetConfig,
    client_id,
    deployment_id,
)

HISTORY: Final = 64

#: Registered clients a deployment keeps (each round's header lists every one of them).
MAX_CLIENTS: Final = 65_536
_PARTIAL_DOMAIN: Final = b"zipnet.partial.v1|"
_SERVER_DOMAIN: Final = b"zipnet.server.v1|"


class ClientBundle(Wire, frozen=True):
    """A client's public pair: its ``ClientId`` and the X25519 key its pads derive from."""

    client: bytes
    dh_public: bytes


class ServerBundle(Wire, frozen=True):
    """A server's public pair: the PeerId that signs its partials and its X25519 key."""

    peer: bytes
    dh_public: bytes


#: ClientRegistry and ServerRegistry as keyed surfaces (a replica reads a bundle by id, with
#: its history); bounded like the registries themselves.
CLIENT_REGISTRY: Final = MapSurface(
    "client-registry", bytes, ClientBundle, max_key_bytes=64, max_value_bytes=256
)
SERVER_REGISTRY: Final = MapSurface(
    "server-registry", bytes, ServerBundle, max_key_bytes=64, max_value_bytes=256
)


class RegisterServer(Wire, frozen=True, tag="server"):
    bundle: ServerBundle
    signature: bytes

    @classmethod
    def signed(cls, key: SecretKey, dh_public: bytes) -> RegisterServer:
        bundle = ServerBundle(key.peer_id.bytes, dh_public)
        return cls(bundle, key.sign(_SERVER_DOMAIN + encode(bundle)))


class RegisterClient(Wire, frozen=True, tag="register"):
    bundle: ClientBundle


class OpenRound(Wire, frozen=True, tag="open"):
    header: LiveRound


class SubmitAggregate(Wire, frozen=True, tag="aggregate"):
    aggregate: AggregateEnvelope


class SubmitPartial(Wire, frozen=True, tag="partial"):
    partial: PartialUnblind
    signature: bytes

    @classmethod
    def signed(cls, key: SecretKey, partial: PartialUnblind) -> SubmitPartial:
        return cls(partial, key.sign(_PARTIAL_DOMAIN + encode(partial)))


Command = RegisterServer | RegisterClient | OpenRound | SubmitAggregate | SubmitPartial


class ServerJoined(Wire, frozen=True, tag="server"):
    bundle: ServerBundle


class ClientJoined(Wire, frozen=True, tag="client"):
    bundle: ClientBundle


class RoundOpened(Wire, frozen=True, tag="opened"):
    header: LiveRound


class AggregateIn(Wire, frozen=True, tag="aggregate"):
    round: int
    participants: int


class RoundFinalized(Wire, frozen=True, tag="finalized"):
    record: BroadcastRecord


#: What one committed command changed, as the public surface publishes it.
ZipnetEvent = ServerJoined | ClientJoined | RoundOpened | AggregateIn | RoundFinalized


class CommitteeResult(Wire, frozen=True):
    ok: bool
    reason: str = ""
    event: ZipnetEvent | None = None

    @property
    def finalized(self) -> BroadcastRecord | None:
        return self.event.record if isinstance(self.event, RoundFinalized) else None


class _Image(Wire, frozen=True):
    servers: tuple[ServerBundle, ...]
    clients: tuple[ClientBundle, ...]
    current: LiveRound | None
    aggregate: AggregateEnvelope | None
    partials: tuple[PartialUnblind, ...]
    history: tuple[BroadcastRecord, ...]
    store: bytes = b""


class ZipnetMachine:
    """Deterministic over committed commands. ``servers`` maps X25519 key → signing PeerId
    for servers known up front; ``committee`` names members that register their own key."""

    def __init__(
        self,
        cfg: ZipnetConfig,
        servers: Mapping[bytes, PeerId] | None = None,
        *,
        committee: Sequence[PeerId] = (),
    ) -> None:
        cfg.params.check()
        self.cfg = cfg
        self._servers = dict(servers or {})
        self._committee = frozenset(self._servers.values()) | frozenset(committee)
        self._deployment = deployment_id(cfg)
        self.clients: dict[bytes, bytes] = {}
        self.current: LiveRound | None = None
        self._aggregate: AggregateEnvelope | None = None
        self._partials: dict[bytes, PartialUnblind] = {}
        self.history: deque[BroadcastRecord] = deque(maxlen=HISTORY)
        self.store = KeyedStore(self._deployment, [CLIENT_REGISTRY, SERVER_REGISTRY])
        self._index = 0  # the log index being applied: keyed entries record where they came from

    @property
    def aggregate(self) -> AggregateEnvelope | None:
        """The open round's aggregate, once submitted."""
        return self._aggregate

    def has_partial(self, server: bytes) -> bool:
        return server in self._partials

    @property
    def servers(self) -> dict[bytes, PeerId]:
        """The ServerRegistry: X25519 key → the PeerId that signs its partials."""
        return dict(self._servers)

    @property
    def complete(self) -> bool:
        """Every committee member's key is registered, so rounds may open."""
        return len(self._servers) == len(self._committee)

    def signature(self) -> UniqueId:
        return (
            deployment_id(self.cfg).derive("committee").derive(f"v{self.cfg.params.wire_version}")
        )

    def apply(self, command: bytes, ctx: object = None) -> bytes:
        index = getattr(ctx, "index", None)
        self._index = index if isinstance(index, int) else self._index
        try:
            cmd: Command = decode(command, Command)  # type: ignore[arg-type]
        except DecodeError as exc:
            return encode(CommitteeResult(False, f"malformed command: {exc}"))
        return encode(self.step(cmd))

    def step(self, cmd: Command) -> CommitteeResult:
        if isinstance(cmd, RegisterServer):
            return self._register_server(cmd)
        if isinstance(cmd, RegisterClient):
            return self._register(cmd.bundle)
        if isinstance(cmd, OpenRound):
            return self._open(cmd.header)
        if isinstance(cmd, SubmitAggregate):
            return self._aggregate_in(cmd.aggregate)
        return self._partial_in(cmd)

    def _register_server(self, cmd: RegisterServer) -> CommitteeResult:
        b = cmd.bundle
        try:
            peer = PeerId(b.peer)
        except ValueError:
            return CommitteeResult(False, "a server's PeerId is 32 bytes")
        if peer not in self._committee:
            return CommitteeResult(False, "not a member of this committee")
        if len(b.dh_public) != 32 or not any(b.dh_public):
            return CommitteeResult(False, "a server key is 32 bytes, not all zero")
        if not peer.verify(cmd.signature, _SERVER_DOMAIN + encode(b)):
            return CommitteeResult(False, "bad server registration signature")
        known = self._servers.get(b.dh_public)
        if known == peer:
            return CommitteeResult(True, "server already registered")
        if known is not None or peer in self._servers.values():
            return CommitteeResult(False, "a server keeps the key it registered first")
        self._servers[b.dh_public] = peer
        self.store.put(SERVER_REGISTRY, b.dh_public, b, self._index)
        return CommitteeResult(True, event=ServerJoined(b))

    def _register(self, b: ClientBundle) -> CommitteeResult:
        if len(b.dh_public) != 32 or not any(b.dh_public):
            return CommitteeResult(False, "a client key is 32 bytes, not all zero")
        if b.client != client_id(self._deployment, b.dh_public):
            return CommitteeResult(False, "the ClientId is not derived from this key")
        if b.client in self.clients:
            return CommitteeResult(True, "client already registered")
        if len(self.clients) >= MAX_CLIENTS:
            return CommitteeResult(False, f"the registry is full ({MAX_CLIENTS} clients)")
        self.clients[b.client] = b.dh_public
        self.store.put(CLIENT_REGISTRY, b.client, b, self._index)
        return CommitteeResult(True, event=ClientJoined(b))

    def _open(self, h: LiveRound) -> CommitteeResult:
        last = self.history[-1].round if self.history else -1
        if (self.current is not None and h.round <= self.current.round) or h.round <= last:
            return CommitteeResult(False, f"round {h.round} is not after the current round")
        if not h.clients or not h.servers:
            return CommitteeResult(False, "a round needs clients and servers")
        if not self.complete:
            return CommitteeResult(False, "not every server has registered its key")
        if set(h.servers) != set(self._servers):
            return CommitteeResult(False, "the header's servers are not the committee's")
        if len(set(h.clients)) != len(h.clients) or any(len(c) != 32 for c in h.clients):
            return CommitteeResult(False, "client ids must be distinct 32-byte ids")
        if any(c not in self.clients for c in h.clients):
            return CommitteeResult(False, "the header lists a client that is not registered")
        if len(h.schedule_hash) != 32:
            return CommitteeResult(False, "schedule hash must be 32 bytes")
        # An unfinalized previous round is dropped: the leader decides when to move on.
        self.current, self._aggregate, self._partials = h, None, {}
        return CommitteeResult(True, event=RoundOpened(h))

    def _aggregate_in(self, a: AggregateEnvelope) -> CommitteeResult:
        cur = self.current
        if cur is None or a.round != cur.round:
            return CommitteeResult(False, "stale or unknown round")
        if self._aggregate is not None:
            return CommitteeResult(True, "duplicate aggregate ignored")
        if len(a.payload) != self.cfg.params.envelope_bytes:
            return CommitteeResult(False, "aggregate has the wrong length")
        if not a.participants:
            return CommitteeResult(False, "aggregate has no participants")
        if len(set(a.participants)) != len(a.participants) or not set(a.participants) <= set(
            cur.clients
        ):
            return CommitteeResult(False, "aggregate names a client outside the round")
        self._aggregate = a
        done = self._maybe_finalize()
        return (
            done
            if done.event is not None
            else CommitteeResult(True, event=AggregateIn(a.round, len(a.participants)))
        )

    def _partial_in(self, cmd: SubmitPartial) -> CommitteeResult:
        p, cur = cmd.partial, self.current
        if cur is None or p.round != cur.round:
            return CommitteeResult(False, "stale or unknown round")
        signer = self._servers.get(p.server)
        if signer is None or p.server not in cur.servers:
            return CommitteeResult(False, "not a server of this round")
        if not signer.verify(cmd.signature, _PARTIAL_DOMAIN + encode(p)):
            return CommitteeResult(False, "bad partial signature")
        if p.server in self._partials:
            return CommitteeResult(True, "duplicate partial ignored")
        if len(p.payload) != self.cfg.params.envelope_bytes:
            return CommitteeResult(False, "partial has the wrong length")
        self._partials[p.server] = p
        return self._maybe_finalize()

    def _maybe_finalize(self) -> CommitteeResult:
        cur, agg = self.current, self._aggregate
        if cur is None or agg is None or len(self._partials) < len(cur.servers):
            return CommitteeResult(True)
        params = self.cfg.params
        broadcast = finalize(agg.payload, [p.payload for p in self._partials.values()], params)
        record = BroadcastRecord(
            cur.round, agg.participants, broadcast, garbled_slots(params, cur.round, broadcast)
        )
        self.history.append(record)
        self.current, self._aggregate, self._partials = None, None, {}
        return CommitteeResult(True, event=RoundFinalized(record))

    def query(self, query: bytes) -> bytes:
        return encode(tuple(self.history))

    def snapshot(self) -> bytes:
        return encode(
            _Image(
                tuple(ServerBundle(p.bytes, k) for k, p in sorted(self._servers.items())),
                tuple(ClientBundle(c, k) for c, k in sorted(self.clients.items())),
                self.current,
                self._aggregate,
                tuple(self._partials[k] for k in sorted(self._partials)),
                tuple(self.history),
                self.store.image(),
            )
        )

    def restore(self, data: bytes) -> None:
        image = decode(data, _Image)
        self._servers = {b.dh_public: PeerId(b.peer) for b in image.servers}
        self.clients = {b.client: b.dh_public for b in image.clients}
        self.current, self._aggregate = image.current, image.aggregate
        self._partials = {p.server: p for p in image.partials}
        self.history = deque(image.history, maxlen=HISTORY)
        if image.store:
            self.store.restore(image.store)
