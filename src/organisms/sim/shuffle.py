"""Seeded fault campaigns over the shuffle (zipnet + unseal) with checkers.

Each seed draws a deployment (clients, servers, a t-of-n unseal committee from the book's
table), talkers sending sealed requests, and per-round faults: a server sending a wrong partial,
the aggregator dropping an envelope, a client jamming a slot, unseal members sending corrupt
shares, members going silent (sometimes below the threshold). The last rounds are fault-free.
The checkers:

- ``receipt-truth``   a Landed receipt's slot holds exactly that message;
- ``no-phantom``      every valid slot holds a message somebody sent, each landing once;
- ``faulty-detected`` a round with a wrong partial is garbled and lands nothing;
- ``drop-reported``   a client whose envelope was dropped hears Dropped, not Landed;
- ``opened-exactly``  unseal opens exactly the requests that landed (each once, none extra);
- ``evidence``        every corrupt member's shares are recorded, no honest member's are;
- ``threshold``       below t active honest members nothing opens;
- ``liveness``        with the threshold held, every request is opened by the end.

``--broken`` swaps in a deliberately wrong core; ``tests/zipnet/test_shuffle_sim.py`` shows each
is caught by the checker meant for it. This runs the organisms' real machines and cores in one
process on the simulator kernel of the unseal committee's runner: after the DKG, a zipnet round
is an event every 6 s (its roles run in order within it: clients seal, the aggregator folds,
servers unblind) and the unseal members step every second (silent members are hosts that stay
down). No Raft and no network: those faults belong to the Raft and streams simulators.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

from coalition.crypto.dkg import DkgResult
from coalition.crypto.reply import parse_request
from coalition.crypto.threshold import PartialDecryption, Sealed
from pymosaik.sim.rng import seeded

from ..shuffle import SealClient, ShuffleConfig, boxes_from_broadcast
from ..unseal.items import Shares
from ..unseal.local import LocalCommittee
from ..unseal.machine import UnsealMachine
from ..zipnet.aggregator import RoundFold
from ..zipnet.client import Outcome, Receipt, ZipnetClient
from ..zipnet.dcnet import read_slot, slots
from ..zipnet.local import Faults, LocalDeployment
from ..zipnet.params import AggregateEnvelope, BroadcastRecord, RoundParams
from .result import SeedResult

PARAMS = RoundParams(num_slots=16, slot_bytes=256, tag_len=16, sched_slots=64)
ROUNDS = 34
QUIET_ROUNDS = 12
#: A zipnet round every 6 s; unseal members step every second between them.
ROUND_MS = 6_000
STEP_MS = 1_000


class _TrustingClient(ZipnetClient):
    """Broken: calls an attempt Landed whenever it took part, without reading its slot."""

    def on_broadcast(self, record: BroadcastRecord) -> list[Receipt]:
        out = super().on_broadcast(record)
        return [
            Receipt(r.submission, r.round, r.slot, Outcome.LANDED.value)
            if r.outcome == Outcome.COLLIDED.value
            else r
            for r in out
        ]


class _UncheckedMachine(UnsealMachine):
    """Broken: keeps every partial without its DLEQ check."""

    def check_partial(
        self, key: DkgResult, sealed: Sealed, partial: PartialDecryption
    ) -> str | None:
        return None


class _ForgetfulFold(RoundFold):
    """Broken: the aggregator names every invited client, folded or not."""

    def finish(self) -> AggregateEnvelope | None:
        agg = super().finish()
        if agg is None:
            return None
        return AggregateEnvelope(agg.round, tuple(sorted(self.header.clients)), agg.payload)


BROKEN = {
    "client-trusts-slot": "receipt-truth",
    "unseal-no-check": "evidence",
    "aggregator-lists-dropped": "drop-reported",
}


@dataclass
class _Run:
    """One seed's deployment and what the checkers compare against."""

    res: SeedResult
    dep: LocalDeployment
    com: LocalCommittee
    corrupt: set[int]
    threshold_held: bool
    sent: dict[tuple[bytes, int], bytes] = field(default_factory=dict)
    bodies: Counter[bytes] = field(default_factory=Counter)
    landed_once: Counter[tuple[bytes, int]] = field(default_factory=Counter)


