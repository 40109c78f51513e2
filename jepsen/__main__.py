"""``python -m jepsen run|check|cleanup`` (as root: it makes network namespaces)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from .checkers import CHECKERS
from .history import load
from .nemesis import FAULTS


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jepsen")
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="run one campaign and check its history")
    run.add_argument("--duration", type=float, default=30.0, help="seconds of faults")
    run.add_argument("--hosts", type=int, default=3, help="member hosts (namespaces)")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--faults", default=",".join(FAULTS), help="comma-separated subset")
    run.add_argument("--workdir", type=Path, default=Path("build/jepsen"))
    run.add_argument("--json", action="store_true", help="print the report as JSON")
    check = sub.add_parser("check", help="run the checkers over a recorded history.jsonl")
    check.add_argument("history", type=Path)
    check.add_argument("--json", action="store_true")
    clean = sub.add_parser("cleanup", help="remove namespaces and links a killed run left")
    clean.add_argument("--all", action="store_true", help="also those of runs still alive")
    args = parser.parse_args(argv)

    from .netns import cleanup_stale, netns_available  # noqa: PLC0415

    if args.cmd == "cleanup":
        done = cleanup_stale(everything=args.all)
        print(f"removed: {', '.join(done) if done else 'nothing'}")
        return 0
    if args.cmd == "check":
        history = load(args.history)
        violations = [v for c in CHECKERS.values() for v in c(history)]
        if args.json:
            print(json.dumps([{"checker": v.checker, "message": v.message} for v in violations]))
        else:
            for v in violations:
                print(f"[{v.checker}] {v.message}")
            print(f"{len(history)} events, {len(violations)} violation(s)")
        return 1 if violations else 0
    if (why := netns_available()) is not None:
        print(f"error: {why}", file=sys.stderr)
        return 2
    from .runner import Campaign, run_campaign  # noqa: PLC0415

    faults = tuple(f for f in args.faults.split(",") if f)
    if unknown := sorted(set(faults) - set(FAULTS)):
        print(f"error: unknown faults {unknown}; known: {', '.join(FAULTS)}", file=sys.stderr)
        return 2
    if args.hosts < 3:
        print("error: --hosts must be at least 3 (a committee has 3 seats)", file=sys.stderr)
        return 2
    campaign = Campaign(args.duration, args.hosts, args.seed, faults, workdir=args.workdir)
    report = run_campaign(campaign)
    print(json.dumps(report.as_json(), indent=1) if args.json else report.text())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
