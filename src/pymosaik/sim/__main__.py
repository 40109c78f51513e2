"""``python -m pymosaik.sim raft --seeds N [--nodes 3|5] [--unsafe SWITCH] [--seed S]``
and ``python -m pymosaik.sim streams --seeds N [--seed S]`` (docs/spec/streams.md).

Campaigns of higher layers plug in through the ``pymosaik.sim.campaigns`` entry-point group
(name → ``main(argv) -> int``), so ``python -m pymosaik.sim organisms --seeds N`` runs the
organisms' campaigns without this package importing them."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points

from .campaign import add_seed_arguments
from .streams import streams_campaign
from .world import DISK_SWITCHES, DRIVER_SWITCHES, UNSAFE_SWITCHES, SimOptions, raft_campaign

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
    add_seed_arguments(raft, seeds=100)
    raft.add_argument("--nodes", type=int, choices=(3, 5), default=3)
    raft.add_argument(
        "--unsafe",
        action="append",
        choices=sorted({*UNSAFE_SWITCHES, *DISK_SWITCHES, *DRIVER_SWITCHES}),
        default=[],
        help="switch a safety fix off (repeatable): a D5 fix, the repair vote guard, "
        "the disk's checksums, or the driver's persist-before-send rule",
    )
    streams = sub.add_parser("streams", help="simulate stream sessions and check them")
    add_seed_arguments(streams, seeds=50)
    args = parser.parse_args(args_in)
    if args.target == "streams":
        return streams_campaign().cli(args)
    return raft_campaign(SimOptions(nodes=args.nodes, unsafe=tuple(args.unsafe))).cli(args)


if __name__ == "__main__":
    sys.exit(main())
