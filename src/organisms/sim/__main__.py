"""``python -m organisms.sim shuffle|beacon|compute --seeds N [--seed S] [--broken NAME]``."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Protocol

from . import beacon, compute, shuffle


class _Result(Protocol):
    violations: list[tuple[str, str]]
    stats: Counter[str]


CAMPAIGNS: dict[str, tuple[Callable[[int, str | None], _Result], dict[str, str]]] = {
    "shuffle": (shuffle.run_seed, shuffle.BROKEN),
    "beacon": (beacon.run_seed, beacon.BROKEN),
    "compute": (compute.run_seed, compute.BROKEN),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m organisms.sim")
    sub = parser.add_subparsers(dest="target", required=True)
    for name, (_, broken) in CAMPAIGNS.items():
        p = sub.add_parser(name, help=f"{name} under faults, with checkers")
        p.add_argument("--seeds", type=int, default=50)
        p.add_argument("--start", type=int, default=0)
        p.add_argument("--seed", type=int, default=None, help="replay one seed")
        p.add_argument("--broken", choices=sorted(broken), default=None)
    args = parser.parse_args(argv)
    run_seed, _ = CAMPAIGNS[args.target]
    seeds = (
        [args.seed] if args.seed is not None else list(range(args.start, args.start + args.seeds))
    )
    started = time.perf_counter()
    failing = 0
    totals: Counter[str] = Counter()
    for seed in seeds:
        r = run_seed(seed, args.broken)
        totals.update(r.stats)
        if r.violations:
            failing += 1
            kinds = ", ".join(sorted({k for k, _ in r.violations}))
            print(
                f"seed {seed}: {kinds}; first: {r.violations[0][1]} "
                f"(replay: python -m organisms.sim {args.target} --seed {seed})"
            )
    stats = " ".join(f"{k}={v}" for k, v in sorted(totals.items()))
    elapsed = time.perf_counter() - started
    print(f"seeds={len(seeds)} violations={failing} {stats} time={elapsed:.1f}s")
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
