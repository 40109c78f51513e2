"""Seeded fault campaigns over Compute's clearing.

Each seed draws providers (capacity, rates, regions, TDX), a stream of requests (some
resubmitted, some unpayable, some past their deadline), periodic clearing, providers that log
their grants and providers that crash mid-grant and never log. It runs on the simulator kernel:
each step is an event at a drawn instant (200 ms to 2 s after the last), providers are kernel
hosts, and a crashing one goes down at its first grant, for good. Checkers:

- ``no-double-grant``  a request id is granted at most once, ever;
- ``capacity``         a provider's active grants never exceed its card;
- ``rule``             every grant is the one the declared rule picks, recomputed from the
  state just before its clearing;
- ``replay``           a fresh replica replaying the log reaches the same state.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

import msgspec

from pymosaik.primitives import SecretKey
from pymosaik.sim.kernel import Host, Kernel
from pymosaik.sim.rng import seeded

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
    Body,
    Clear,
    ComputeConfig,
    ComputeMachine,
    ComputeResult,
    Register,
    Signed,
    Submit,
)
from .result import SeedResult

CONTRACT = b"\xc0" * 20
MEMBERS = [SecretKey(bytes([i]) * 32) for i in range(1, 4)]
TAG_KEY = bytes(32)
STEPS = 60


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


BROKEN = {"compute-ignores-capacity": "capacity", "compute-regrants": "no-double-grant"}


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


@dataclass(eq=False, kw_only=True)
class _Provider(Host):
    """A provider as a kernel host; one that ``crashes`` goes down at its first grant, for good."""

    key: SecretKey
    card: ProviderCard
    crashes: bool


class _Compute(Kernel[_Provider]):
    """One seed: a step of submissions, clearing and logs at each drawn instant."""

    def __init__(self, seed: int, broken: str | None) -> None:
        super().__init__(max_violations=50)
        self.seed = seed
        self.broken = broken
        self.rng = seeded(seed)
        self.stats: Counter[str] = Counter()
        cls = {"compute-ignores-capacity": _CapacityBlind, "compute-regrants": _Forgetful}.get(
            broken or "", ComputeMachine
        )
        self.cfg = ComputeConfig("sim.compute", CONTRACT, max_card_age_ms=30_000, grace_ms=5_000)
        self.m = cls(self.cfg, [k.peer_id for k in MEMBERS])
        self.providers = {
            card.provider_id: _Provider(
                name=card.provider_id.hex()[:8], key=key, card=card, crashes=crashes
            )
            for key, card, crashes in _providers(self.rng)
        }
        self.committed: list[Signed] = []
        self.granted: set[bytes] = set()
        self.submitted: list[ComputeRequest] = []
        self.steps = 0

    def commit(self, body: Body) -> ComputeResult:
        cmd = Signed.by(MEMBERS[0], 1, body)
        self.committed.append(cmd)
        out = self.m.step(cmd)
        for g in out.grants:
            self.stats["grants"] += 1
            if g.request_id in self.granted:
                self.violation(
                    "no-double-grant", f"request {g.request_id.hex()[:12]} granted twice"
                )
            self.granted.add(g.request_id)
            provider = self.providers[g.provider]
            if provider.crashes and provider.up:
                self.crash(provider)  # mid-grant: it never runs the workload nor logs
                self.stats["provider-crashes"] += 1
        self.stats["refusals"] += len(out.refusals)
        return out

    def step(self) -> None:
        """Refresh cards every tenth step, submit, maybe clear, let live providers log."""
        rng, m, now = self.rng, self.m, self.now
        if self.steps % 10 == 0:
            for provider in self.providers.values():
                fresh = msgspec.structs.replace(provider.card, refreshed_at_ms=now)
                self.commit(Register(SignedCard.signed(provider.key, fresh)))
        for _ in range(rng.randint(0, 3)):
            self.submit(now)
        if rng.random() < 0.5:
            expected = _rule(m, now)
            out = self.commit(Clear(at_ms=now))
            got = {g.request_id: g.provider for g in out.grants}
            for rid, want in expected.items():
                if got.get(rid) != want:
                    self.violation(
                        "rule", f"request {rid.hex()[:12]}: the rule and the grant differ"
                    )
            self.check_capacity()
        for rid in sorted(m.grants):
            g = m.grants[rid]
            if rid in m.logs or rng.random() < 0.5:
                continue
            provider = self.providers[g.provider]
            if not provider.up:
                continue
            body = LogBody(
                rid,
                g.provider,
                g.valid_from_ms,
                min(now, g.valid_to_ms),
                UsageMetrics(1, 1, 0),
                True,
            )
            self.commit(AppendLog(ComputeLog.signed(provider.key, body)))
        self.steps += 1
        if self.steps < STEPS:
            self.at(self.now + rng.randint(200, 2_000), self.step)

    def submit(self, now: int) -> None:
        """A new request (sometimes unpayable or past its deadline) or a resubmission."""
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
        amount = rng.randint(0, 30_000)
        ev = SettlementEvidence(req.settlement, CONTRACT, amount, 1)
        self.commit(Submit.relay(req, ev, at_ms=now, tag_key=TAG_KEY))

    def check_capacity(self) -> None:
        for over in _over_capacity(self.m):
            self.violation("capacity", over)

    def run(self) -> SeedResult:
        for provider in self.providers.values():
            self.boot(provider)
        self.at(self.rng.randint(200, 2_000), self.step)
        self.run_until()
        replica = ComputeMachine(self.cfg, [k.peer_id for k in MEMBERS])
        for cmd in self.committed:
            replica.step(cmd)
        if self.broken is None and replica.snapshot() != self.m.snapshot():
            self.violation("replay", "a fresh replica replaying the log disagrees")
        return SeedResult.of(self.seed, self.violations, self.stats)


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
