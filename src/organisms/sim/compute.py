"""Seeded fault campaigns over Compute's committee: three members on a real Raft group.

Each seed draws providers (capacity, rates, regions, TDX) and a stream of requests (some
resubmitted, some unpaid or paying too little, some past their deadline). The committee is three
members on :class:`~pymosaik.sim.cluster.LocalCluster` (the Raft core on the simulator kernel):
every member runs its :class:`~organisms.compute.member.ComputeMemberCore` against its own
replica (every member opens each request, reads its payment from the chain, proposes it and
proposes ``Clear`` on its cadence), and its host retries each command until the group commits
it, as :class:`~coalition.framework.core_host.CoreHost` does (a command whose fate is unknown
is proposed again, so the log holds duplicates). Providers send their own cards and usage logs
to a member they can reach, retrying the same way; a provider that crashes goes down at its
first grant, for good. Three to six back-to-back phases of 2–12 s (``draw_phases``, the
simulators' one fault schedule), each healing the last one's cut: calm, a minority member cut
off, the leader cut off (the others elect a new one; what the old one held is lost and
retried), or some providers cut off from the whole committee (their logs arrive late, some
after the grace period that already released their capacity). A quiet tail heals everything.
Checkers, over every replica:

- ``no-double-grant``  a request id is granted at most once in any replica's history;
- ``capacity``         no replica ever holds a provider's active grants above its card;
- ``rule``             every grant is the one the declared rule picks, recomputed from the
  state just before its clearing on a replay of the committed log;
- ``replay``           each replica's committed results are the replay's, and a fresh
  reference machine replaying the log reaches each replica's state;
- ``agree``            after the heal every replica has applied the same log;
- ``clock``            the clearings the machine takes have strictly increasing times (a
  ``Clear`` a cut-off member proposed, committed after a later one, is refused).
"""

from __future__ import annotations

import random
from collections import Counter, deque
from dataclasses import dataclass, field
from enum import Enum

import msgspec

from pymosaik.groups.raft.config import RaftConfig
from pymosaik.groups.raft.events import CommandCommitted, CommandFailed, LeaderChanged
from pymosaik.groups.raft.log import EntryKind
from pymosaik.primitives import DecodeError, SecretKey, decode, encode
from pymosaik.sim.cluster import INSTANT, LocalCluster
from pymosaik.sim.kernel import Host
from pymosaik.sim.rng import seeded
from pymosaik.sim.schedule import draw_phases

from ..compute.clearing import Capacity, clear
from ..compute.items import (
    Capabilities,
    ComputeLog,
    ComputeRequest,
    DeclaredRates,
    LogBody,
    ProviderCard,
    SettlementEvidence,
    SignedCard,
    UsageMetrics,
)
from ..compute.machine import (
    AppendLog,
    ByProvider,
    Clear,
    ComputeConfig,
    ComputeMachine,
    ComputeResult,
    Register,
    Signed,
)
from ..compute.member import ComputeMemberCore, settle_now
from .result import SeedResult

CONTRACT = b"\xc0" * 20
MEMBERS = [SecretKey(bytes([i]) * 32) for i in range(1, 4)]
TAG_KEY = bytes(32)  # the members' payment-tag key
NAMES = [f"m{i}".encode() for i in range(1, 4)]
STEPS = 60
#: Members' hosts (as CoreHost's tick) and providers act every ``TICK_MS``; Raft ticks as often.
TICK_MS = 100
#: A command in flight this long is taken as failed (fate unknown) and proposed again.
GIVE_UP_MS = 4_000
RETRY_MS = 200
QUIET_MS = 15_000


class _Cut(Enum):
    CALM = "calm"
    MEMBER = "member"
    LEADER = "leader"
    PROVIDERS = "providers"


WEIGHTS = {_Cut.CALM: 1, _Cut.MEMBER: 1, _Cut.LEADER: 1, _Cut.PROVIDERS: 1}


class _CapacityBlind(ComputeMachine):
    """Broken: every provider always looks idle."""

    def free(self) -> dict[bytes, Capacity]:
        return {
            pid: Capacity(c.capabilities.max_cpu_millicores, c.capabilities.max_ram_mib)
            for pid, c in self.cards.items()
        }


class _Forgetful(ComputeMachine):
    """Broken: forgets a request (and its payment) once it has been cleared, so a resubmission
    is granted again."""

    def known(self, rid: bytes) -> bool:
        return rid in self._pending

    def spent(self, tag: bytes) -> bool:
        return any(a.payment_tag == tag for a in self._pending.values())


