"""``python -m organisms.sim CAMPAIGN --seeds N [--seed S] [--broken NAME]``, or ``all``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from pymosaik.sim.campaign import Campaign, add_seed_arguments

from . import almanac, beacon, chronicle, composite, compute, opinions, reader, shuffle
from .result import SeedResult

CAMPAIGNS: dict[str, tuple[Callable[[int, str | None], SeedResult], dict[str, str]]] = {
    "almanac": (almanac.run_seed, almanac.BROKEN),
    "chronicle": (chronicle.run_seed, chronicle.BROKEN),
    "composite": (composite.run_seed, composite.BROKEN),
    "reader": (reader.run_seed, reader.BROKEN),
    "shuffle": (shuffle.run_seed, shuffle.BROKEN),
    "beacon": (beacon.run_seed, beacon.BROKEN),
    "compute": (compute.run_seed, compute.BROKEN),
    "opinions": (opinions.run_seed, opinions.BROKEN),
}
#: Seeds per campaign when ``all`` runs them (the slow ones get fewer; ``--seeds`` scales all).
WEIGHT: dict[str, float] = {
    "beacon": 0.1,
    "shuffle": 0.3,
    "almanac": 0.5,
    "chronicle": 0.5,
    "opinions": 0.3,
    "compute": 0.5,
}


def campaign(target: str, broken: str | None = None) -> Campaign[SeedResult]:
    """``target``'s seeds (with the core ``broken`` switched in), on the shared runner."""
    run_seed, _ = CAMPAIGNS[target]

    def describe(r: SeedResult) -> str:
        kinds = ", ".join(sorted({k for k, _ in r.violations}))
        return (
            f"seed {r.seed}: {kinds}; first: {r.violations[0][1]} "
            f"(replay: python -m organisms.sim {target} --seed {r.seed})"
        )

    def run(seed: int) -> SeedResult:
        return run_seed(seed, broken)

    return Campaign(run, describe, totals_in_summary=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m organisms.sim")
    sub = parser.add_subparsers(dest="target", required=True)
    every = sub.add_parser("all", help="every campaign, seeds scaled by its cost")
    every.add_argument("--seeds", type=int, default=50)
    for name, (_, broken) in CAMPAIGNS.items():
        p = sub.add_parser(name, help=f"{name} under faults, with checkers")
        add_seed_arguments(p, seeds=50)
        p.add_argument("--broken", choices=sorted(broken), default=None)
    args = parser.parse_args(argv)
    if args.target == "all":
        failed = 0
        for name in CAMPAIGNS:
            count = max(1, round(args.seeds * WEIGHT.get(name, 1.0)))
            print(f"{name}: ", end="", flush=True)
            failed |= campaign(name).main(range(count))
        return failed
    return campaign(args.target, args.broken).cli(args)


def main_all(argv: list[str] | None = None) -> int:
    """``python -m pymosaik.sim organisms --seeds N``: every organism campaign (the substrate's
    simulator CLI finds this through its ``pymosaik.sim.campaigns`` entry point)."""
    return main(["all", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
