"""Entry point: ``python -m bench streams`` (more benchmarks arrive with their subsystems)."""

from __future__ import annotations

import argparse
import json

from . import raft, storage, streams
from .common import write_result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    sub = parser.add_subparsers(dest="bench", required=True)
    s = sub.add_parser("streams", help="stream throughput/latency against NATS")
    s.add_argument("--systems", default="mosaik,nats", help="comma-separated: mosaik, nats")
    sub.add_parser("raft", help="committed commands/s against etcd and pysyncobj")
    sub.add_parser("storage", help="the cost of the Raft storage checksums per entry")
    args = parser.parse_args()
    if args.bench == "streams":
        result = streams.main(args.systems.split(","))
        path = write_result("streams", result)
        print(json.dumps(result, indent=2))
        print(f"written {path}")
    if args.bench == "storage":
        result = storage.main()
        path = write_result("storage", result)
        print(json.dumps(result, indent=2))
        print(f"written {path}")
    if args.bench == "raft":
        result = raft.main()
        path = write_result("raft", result)
        print(json.dumps(result, indent=2))
        print(f"written {path}")


if __name__ == "__main__":
    main()
