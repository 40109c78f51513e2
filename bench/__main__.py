"""Entry point: ``python -m bench streams`` (more benchmarks arrive with their subsystems)."""

from __future__ import annotations

import argparse
import json

from . import beacon, compute, keyed, raft, storage, streams, zipnet
from .common import write_result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    sub = parser.add_subparsers(dest="bench", required=True)
    s = sub.add_parser("streams", help="stream throughput/latency against NATS")
    s.add_argument("--systems", default="mosaik,nats", help="comma-separated: mosaik, nats")
    sub.add_parser("raft", help="committed commands/s against etcd and pysyncobj")
    sub.add_parser("beacon", help="threshold BLS round cost and verification vs raw blst")
    sub.add_parser("compute", help="requests cleared per second and submit-to-grant latency")
    z = sub.add_parser("zipnet", help="zipnet server cost vs AES-CTR, unseal vs libsodium, latency")
    z.add_argument("--sizes", default="10,100,1000", help="client counts, comma-separated")
    sub.add_parser("storage", help="the cost of the Raft storage checksums per entry")
    sub.add_parser("keyed", help="keyed surfaces: history-keeping apply, snapshot, delivery")
    args = parser.parse_args()
    if args.bench == "streams":
        result = streams.main(args.systems.split(","))
        path = write_result("streams", result)
        print(json.dumps(result, indent=2))
        print(f"written {path}")
    if args.bench == "compute":
        result = compute.main()
        path = write_result("compute", result)
        print(json.dumps(result, indent=2))
        print(f"written {path}")
    if args.bench == "beacon":
        result = beacon.main()
        path = write_result("beacon", result)
        print(json.dumps(result, indent=2))
        print(f"written {path}")
    if args.bench == "storage":
        result = storage.main()
        path = write_result("storage", result)
        print(json.dumps(result, indent=2))
        print(f"written {path}")
    if args.bench == "keyed":
        result = keyed.main()
        path = write_result("keyed", result)
        print(json.dumps(result, indent=2))
        print(f"written {path}")
    if args.bench == "zipnet":
        result = zipnet.main(tuple(int(x) for x in args.sizes.split(",")))
        path = write_result("zipnet", result)
        print(json.dumps(result, indent=2))
        print(f"written {path}")
    if args.bench == "raft":
        result = raft.main()
        path = write_result("raft", result)
        print(json.dumps(result, indent=2))
        print(f"written {path}")


if __name__ == "__main__":
    main()
