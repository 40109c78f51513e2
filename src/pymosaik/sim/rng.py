"""Seeded random streams: the simulator's only source of randomness."""

from __future__ import annotations

import random


def seeded(seed: int | str) -> random.Random:
    """A reproducible PRNG (determinism, not secrecy: never use it for keys)."""
    return random.Random(seed)  # noqa: S311
