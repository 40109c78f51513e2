"""``python -m pymosaik.sim raft --seeds N [--nodes 3|5] [--unsafe SWITCH] [--seed S]``
and ``python -m pymosaik.sim streams --seeds N [--seed S]`` (docs/spec/streams.md).

Campaigns of higher layers plug in through the ``pymosaik.sim.campaigns`` entry-point group
(name → ``main(argv) -> int``), so ``python -m pymosaik.sim organisms --seeds N`` runs the
organisms' campaigns without this package importing them."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points

from .campaign import format_failure, run_campaign
from .streams import main_streams
from .world import DISK_SWITCHES, DRIVER_SWITCHES, UNSAFE_SWITCHES, SimOptions

CAMPAIGN_GROUP = "pymosaik.sim.campaigns"


def _plugins() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=CAMPAIGN_GROUP)}


def main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else argv
    plugins = _plugins()
    if args_in and args_in[0] in plugins:
        run: Callable[[list[str]], int] = plugins[args_in[0]].load()
        return run(args_in[1:])
    parser = argparse.ArgumentParser(
        prog="python -m pymosaik.sim",
        epilog="registered campaigns: " + (", ".join(sorted(plugins)) or "none"),
    )
    sub = parser.add_subparsers(dest="target", required=True)
    raft = sub.add_parser("raft", help="simulate a Raft group and check its invariants")
    raft.add_argument("--seeds", type=int, default=100, help="number of seeds to run")
    raft.add_argument("--start", type=int, default=0, help="first seed of the range")
    raft.add_argument("--seed", type=int, default=None, help="run (replay) only this seed")
    raft.add_argument("--nodes", type=int, choices=(3, 5), default=3)
    raft.add_argument(
        "--unsafe",
        action="append",
        choices=sorted({*UNSAFE_SWITCHES, *DISK_SWITCHES, *DRIVER_SWITCHES}),
        default=[],
        help="switch a safety fix off (repeatable): a D5 fix, the repair vote guard, "
        "the disk's checksums, or the driver's persist-before-send rule",
    )
    raft.add_argument("--stop-on-first", action="store_true")
    raft.add_argument("--progress", action="store_true", help="print one line per seed")
    streams = sub.add_parser("streams", help="simulate stream sessions and check them")
    streams.add_argument("--seeds", type=int, default=50, help="number of seeds to run")
    streams.add_argument("--start", type=int, default=0, help="first seed of the range")
    streams.add_argument("--seed", type=int, default=None, help="run (replay) only this seed")
    streams.add_argument("--stop-on-first", action="store_true")
    streams.add_argument("--progress", action="store_true", help="print one line per seed")
    args = parser.parse_args(args_in)
    if args.target == "streams":
        chosen = (
            [args.seed] if args.seed is not None else range(args.start, args.start + args.seeds)
        )
        return main_streams(chosen, stop_on_first=args.stop_on_first, progress=args.progress)

    options = SimOptions(nodes=args.nodes, unsafe=tuple(args.unsafe))
    seeds = [args.seed] if args.seed is not None else range(args.start, args.start + args.seeds)
    started = time.perf_counter()

    def progress(result: object) -> None:
        if args.progress:
            print(result, flush=True)

    outcome = run_campaign(seeds, options, stop_on_first=args.stop_on_first, on_result=progress)
    for failure in outcome.failing:
        print(format_failure(failure, options))
    if outcome.inconclusive:
        print(f"note: {outcome.inconclusive} key histories too large to decide (not counted)")
    elapsed = time.perf_counter() - started
    print(f"{outcome.summary()} time={elapsed:.1f}s")
    return 1 if outcome.violations else 0


if __name__ == "__main__":
    sys.exit(main())
