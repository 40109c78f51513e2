"""Seeded fault campaigns over the randomness beacon.

Each seed draws a committee (2-of-3 … 5-of-7), a scheme, members that corrupt their partials
and their recovery parts (at most n − t), phases in which random members go silent (withholding
or crashed) and, in about half of them, the committee is partitioned (one member cut off, or a
split such as 1|2, 2|3 or 2|2: only a majority side commits, the others' proposals wait in
their hosts' outboxes and their replicas fall behind until the heal); phases often leave fewer
than t honest members able to sign, so rounds stall and resume after the heal. When enough
honest members remain to help, an honest member loses its share mid-run (it comes back with new
key-generation secrets and asks for recovery). A quiet tail heals everything. A stall shows as
rounds committed late (``late_rounds``), never as a missing round. Checkers:

- ``verifies``   every tick verifies from the group key alone (drand's rule);
- ``no-skip``    rounds run 1, 2, 3, … with no gap, on every replica;
- ``agree``      after the heal every replica holds the same state;
- ``caught-up``  after the quiet tail the beacon is within two rounds of the clock;
- ``evidence``   every corrupt member whose partial reached a pending round is recorded, and no
  honest member ever is;
- ``recovered``  the member that lost its share holds the *same* share again by the end (or,
  after a refresh, the share its key says), its registered key is its new one, and no honest
  helper was named at fault;
- ``shares``     every member ends with a share that matches its current verification key (a
  refresh mid-run, asked by a random member's operator in half the seeds, moves them all).
"""

from __future__ import annotations

import random

from coalition.crypto.beacon import PartialSignature, Scheme, verify_tick
from coalition.crypto.dkg import DkgResult, KeyShare
from coalition.keygen_recovery import Attempt, RecoveryBook
from pymosaik.sim.rng import seeded

from ..randomness.items import SubmitPartial
from ..randomness.local import LocalBeacon
from ..randomness.machine import BeaconMachine
from .result import SeedResult

GENESIS_MS = 20_000
RUN_MS = 34_000
#: Long enough for a committee stalled since genesis to catch up (about four rounds a second).
QUIET_MS = 12_000
#: A share lost or a refresh asked this long before the quiet tail has time to finish.
SETTLE_MS = 8_000


class _UncheckedBeacon(BeaconMachine):
    """Broken: keeps every partial without its pairing check."""

    def check_partial(self, key: DkgResult, round_: int, partial: PartialSignature) -> str | None:
        return None


class _SkippingBeacon(BeaconMachine):
    """Broken: after every fifth round it moves on one round too far."""

    def _partial(self, body: SubmitPartial) -> object:  # type: ignore[override]
        out = super()._partial(body)
        if (
            self.ticks
            and self.ticks[-1].round % 5 == 0
            and self.next_round == self.ticks[-1].round + 1
        ):
            self.next_round += 1
        return out


class _ForgivingBook(RecoveryBook[object]):
    """Broken: records a faulty helper but never excludes it, so it is picked again."""

    def _fault(self, a: Attempt, culprit: int, accuser: int, reason: str) -> None:
        super()._fault(a, culprit, accuser, reason)
        self.excluded.pop(a.lost, None)


class _ForgivingBeacon(BeaconMachine):
    def _reset(self) -> None:
        super()._reset()
        k = self.keygen
        k.recovery = _ForgivingBook(k.group, k.params.t, k.params.n)


BROKEN = {
    "beacon-no-check": "evidence",
    "beacon-skips-round": "no-skip",
    "beacon-recovery-forgives": "recovered",
}
MACHINES: dict[str, type[BeaconMachine]] = {
    "beacon-no-check": _UncheckedBeacon,
    "beacon-skips-round": _SkippingBeacon,
    "beacon-recovery-forgives": _ForgivingBeacon,
}


def run_seed(seed: int, broken: str | None = None) -> SeedResult:
    rng = seeded(seed)
    res = SeedResult(seed)
    n, t = rng.choice([(3, 2), (4, 3), (5, 3), (7, 5)])
    scheme = rng.choice(list(Scheme))
    machine_cls = MACHINES.get(broken or "", BeaconMachine)
    b = LocalBeacon.create(n, t, seed=seed, scheme=scheme, machine_cls=machine_cls)
    b.run_until(GENESIS_MS - 1_000)
    card = b.replicas[0].card()
    if card is None:
        res.add("setup", "the DKG did not finish")
        return res
    members = list(range(1, n + 1))
    corrupt = set(rng.sample(members, rng.randint(0, n - t)))
    if broken == "beacon-no-check" and not corrupt:
        corrupt = {members[-1]}
    if broken == "beacon-recovery-forgives":
        corrupt = {1}  # the first to offer: picked again and again unless excluded
    b.corrupt(corrupt)
    honest = [m for m in members if m not in corrupt]
    now = b.runner.now_ms
    end = GENESIS_MS + RUN_MS
    # an honest member loses its share while t honest others still hold theirs
    lost = rng.choice(honest) if len(honest) - 1 >= t else None
    lose_at = rng.randint(now, end - QUIET_MS - SETTLE_MS)
    old = b.cores[lost - 1].share if lost is not None else None
    # and some member's operator asks for a key refresh (it waits for every member's deal; a
    # share recovery under way refuses or calls it off)
    refresh_at = rng.randint(now, end - QUIET_MS - SETTLE_MS) if rng.random() < 0.5 else end
    seen = 0  # ticks looked at for lateness
    while now < end - QUIET_MS:
        _phase(res, b, rng, honest)
        now += rng.randint(500, 3_000)
        if lost is not None and old is not None and now >= lose_at:
            b.lose_share(lost, rng)
            res.stats["lost_shares"] += 1
            lose_at = end  # once
        if now >= refresh_at:
            b.cores[rng.choice(members) - 1].refresh()
            res.stats["refreshes_asked"] += 1
            refresh_at = end
        b.run_until(now)
        seen = _lateness(res, b, seen)
    b.runner.silent = set()
    _heal(res, b)
    b.run_until(end)
    _lateness(res, b, seen)
    _check(res, b, card.group_key, corrupt, rng)
    _check_shares(res, b)
    if lost is not None and old is not None:
        _check_recovery(res, b, lost, old, corrupt)
    return res


