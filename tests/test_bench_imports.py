"""The benchmarks still import after refactors (mypy and the suite do not otherwise load them).

The peers they measure against come with the ``bench`` extra (nats-py, pysyncobj); a module
that only lacks one of those is fine here, anything else is a broken import.
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
MODULES = [
    "streams",
    "raft",
    "storage",
    "beacon",
    "zipnet",
    "compute",
    "decode_guards",
    "raft_nodes",
    "keyed",
]


EXTRAS = ("No module named 'nats'", "No module named 'pysyncobj'")


def test_every_benchmark_module_imports() -> None:
    for module in MODULES:
        done = subprocess.run(
            [sys.executable, "-c", f"import bench.{module}"],
            check=False,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            last = done.stderr.strip().splitlines()[-1]
            assert any(extra in last for extra in EXTRAS), (module, done.stderr[-2000:])