class _Backwards(ComputeMachine):
    """Broken: takes a clearing proposed before the last one (the committee's clock goes back,
    so a grant can start before its request was submitted)."""

    def stale(self, at_ms: int) -> bool:
        return False


BROKEN = {
    "compute-ignores-capacity": "capacity",
    "compute-regrants": "no-double-grant",
    "compute-clock-goes-back": "clock",
}
MACHINES: dict[str, type[ComputeMachine]] = {
    "compute-ignores-capacity": _CapacityBlind,
    "compute-regrants": _Forgetful,
    "compute-clock-goes-back": _Backwards,
}


def _providers(rng: random.Random) -> list[tuple[SecretKey, ProviderCard, bool]]:
    """(key, card, crashes mid-grant) for 2–6 providers."""
    providers = []
    for i in range(rng.randint(2, 6)):
        key = SecretKey(rng.randbytes(32))
        tdx = rng.random() < 0.4
        card = ProviderCard(
            key.peer_id.bytes,
            Capabilities(
                tuple(rng.sample(["eu", "us", "ap"], rng.randint(1, 2))),
                tdx,
                rng.choice([1000, 2000, 4000]),
                rng.choice([2048, 8192]),
            ),
            DeclaredRates(rng.randint(100, 5000), rng.randint(10, 500)),
            bytes([i]) * 48 if tdx else b"",
            rng.randbytes(32),
            0,
        )
        providers.append((key, card, rng.random() < 0.25))  # (key, card, crashes mid-grant)
    return providers


@dataclass
class _Sent:
    """One command in a proposer's outbox: its bytes, when it was made, and the grant it logs
    (if it is a usage log)."""

    cmd: bytes
    made_ms: int
    logs: bytes | None = None


@dataclass
class _Outbox:
    """What a member's host (or a provider) has yet to see committed, in order, retried until
    the group takes it (one batch in flight at a time)."""

    queue: deque[_Sent] = field(default_factory=deque)
    #: (node asked, request id, commands, sent at) of the batch in flight.
    inflight: tuple[bytes, int, int, int] | None = None
    retry_at: int = 0


@dataclass(eq=False, kw_only=True)
class _Provider(Host):
    key: SecretKey
    card: ProviderCard
    crashes: bool
    pid: bytes
    outbox: _Outbox = field(default_factory=_Outbox)
    logged: set[bytes] = field(default_factory=set)


class _Chain:
    """The payments the members read (a stand-in for the EVM reader: a dict)."""

    def __init__(self) -> None:
        self.paid: dict[bytes, SettlementEvidence] = {}

    def evidence(self, tx_hash: bytes) -> SettlementEvidence | None:
        return self.paid.get(tx_hash)