def _phase(res: SeedResult, b: LocalBeacon, rng: random.Random, honest: list[int]) -> None:
    """Some honest members go silent; the last phase's partition heals and (half the time) the
    committee is cut again: one member off, or a split into two sides (a 2|2 split of four
    leaves no majority: nothing commits)."""
    silent = set(rng.sample(honest, rng.randint(0, len(honest))))
    b.runner.silent = silent
    _heal(res, b)
    if rng.random() < 0.5:
        members = [c.index for c in b.cores]
        shuffled = rng.sample(members, len(members))
        cut = 1 if rng.random() < 0.5 else rng.randint(1, len(members) // 2)
        b.runner.partition(shuffled[:cut])
        res.stats["partitions"] += 1
        res.stats["no_majority_phases"] += not b.runner.majority
    able = (set(honest) - silent) & b.runner.majority
    res.stats["below_threshold_phases"] += len(able) < b.cfg.t


def _heal(res: SeedResult, b: LocalBeacon) -> None:
    if len(b.runner.majority) < len(b.cores):
        b.runner.heal()
        res.stats["heals"] += 1


def _lateness(res: SeedResult, b: LocalBeacon, seen: int) -> int:
    """Rounds committed more than two periods after their time (a stall made visible); returns
    how many ticks have been looked at."""
    majority = b.runner.majority
    if not majority:
        return seen
    m, now = b.replicas[min(majority) - 1], b.runner.now_ms  # a replica that is up to date
    ticks = list(m.ticks)
    for tick in ticks[seen:]:
        res.stats["late_rounds"] += m.round_at(now) - tick.round > 2
    return len(ticks)


def _check_shares(res: SeedResult, b: LocalBeacon) -> None:
    """``shares``: every member ends with a share that matches its verification key under the
    committee's current (possibly refreshed) key generation."""
    m = b.replicas[0]
    key, g = m.keygen.result, b.cfg.kind.key_group
    res.stats["refreshes"] += m.keygen.recovery.refreshes
    assert key is not None
    for core in b.cores:
        share = core.share
        vk = g.decode(key.verification_keys[core.index - 1], allow_identity=True)
        if share is None or share.result != key or not g.eq(g.base_mul(share.secret), vk):
            res.add("shares", f"member {core.index}'s share does not match its key")


def _check_recovery(
    res: SeedResult, b: LocalBeacon, lost: int, old: KeyShare, corrupt: set[int]
) -> None:
    core, m = b.cores[lost - 1], b.replicas[0]
    share = core.share
    same = m.keygen.recovery.refreshes > 0 or (share is not None and share.secret == old.secret)
    if share is None or not same:  # after a refresh, ``shares`` checks it against its key
        res.add("recovered", f"member {lost} has {'no' if share is None else 'another'} share")
    elif m.keygen.registry[lost].encryption_key != core.keygen.recovery.public_key:
        res.add("recovered", f"member {lost}'s registered key is not its new one")
    named = {f.culprit for f in m.keygen.recovery.faults}
    res.stats["recovery_faults"] += len(m.keygen.recovery.faults)
    if named - corrupt:
        res.add("recovered", f"honest helpers named at fault: {sorted(named - corrupt)}")


def _check(
    res: SeedResult, b: LocalBeacon, group_key: bytes, corrupt: set[int], rng: random.Random
) -> None:
    scheme = b.cfg.kind
    m = b.replicas[0]
    if any(r.snapshot() != m.snapshot() for r in b.replicas[1:]):
        res.add("agree", "the replicas differ after the heal")
    rounds = [tick.round for tick in m.ticks]
    res.stats["rounds"] += len(rounds)
    if rounds != list(range(1, len(rounds) + 1)):
        gaps = sorted(set(range(1, max(rounds, default=0) + 1)) - set(rounds))
        res.add("no-skip", f"rounds missing: {gaps[:5]}")
    for tick in rng.sample(list(m.ticks), min(8, len(m.ticks))):  # pairing checks are costly
        if not verify_tick(scheme, group_key, tick):
            res.add("verifies", f"round {tick.round} does not verify")
    due = b.replicas[0].round_at(b.runner.now_ms)
    if not rounds or rounds[-1] < due - 2:
        res.add("caught-up", f"last round {rounds[-1] if rounds else 0}, due {due}")
    accused = {e.member for e in m.bad}
    res.stats["bad_partials"] += len(m.bad)
    if accused - corrupt:
        res.add("evidence", f"honest members recorded as bad: {sorted(accused - corrupt)}")
    reached = {
        cmd.body.member
        for cmd, (ok, reason) in zip(b.runner.log, b.runner.outcomes, strict=True)
        if isinstance(cmd.body, SubmitPartial) and ok and reason in ("", "round did not combine")
    }
    if (corrupt & reached) - accused:
        res.add(
            "evidence", f"corrupt members not recorded: {sorted((corrupt & reached) - accused)}"
        )
