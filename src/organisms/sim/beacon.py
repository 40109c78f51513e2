"""Seeded fault campaigns over the randomness beacon.

Each seed draws a committee (2-of-3 … 5-of-7), a scheme, members that corrupt their partials
(at most n − t) and phases in which random members go silent (withholding, crashed or cut off;
sometimes below the threshold), then a quiet tail. Checkers:

- ``verifies``   every tick verifies from the group key alone (drand's rule);
- ``no-skip``    rounds run 1, 2, 3, … with no gap;
- ``caught-up``  after the quiet tail the beacon is within two rounds of the clock;
- ``evidence``   every corrupt member whose partial reached a pending round is recorded, and no
  honest member ever is.
"""

from __future__ import annotations

import random

from coalition.crypto.beacon import PartialSignature, Scheme, verify_tick
from coalition.crypto.dkg import DkgResult
from pymosaik.sim.rng import seeded

from ..randomness.items import SubmitPartial
from ..randomness.local import LocalBeacon
from ..randomness.machine import BeaconMachine
from .result import SeedResult

GENESIS_MS = 20_000
RUN_MS = 30_000
QUIET_MS = 8_000


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


BROKEN = {"beacon-no-check": "evidence", "beacon-skips-round": "no-skip"}


def run_seed(seed: int, broken: str | None = None) -> SeedResult:
    rng = seeded(seed)
    res = SeedResult(seed)
    n, t = rng.choice([(3, 2), (4, 3), (5, 3), (7, 5)])
    scheme = rng.choice(list(Scheme))
    machine_cls = {"beacon-no-check": _UncheckedBeacon, "beacon-skips-round": _SkippingBeacon}.get(
        broken or "", BeaconMachine
    )
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
    b.corrupt(corrupt)
    honest = [m for m in members if m not in corrupt]
    now = b.runner.now_ms
    end = GENESIS_MS + RUN_MS
    while now < end - QUIET_MS:
        silent = set(rng.sample(honest, rng.randint(0, len(honest))))
        res.stats["below_threshold_phases"] += len(honest) - len(silent) < t
        b.runner.silent = silent
        now += rng.randint(500, 3_000)
        b.run_until(now)
    b.runner.silent = set()
    b.run_until(end)
    _check(res, b, card.group_key, corrupt, rng)
    return res


def _check(
    res: SeedResult, b: LocalBeacon, group_key: bytes, corrupt: set[int], rng: random.Random
) -> None:
    scheme = b.cfg.kind
    m = b.replicas[0]
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
