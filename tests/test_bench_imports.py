"""The benchmarks still import after refactors (mypy and the suite do not otherwise load them)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
MODULES = ["streams", "raft", "storage", "beacon", "zipnet", "decode_guards", "raft_nodes"]


def test_every_benchmark_module_imports() -> None:
    code = "; ".join(f"import bench.{m}" for m in MODULES)
    done = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