def _setup(seed: int, broken: str | None, rng: random.Random) -> _Run | SeedResult:
    res = SeedResult(seed)
    n, t = rng.choice([(3, 2), (5, 3), (7, 5)])
    dep = LocalDeployment.create(
        rng.randint(4, 12),
        rng.randint(2, 4),
        seed=seed,
        params=PARAMS,
        client_cls=_TrustingClient if broken == "client-trusts-slot" else ZipnetClient,
        fold_cls=_ForgetfulFold if broken == "aggregator-lists-dropped" else RoundFold,
    )
    com = LocalCommittee.create(
        n,
        t,
        seed=seed + 1,
        machine_cls=_UncheckedMachine if broken == "unseal-no-check" else UnsealMachine,
    )
    com.pump(100)
    if com.replicas[0].key is None:
        res.add("setup", "the DKG did not finish")
        return res
    members = list(range(1, n + 1))
    corrupt = set(rng.sample(members, rng.randint(0, n - t)))
    if broken == "unseal-no-check" and not corrupt:
        corrupt = {members[-1]}
    honest = [m for m in members if m not in corrupt]
    lose_threshold = rng.random() < 0.15
    silent = set(rng.sample(honest, len(honest) - t + 1)) if lose_threshold else set()
    com.corrupt(corrupt)
    com.silent = silent
    held = len(honest) - len(silent) >= t
    res.stats["threshold_lost"] += not held
    return _Run(res, dep, com, corrupt, held)


def _faults(rng: random.Random, run: _Run, quiet: bool) -> Faults:
    faults = Faults()
    if not quiet:
        if rng.random() < 0.12:
            faults.bad_partial = rng.randrange(len(run.dep.servers))
        if rng.random() < 0.12:
            faults.drop = rng.choice(run.dep.clients).id
        if rng.random() < 0.06:
            faults.jam = (rng.randrange(len(run.dep.clients)), rng.randrange(PARAMS.num_slots))
    run.res.stats["bad_partial"] += faults.bad_partial is not None
    run.res.stats["drop"] += faults.drop is not None
    run.res.stats["jam"] += faults.jam is not None
    return faults


def run_seed(seed: int, broken: str | None = None) -> SeedResult:
    rng = seeded(seed)
    run = _setup(seed, broken, rng)
    if isinstance(run, SeedResult):
        return run
    dep, com = run.dep, run.com
    key = com.replicas[0].key
    assert key is not None
    shuffle = ShuffleConfig("sim.shuffle", dep.cfg, com.cfg)
    sealers = {c.id: SealClient(shuffle, c, entropy=dep.rng.randbytes) for c in dep.clients}
    kernel = com.runner.kernel
    seq = 0

    def zipnet_round(r: int) -> None:
        """Talkers seal, one zipnet round runs with its faults, unseal members see its boxes."""
        nonlocal seq
        if r < 10:
            for cid in rng.sample(sorted(sealers), rng.randint(0, 2)):
                body = f"s{seed} req {seq}".encode()
                seq += 1
                sub = sealers[cid].submit(body, key.group_key)
                run.sent[(cid, sub.submission)] = _wire_of(dep, cid, sub.submission)
                run.bodies[body] += 1
        faults = _faults(rng, run, quiet=r >= ROUNDS - QUIET_ROUNDS)
        before = len(dep.receipts)
        record = dep.run_round(faults)
        _check_round(run, record, dep.receipts[before:], faults)
        boxes = boxes_from_broadcast(dep.cfg, record)
        for core in com.cores:
            core.observe(record.round, boxes)

    start = kernel.now
    for r in range(ROUNDS):
        kernel.at(start + r * ROUND_MS, zipnet_round, r)
    com.runner.every_round(STEP_MS)
    kernel.run_until(start + ROUNDS * ROUND_MS)
    _check_unseal(run)
    run.res.stats["rounds"] = ROUNDS
    run.res.stats["requests"] = sum(run.bodies.values())
    return run.res


