"""``python -m organisms.sim CAMPAIGN --seeds N [--seed S] [--broken NAME]``, or ``all``."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Protocol

from . import almanac, beacon, chronicle, composite, compute, reader, shuffle


class _Result(Protocol):
    violations: list[tuple[str, str]]
    stats: Counter[str]


CAMPAIGNS: dict[str, tuple[Callable[[int, str | None], _Result], dict[str, str]]] = {
    "almanac": (almanac.run_seed, almanac.BROKEN),
    "chronicle": (chronicle.run_seed, chronicle.BROKEN),
    "composite": (composite.run_seed, composite.BROKEN),
    "reader": (reader.run_seed, reader.BROKEN),
    "shuffle": (shuffle.run_seed, shuffle.BROKEN),
    "beacon": (beacon.run_seed, beacon.BROKEN),
    "compute": (compute.run_seed, compute.BROKEN),
}
#: Seeds per campaign when ``all`` runs them (the slow ones get fewer; ``--seeds`` scales all).
WEIGHT: dict[str, float] = {"beacon": 0.1, "shuffle": 0.3, "almanac": 0.5, "chronicle": 0.5}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m organisms.sim")
    sub = parser.add_subparsers(dest="target", required=True)
    every = sub.add_parser("all", help="every campaign, seeds scaled by its cost")
    every.add_argument("--seeds", type=int, default=50)
    for name, (_, broken) in CAMPAIGNS.items():
        p = sub.add_parser(name, help=f"{name} under faults, with checkers")
        p.add_argument("--seeds", type=int, default=50)
        p.add_argument("--start", type=int, default=0)
        p.add_argument("--seed", type=int, default=None, help="replay one seed")
        p.add_argument("--broken", choices=sorted(broken), default=None)
    args = parser.parse_args(argv)
    if args.target == "all":
        failed = 0
        for name in CAMPAIGNS:
            count = max(1, round(args.seeds * WEIGHT.get(name, 1.0)))
            print(f"{name}: ", end="", flush=True)
            failed |= _run(name, list(range(count)), None)
        return failed
    seeds = (
        [args.seed] if args.seed is not None else list(range(args.start, args.start + args.seeds))
    )
    return _run(args.target, seeds, args.broken)


def _run(target: str, seeds: list[int], broken: str | None) -> int:
    run_seed, _ = CAMPAIGNS[target]
    started = time.perf_counter()
    failing = 0
    totals: Counter[str] = Counter()
    for seed in seeds:
        r = run_seed(seed, broken)
        totals.update(r.stats)
        if r.violations:
            failing += 1
            kinds = ", ".join(sorted({k for k, _ in r.violations}))
            print(
                f"seed {seed}: {kinds}; first: {r.violations[0][1]} "
                f"(replay: python -m organisms.sim {target} --seed {seed})"
            )
    stats = " ".join(f"{k}={v}" for k, v in sorted(totals.items()))
    elapsed = time.perf_counter() - started
    print(f"seeds={len(seeds)} violations={failing} {stats} time={elapsed:.1f}s")
    return 1 if failing else 0


def main_all(argv: list[str] | None = None) -> int:
    """``python -m pymosaik.sim organisms --seeds N``: every organism campaign (the substrate's
    simulator CLI finds this through its ``pymosaik.sim.campaigns`` entry point)."""
    return main(["all", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
