"""Entry point: ``python -m bench streams`` (more benchmarks arrive with their subsystems)."""

from __future__ import annotations

import argparse
import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .common import write_result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    sub = parser.add_subparsers(dest="bench", required=True)
    s = sub.add_parser("streams", help="stream throughput/latency against NATS")
    s.add_argument("--systems", default="mosaik,nats", help="comma-separated: mosaik, nats")
    sub.add_parser("raft", help="committed commands/s against etcd and pysyncobj")
    sub.add_parser("beacon", help="threshold BLS round cost and verification vs raw blst")
    sub.add_parser("compute", help="requests cleared per second and submit-to-grant latency")
    sub.add_parser("compute-net", help="Compute over a 3-member committee: open-to-grant vs commit")
    z = sub.add_parser("zipnet", help="zipnet server cost vs AES-CTR, unseal vs libsodium, latency")
    z.add_argument("--sizes", default="10,100,1000", help="client counts, comma-separated")
    n = sub.add_parser("shuffle-net", help="the shuffle over loopback: submit-to-pool latency")
    n.add_argument("--clients", default="10,30", help="client counts, comma-separated")
    n.add_argument("--members", type=int, default=5, help="committee size (zipnet and unseal)")
    n.add_argument("--threshold", type=int, default=3, help="unseal threshold t")
    n.add_argument("--messages", type=int, default=5, help="requests per client")
    n.add_argument("--up", type=Path, default=None, help="a coalition file to run with `up`")
    sub.add_parser("storage", help="the cost of the Raft storage checksums per entry")
    sub.add_parser("keyed", help="keyed surfaces: history-keeping apply, snapshot, delivery")
    args = parser.parse_args()
    # each bench imports only its own peers (NATS, etcd, ...), on use
    runs: dict[str, tuple[str, Callable[[Any], dict[str, Any]]]] = {
        "streams": ("streams", lambda m: m.main(args.systems.split(","))),
        "compute": ("compute", lambda m: m.main()),
        "compute-net": ("compute_net", lambda m: m.main()),
        "beacon": ("beacon", lambda m: m.main()),
        "storage": ("storage", lambda m: m.main()),
        "keyed": ("keyed", lambda m: m.main()),
        "zipnet": ("zipnet", lambda m: m.main(tuple(int(x) for x in args.sizes.split(",")))),
        "shuffle-net": (
            "shuffle_net",
            lambda m: m.main(
                tuple(int(x) for x in args.clients.split(",")),
                members=args.members,
                threshold=args.threshold,
                messages=args.messages,
                up=args.up,
            ),
        ),
        "raft": ("raft", lambda m: m.main()),
    }
    name, run = runs[args.bench]
    result = run(importlib.import_module(f"bench.{name}"))
    path = write_result(name, result)
    print(json.dumps(result, indent=2))
    print(f"written {path}")


if __name__ == "__main__":
    main()