class _Compute:
    """One seed: the committee on Raft, providers, requests, partition phases."""

    def __init__(self, seed: int, broken: str | None) -> None:
        self.seed = seed
        self.broken = broken
        self.rng = seeded(seed)
        self.stats: Counter[str] = Counter()
        self.cls = MACHINES.get(broken or "", ComputeMachine)
        self.cfg = ComputeConfig("sim.compute", CONTRACT, max_card_age_ms=30_000, grace_ms=5_000)
        self.committee = [k.peer_id for k in MEMBERS]
        self.cluster = LocalCluster(
            NAMES,
            config=RaftConfig(),
            seed=seed,
            machine_factory=lambda: self.cls(self.cfg, self.committee),
        )
        self.kernel = self.cluster.kernel
        self.kernel.max_violations = 50
        self.cores = {
            name: ComputeMemberCore(i + 1, MEMBERS[i], tag_key=TAG_KEY, settle_window_ms=5_000)
            for i, name in enumerate(NAMES)
        }
        self.hosts = {name: _Outbox() for name in NAMES}
        self.providers = {
            card.provider_id: _Provider(
                name=card.provider_id.hex()[:8],
                key=key,
                card=card,
                crashes=crashes,
                pid=card.provider_id,
            )
            for key, card, crashes in _providers(self.rng)
        }
        self.chain = _Chain()
        self.submitted: list[ComputeRequest] = []
        self.cursor = dict.fromkeys(NAMES, 0)
        self.steps = 0
        self.cut: _Cut | None = None  # the cut in force

    # ---- the world ---------------------------------------------------------------------
    def step(self) -> None:
        """Refresh cards every tenth step, open requests, let providers log; capacity holds on
        every replica."""
        rng, now = self.rng, self.kernel.now
        if self.steps % 10 == 0:
            for p in self.providers.values():
                fresh = msgspec.structs.replace(p.card, refreshed_at_ms=now)
                self.provider_sends(p, Register(SignedCard.signed(p.key, fresh)))
        for _ in range(rng.randint(0, 3)):
            self.open_request(now)
        for p in self.providers.values():
            self.provider_logs(p, now)
        for name in NAMES:  # every replica, at every step
            for over in _over_capacity(self.cluster.nodes[name].machine):  # type: ignore[arg-type]
                self.kernel.violation("capacity", f"{name.decode()}: {over}")
        self.steps += 1
        if self.steps < STEPS:
            self.kernel.at(now + rng.randint(200, 2_000), self.step)

    def open_request(self, now: int) -> None:
        """A new request (sometimes unpaid, underpaid or past its deadline) or a resubmission,
        opened by the shuffle to every member."""
        rng = self.rng
        if self.submitted and rng.random() < 0.15:
            req = rng.choice(self.submitted)  # a resubmission
        else:
            req = ComputeRequest(
                rng.randbytes(32),
                rng.randbytes(32),
                rng.randint(1, 20),
                rng.choice([250, 500, 1000, 2000]),
                rng.choice([256, 1024]),
                rng.random() < 0.2,
                rng.choice(["", "eu", "us", "ap"]),
                rng.randint(0, 20_000),
                rng.randbytes(32),
                now + rng.randint(-500, 10_000),
                rng.randbytes(32),
            )
            self.submitted.append(req)
            if rng.random() < 0.9:
                amount = rng.randint(0, 30_000)
                self.chain.paid[req.settlement] = SettlementEvidence(
                    req.settlement, CONTRACT, amount, 1
                )
        raw = encode(req)
        for core in self.cores.values():
            core.observe([raw])

    def provider_logs(self, p: _Provider, now: int) -> None:
        """The provider reads its grants from a member it reaches; a crashing one goes down at
        its first grant, a live one logs about half of them at each step."""
        if not p.up:
            return
        reach = next((n for n in NAMES if self.cluster.net.connected(p.pid, n)), None)
        if reach is None:
            return
        m: ComputeMachine = self.cluster.nodes[reach].machine  # type: ignore[assignment]
        for rid in sorted(m.grants):
            g = m.grants[rid]
            if g.provider != p.pid or rid in p.logged:
                continue
            if p.crashes:
                self.kernel.crash(p)  # mid-grant: it never runs the workload nor logs
                p.outbox = _Outbox()
                self.stats["provider-crashes"] += 1
                return
            if self.rng.random() < 0.5:
                continue
            p.logged.add(rid)
            body = LogBody(
                rid,
                g.provider,
                g.valid_from_ms,
                min(now, g.valid_to_ms),
                UsageMetrics(1, 1, 0),
                True,
            )
            self.provider_sends(p, AppendLog(ComputeLog.signed(p.key, body)))

    def provider_sends(self, p: _Provider, body: Register | AppendLog) -> None:
        if p.up:
            logs = body.log.body.grant_id if isinstance(body, AppendLog) else None
            p.outbox.queue.append(_Sent(encode(ByProvider(body)), self.kernel.now, logs))

    def phase(self, kind: _Cut) -> None:
        """A phase starts: the last one's cut heals, then a minority member, the leader, or
        some providers are cut off (or nothing: calm)."""
        self.heal()
        net, leader, rng = self.cluster.net, self.cluster.leader(), self.rng
        if kind is _Cut.LEADER and leader is not None:
            net.isolate(leader, NAMES)
        elif kind is _Cut.MEMBER or kind is _Cut.LEADER:  # no leader to cut: a member then
            kind = _Cut.MEMBER
            net.isolate(rng.choice([n for n in NAMES if n != leader]), NAMES)
        elif kind is _Cut.PROVIDERS:
            pids = sorted(self.providers)
            net.partition(rng.sample(pids, rng.randint(1, len(pids))), NAMES)
        else:
            return
        self.cut = kind
        self.stats[f"cut-{kind.value}"] += 1

    def heal(self) -> None:
        if self.cut is not None:
            self.cluster.heal()
            self.cut = None
            self.stats["heals"] += 1

    # ---- members' hosts and providers' links --------------------------------------------
    def tick(self) -> None:
        """Every ``TICK_MS``: outcomes of what is in flight, each member core's step, sends."""
        now = self.kernel.now
        for name in NAMES:
            self.outcomes(name, now)
        for name in NAMES:
            core, raft = self.cores[name], self.cluster.nodes[name]
            settle_now(core, self.chain, now)
            box = self.hosts[name]
            box.queue.extend(_Sent(encode(c), now) for c in core.step(raft.machine, now))  # type: ignore[arg-type]
            self.send(box, name, now)
        for p in self.providers.values():
            reach = [n for n in NAMES if self.cluster.net.connected(p.pid, n)]
            if p.up and reach:
                self.send(p.outbox, self.rng.choice(reach), now)

    def send(self, box: _Outbox, via: bytes, now: int) -> None:
        if box.inflight is not None and now - box.inflight[3] >= GIVE_UP_MS:
            box.inflight, box.retry_at = None, now  # its fate is unknown: propose it again
            self.stats["retries"] += 1
        if box.inflight is None and box.queue and now >= box.retry_at:
            batch = [s.cmd for s in box.queue]
            request = self.cluster.nodes[via].submit(batch, now)
            box.inflight = (via, request, len(batch), now)

    def outcomes(self, name: bytes, now: int) -> None:
        events = self.cluster.events[name]
        boxes = [self.hosts[name], *(p.outbox for p in self.providers.values())]
        for e in events[self.cursor[name] :]:
            if isinstance(e, LeaderChanged):
                self.stats["elections"] += 1 if e.leader == name else 0
            if not isinstance(e, CommandCommitted | CommandFailed):
                continue
            box = next(
                (b for b in boxes if b.inflight and b.inflight[:2] == (name, e.request)), None
            )
            if box is None or box.inflight is None:
                continue
            count = box.inflight[2]
            box.inflight = None
            if isinstance(e, CommandFailed):
                box.retry_at = now + RETRY_MS
                self.stats["retries"] += 1
                continue
            for _ in range(count):
                sent = box.queue.popleft()
                self.late_log(sent, now)
        self.cursor[name] = len(events)

    def late_log(self, sent: _Sent, now: int) -> None:
        """Count the usage logs that reached the log late, or after their grace period."""
        if sent.logs is None or now - sent.made_ms < 1_000:
            return
        grant = self.cluster.nodes[NAMES[0]].machine.grants.get(sent.logs)  # type: ignore[attr-defined]
        late = grant is not None and now > grant.valid_to_ms + self.cfg.grace_ms
        self.stats["logs-after-grace" if late else "logs-late"] += 1

    # ---- the run and the checkers -------------------------------------------------------
    def run(self) -> SeedResult:
        for p in self.providers.values():
            self.kernel.boot(p)
        self.kernel.every(TICK_MS, self.tick)
        rng = self.rng
        phases = draw_phases(
            rng,
            WEIGHTS,
            rng.randint(4_000, 8_000),  # after the first election
            duration=lambda _kind: rng.randint(2_000, 12_000),
            faults=lambda _kind: INSTANT,  # links stay instant: a cut is the only fault
        )
        for phase in phases:
            self.kernel.at(phase.start_ms, self.phase, phase.kind)
        self.kernel.at(rng.randint(200, 2_000), self.step)
        while self.steps < STEPS or self.kernel.now < phases[-1].end_ms:
            self.cluster.advance(1_000, step=TICK_MS)
        self.heal()
        self.cluster.advance(QUIET_MS, step=TICK_MS)
        self.check()
        stats = self.stats
        stats["partitions"] = stats["cut-member"] + stats["cut-leader"] + stats["cut-providers"]
        return SeedResult.of(self.seed, self.kernel.violations, stats)

    def check(self) -> None:
        """``agree`` and ``no-double-grant`` on every replica, then the replay's checkers."""
        k = self.kernel
        applied = {
            n: [a for a in self.cluster.applied[n] if a.kind == EntryKind.COMMAND] for n in NAMES
        }
        logs = {n: [a.command for a in applied[n]] for n in NAMES}
        if any(logs[n] != logs[NAMES[0]] for n in NAMES):
            k.violation("agree", f"applied logs differ: {[len(v) for v in logs.values()]}")
        for n in NAMES:
            granted: set[bytes] = set()
            for a in applied[n]:
                for g in decode(a.result, ComputeResult).grants:
                    if g.request_id in granted:
                        k.violation(
                            "no-double-grant",
                            f"{n.decode()}: request {g.request_id.hex()[:12]} granted twice",
                        )
                    granted.add(g.request_id)
        entries = [(a.index, a.command) for a in applied[NAMES[0]]]
        self.check_replay([[a.result for a in applied[n]] for n in NAMES], entries)

    def check_replay(self, results: list[list[bytes]], log: list[tuple[int, bytes]]) -> None:
        """``rule``, ``capacity`` and ``replay`` on a replay of the committed log (a broken
        machine is replayed as itself: its results must still be its replicas')."""
        k = self.kernel
        replay = self.cls(self.cfg, self.committee)
        last_clear = 0
        for i, (index, command) in enumerate(log):
            try:
                cmd: Signed | None = decode(command, Signed)
            except DecodeError:
                cmd = None  # a provider's own command
            clearing = cmd.body if cmd is not None and isinstance(cmd.body, Clear) else None
            expected = _rule(replay, clearing.at_ms) if clearing is not None else None
            result = replay.apply(command, _At(index))  # keyed entries record their index
            if any(len(r) > i and r[i] != result for r in results):
                k.violation("replay", f"entry {i}: a replica's result is not the replay's")
            out = decode(result, ComputeResult)
            self.stats["grants"] += len(out.grants)
            self.stats["refusals"] += len(out.refusals)
            if clearing is None or expected is None:
                continue
            if not out.ok:  # held back by a cut, committed after a later one: refused
                self.stats["stale-clears-refused"] += 1
                continue
            if clearing.at_ms <= last_clear:
                k.violation("clock", f"entry {i}: a clearing at {clearing.at_ms} ms accepted "
                            f"after one at {last_clear} ms")  # fmt: skip
            last_clear = clearing.at_ms
            got = {g.request_id: g.provider for g in out.grants}
            for rid, want in expected.items():
                if got.get(rid) != want:
                    k.violation("rule", f"request {rid.hex()[:12]}: the rule and the grant differ")
            for over in _over_capacity(replay):
                k.violation("capacity", f"replay: {over}")
        if self.broken is None:
            for n in NAMES:
                if replay.snapshot() != self.cluster.nodes[n].machine.snapshot():
                    k.violation("replay", f"a fresh machine replaying the log disagrees with {n!r}")