def _wire_of(dep: LocalDeployment, cid: bytes, sid: int) -> bytes:
    client = next(c for c in dep.clients if c.id == cid)
    for s, payload in client._queue:
        if s == sid:
            return payload
    raise AssertionError("submission not queued")


def _check_round(
    run: _Run, record: BroadcastRecord, receipts: list[tuple[bytes, Receipt]], faults: Faults
) -> None:
    res, sent, landed_once = run.res, run.sent, run.landed_once
    cells = enumerate(slots(PARAMS, record.broadcast))
    payloads = {i: read_slot(PARAMS, record.round, i, cell) for i, cell in cells}
    sent_payloads = set(sent.values())
    for i, p in payloads.items():
        if isinstance(p, bytes) and p not in sent_payloads:
            res.add("no-phantom", f"round {record.round} slot {i} holds a message nobody sent")
    for cid, rc in receipts:
        if rc.outcome != Outcome.LANDED.value:
            if rc.outcome == Outcome.DROPPED.value:
                res.stats["dropped_receipts"] += 1
            continue
        res.stats["landed"] += 1
        if payloads.get(rc.slot) != sent[(cid, rc.submission)]:
            res.add("receipt-truth", f"round {rc.round}: Landed at slot {rc.slot}, slot differs")
        landed_once[(cid, rc.submission)] += 1
        if landed_once[(cid, rc.submission)] > 1:
            res.add("no-phantom", f"submission {rc.submission} landed twice")
        if faults.bad_partial is not None:
            res.add("faulty-detected", f"round {rc.round} had a wrong partial yet something landed")
        if cid == faults.drop:
            res.add("drop-reported", f"round {rc.round}: a dropped client heard Landed")
    if faults.bad_partial is not None and record.garbled_slots == 0:
        res.add("faulty-detected", f"round {record.round} had a wrong partial and no garbled slot")
    if faults.drop is not None:
        for cid, rc in receipts:
            if cid == faults.drop and rc.outcome != Outcome.DROPPED.value:
                res.add("drop-reported", f"round {rc.round}: dropped client heard {rc.outcome}")


def _check_unseal(run: _Run) -> None:
    res, com, bodies, corrupt = run.res, run.com, run.bodies, run.corrupt
    replica = com.replicas[0]
    opened: Counter[bytes] = Counter()
    for entry in replica.pool:
        for ct in entry.cleartext:
            try:
                opened[parse_request(ct.payload).body] += 1
            except ValueError:
                res.add("opened-exactly", f"pool slot {entry.slot} holds a non-request")
        if entry.undecryptable:
            res.add("opened-exactly", f"pool slot {entry.slot}: boxes {entry.undecryptable} broke")
    res.stats["opened"] = sum(opened.values())
    extra = opened - bodies
    if extra:
        res.add("opened-exactly", f"opened what nobody sent or twice: {sorted(extra)[:3]}")
    if not run.threshold_held:
        if replica.pool:
            res.add("threshold", f"{len(replica.pool)} rounds opened below the threshold")
        return
    missing = bodies - opened
    if missing:
        res.add("liveness", f"{sum(missing.values())} requests never opened")
    accused = {b.member for b in replica.bad_shares}
    if accused - corrupt:
        res.add("evidence", f"honest members recorded as bad: {sorted(accused - corrupt)}")
    # members whose shares reached a round still waiting for them (later ones are not checked)
    spoke = {
        cmd.body.member
        for cmd, (ok, reason) in zip(com.runner.log, com.runner.outcomes, strict=True)
        if isinstance(cmd.body, Shares) and ok and not reason
    }
    if (corrupt & spoke) - accused:
        res.add("evidence", f"corrupt members not recorded: {sorted((corrupt & spoke) - accused)}")
