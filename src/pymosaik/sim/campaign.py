"""Run many seeds and report: one summary line, plus seed and trace per failing seed."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .world import SeedResult, SimOptions, run_seed


@dataclass(frozen=True, slots=True)
class CampaignResult:
    seeds: int
    failing: tuple[SeedResult, ...]
    #: Per-key histories the linearizability search gave up on (neither pass nor fail).
    inconclusive: int = 0

    @property
    def violations(self) -> int:
        """Number of seeds that found at least one violation."""
        return len(self.failing)

    def summary(self) -> str:
        return f"seeds={self.seeds} violations={self.violations}"


def run_campaign(
    seeds: Iterable[int],
    options: SimOptions,
    *,
    stop_on_first: bool = False,
    on_result: Callable[[SeedResult], None] | None = None,
) -> CampaignResult:
    count = 0
    inconclusive = 0
    failing: list[SeedResult] = []
    for seed in seeds:
        result = run_seed(seed, options)
        count += 1
        inconclusive += result.stats.get("inconclusive", 0)
        if on_result is not None:
            on_result(result)
        if result.violations:
            failing.append(result)
            if stop_on_first:
                break
    return CampaignResult(count, tuple(failing), inconclusive)


def format_failure(result: SeedResult, options: SimOptions) -> str:
    unsafe = "".join(f" --unsafe {u}" for u in options.unsafe)
    lines = [
        f"seed {result.seed}: {len(result.violations)} violation(s); replay with "
        f"python -m pymosaik.sim raft --nodes {options.nodes}{unsafe} --seed {result.seed}"
    ]
    seen: set[str] = set()
    for v in result.violations:
        if v.kind in seen:
            continue
        seen.add(v.kind)
        lines.append(f"  [{v.time_ms} ms] {v.kind}: {v.detail}")
    lines.append("  trace before the first violation:")
    lines.extend(f"    {line}" for line in result.trace)
    return "\n".join(lines)