@dataclass(frozen=True)
class _At:
    """The apply context a replay gives: the log index of the entry."""

    index: int


def run_seed(seed: int, broken: str | None = None) -> SeedResult:
    return _Compute(seed, broken).run()


def _over_capacity(m: ComputeMachine) -> list[str]:
    """The providers whose active grants exceed their card."""
    used: dict[bytes, list[int]] = {}
    for rid in m._active:
        g = m.grants[rid]
        u = used.setdefault(g.provider, [0, 0])
        u[0] += g.cpu_millicores
        u[1] += g.ram_mib
    over = []
    for pid, (cpu, ram) in used.items():
        card = m.cards.get(pid)
        if card is None:
            continue
        caps = card.capabilities
        if cpu > caps.max_cpu_millicores or ram > caps.max_ram_mib:
            over.append(f"provider {pid.hex()[:8]} holds {cpu} m / {ram} MiB over its card")
    return over


def _rule(m: ComputeMachine, now: int) -> dict[bytes, bytes | None]:
    """What the declared rule grants at the next Clear, recomputed with the pure function on a
    copy of the state (capacity taken grant by grant, in submission order)."""
    shadow = ComputeMachine(m.cfg, [k.peer_id for k in MEMBERS])
    shadow.restore(m.snapshot())
    shadow.release_expired(now)
    expected: dict[bytes, bytes | None] = {}
    cards = [shadow.cards[k] for k in sorted(shadow.cards)]
    free = shadow.free()
    for rid, req in shadow._pending.items():
        if now > req.deadline_ms:
            expected[rid] = None
            continue
        card, _ = clear(req, cards, free, {}, now=now, max_age_ms=m.cfg.max_card_age_ms)
        expected[rid] = None if card is None else card.provider_id
        if card is not None:
            c = free[card.provider_id]
            free[card.provider_id] = Capacity(
                c.cpu_millicores - req.min_cpu_millicores, c.ram_mib - req.min_ram_mib
            )
    return expected
