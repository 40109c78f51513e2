"""One campaign runner for every seeded simulator: Raft, streams and the higher layers'.

A campaign runs seeds, reports each failing seed as it is found (with the command
that replays it), sums the seeds' stats, and ends with one summary line
``seeds=N violations=V … time=Ts``; the exit code is 1 when any seed failed.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sized
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar


class SeedOutcome(Protocol):
    """What a simulator returns for one seed."""

    @property
    def seed(self) -> int: ...

    @property
    def violations(self) -> Sized: ...

    @property
    def stats(self) -> Mapping[str, int]: ...


R = TypeVar("R", bound=SeedOutcome)


@dataclass(frozen=True, slots=True)
class CampaignResult(Generic[R]):
    seeds: int
    failing: tuple[R, ...]
    #: Every seed's stats, summed.
    totals: Counter[str] = field(default_factory=Counter)

    @property
    def violations(self) -> int:
        """Number of seeds that found at least one violation."""
        return len(self.failing)

    def summary(self) -> str:
        return f"seeds={self.seeds} violations={self.violations}"


def _no_footer(totals: Counter[str]) -> list[str]:
    return []


@dataclass(frozen=True, slots=True)
class Campaign(Generic[R]):
    """A simulator's seed function and how its campaign reports."""

    run_seed: Callable[[int], R]
    #: One failing seed's report, the replay command included.
    describe: Callable[[R], str]
    #: Lines printed before the summary (coverage, notes), from the summed stats.
    footer: Callable[[Counter[str]], list[str]] = _no_footer
    #: Put every summed stat on the summary line.
    totals_in_summary: bool = False

    def run(
        self,
        seeds: Iterable[int],
        *,
        stop_on_first: bool = False,
        on_result: Callable[[R], None] | None = None,
    ) -> CampaignResult[R]:
        count = 0
        failing: list[R] = []
        totals: Counter[str] = Counter()
        for seed in seeds:
            result = self.run_seed(seed)
            count += 1
            totals.update(result.stats)
            if on_result is not None:
                on_result(result)
            if len(result.violations):
                failing.append(result)
                if stop_on_first:
                    break
        return CampaignResult(count, tuple(failing), totals)

    def cli(self, args: argparse.Namespace) -> int:
        """:meth:`main` with the options of :func:`add_seed_arguments`."""
        return self.main(
            chosen_seeds(args), stop_on_first=args.stop_on_first, progress=args.progress
        )

    def main(
        self, seeds: Iterable[int], *, stop_on_first: bool = False, progress: bool = False
    ) -> int:
        """Run and print: a line per seed with ``progress``, each failure, the summary."""
        started = time.perf_counter()

        def show(result: R) -> None:
            if progress:
                state = "FAIL" if len(result.violations) else "ok"
                stats = " ".join(f"{k}={v}" for k, v in result.stats.items())
                print(f"seed {result.seed}: {state} {stats}", flush=True)
            if len(result.violations):
                print(self.describe(result), flush=True)

        outcome = self.run(seeds, stop_on_first=stop_on_first, on_result=show)
        for line in self.footer(outcome.totals):
            print(line)
        stats = "".join(f" {k}={v}" for k, v in sorted(outcome.totals.items()))
        summary = outcome.summary() + (stats if self.totals_in_summary else "")
        print(f"{summary} time={time.perf_counter() - started:.1f}s", flush=True)
        return 1 if outcome.violations else 0


def add_seed_arguments(parser: argparse.ArgumentParser, *, seeds: int) -> None:
    """The seed options every campaign command takes."""
    parser.add_argument("--seeds", type=int, default=seeds, help="number of seeds to run")
    parser.add_argument("--start", type=int, default=0, help="first seed of the range")
    parser.add_argument("--seed", type=int, default=None, help="run (replay) only this seed")
    parser.add_argument("--stop-on-first", action="store_true")
    parser.add_argument("--progress", action="store_true", help="print one line per seed")


def chosen_seeds(args: argparse.Namespace) -> list[int]:
    """The seeds :func:`add_seed_arguments`'s options select."""
    if args.seed is not None:
        return [args.seed]
    return list(range(args.start, args.start + args.seeds))
