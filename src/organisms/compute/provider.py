"""A real provider backend: runs a granted workload as a local process, under its limits.

The workload is a Python program identified by its content hash (the grant's ``content_hash``,
the request's ``pin``). ``handle`` follows the book's five steps: look the image up in the
provider's content store and check its hash (a mismatch aborts with no log); for a TDX grant,
check the guest's measurement against the grant's ``expected_mrtd`` and quote it (`attest`;
here the labelled SIMULATED TDX provider), a mis-bind never starting; seal the receipt to the
requester's one-time key; run the process with CPU-time and address-space limits and a
wall-clock deadline at ``valid_to``; then sign one ``ComputeLog`` with what it used. A run that
could not start (a mis-bind), or failed, still logs — with empty usage and ``completed =
False`` — so "tried but failed" is distinct from a provider that never answered.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import blake3

from coalition.crypto.reply import seal_to
from pymosaik.primitives import SecretKey, Wire, encode

from .attest import GuestQuoter, guest_quote
from .items import ComputeGrant, ComputeLog, LogBody, UsageMetrics

#: Largest workload image the store takes.
MAX_IMAGE = 16 * 1024 * 1024


class WorkloadStore:
    """Content-addressed images on disk: ``<dir>/<blake3 hex>``; every read re-checks the hash."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def put(self, image: bytes) -> bytes:
        if len(image) > MAX_IMAGE:
            raise ValueError(f"image is {len(image)} bytes, limit {MAX_IMAGE}")
        digest = blake3.blake3(image).digest()
        (self.root / digest.hex()).write_bytes(image)
        return digest

    def verified_path(self, pin: bytes) -> Path | None:
        """The image's path if present *and* its bytes still hash to ``pin``."""
        path = self.root / pin.hex()
        if not path.is_file() or path.stat().st_size > MAX_IMAGE:
            return None
        if blake3.blake3(path.read_bytes()).digest() != pin:
            return None
        return path


@dataclass(frozen=True)
class RunResult:
    exit_code: int
    cpu_seconds: float
    max_rss_mib: float
    wall_seconds: float
    expired: bool
    output: bytes


def run_workload(
    image: Path, *, cpu_millicores: int, ram_mib: int, deadline_s: float, workdir: Path
) -> RunResult:
    """Run ``python image`` with its limits; blocking (drivers call it in a thread).

    CPU time is capped at cores × wall budget (RLIMIT_CPU), memory at ``ram_mib`` of address
    space (RLIMIT_AS), and the process group is killed at the deadline.
    """
    cpu_budget = max(1, int(cpu_millicores / 1000 * deadline_s) + 1)
    mem = ram_mib * 1024 * 1024

    def limits() -> None:  # runs in the child, before exec
        os.setsid()
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_budget, cpu_budget))
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))

    start = time.monotonic()
    proc = subprocess.Popen(  # noqa: S603 - the image is content-verified
        [sys.executable, "-I", str(image)],
        cwd=workdir,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=limits,  # noqa: PLW1509 - limits must apply before exec
        env={"PATH": "/usr/bin:/bin"},
    )
    expired = threading.Event()

    def kill() -> None:
        expired.set()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    timer = threading.Timer(deadline_s, kill)
    timer.start()
    assert proc.stdout is not None
    output = proc.stdout.read(64 * 1024)
    proc.stdout.close()
    _, status, usage = os.wait4(proc.pid, 0)
    timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return RunResult(
        proc.returncode,
        usage.ru_utime + usage.ru_stime,
        usage.ru_maxrss / 1024,
        time.monotonic() - start,
        expired.is_set(),
        output,
    )


class Receipt(Wire, frozen=True):
    """What the requester gets, sealed to its one-time key: how to reach the workload and the
    guest's quote to check against ``expected_mrtd`` itself."""

    grant_id: bytes
    endpoint: str
    quote: bytes
    provider_signature: bytes


@dataclass(frozen=True)
class Handled:
    log: ComputeLog | None
    receipt: bytes | None
    reason: str
    run: RunResult | None = None


class LocalProvider:
    def __init__(
        self,
        key: SecretKey,
        provider_id: bytes,
        store: WorkloadStore,
        *,
        workdir: Path,
        tdx: GuestQuoter | None = None,
    ) -> None:
        self.key, self.provider_id, self.store = key, provider_id, store
        self.workdir, self.tdx = workdir, tdx

    def handle(self, grant: ComputeGrant, now_ms: int) -> Handled:
        if grant.provider != self.provider_id:
            return Handled(None, None, "not our grant")
        image = self.store.verified_path(grant.content_hash)
        if image is None:
            return Handled(None, None, "image missing or its hash does not match the pin")
        started = guest_quote(grant, self.tdx)
        if started.refused:  # never started: an empty-usage log says so, and no receipt
            body = LogBody(
                grant.request_id, self.provider_id, now_ms, now_ms, UsageMetrics(0, 0, 0), False
            )
            return Handled(ComputeLog.signed(self.key, body), None, started.refused)
        quote = started.quote
        receipt = Receipt(grant.request_id, f"local:{image.name[:16]}", quote, b"")
        receipt = Receipt(
            receipt.grant_id,
            receipt.endpoint,
            quote,
            self.key.sign(b"compute.receipt.v1|" + encode(receipt)),
        )
        sealed = seal_to(grant.reply_key, grant.request_id, encode(receipt))
        budget_s = max(0.0, (grant.valid_to_ms - now_ms) / 1000)
        run = run_workload(
            image,
            cpu_millicores=grant.cpu_millicores,
            ram_mib=grant.ram_mib,
            deadline_s=budget_s,
            workdir=self.workdir,
        )
        completed = run.exit_code == 0 and not run.expired
        usage = UsageMetrics(
            round(run.cpu_seconds),
            round(run.max_rss_mib * run.wall_seconds),
            0,
        )
        end = now_ms + int(run.wall_seconds * 1000)
        body = LogBody(
            grant.request_id,
            self.provider_id,
            now_ms,
            min(end, grant.valid_to_ms),
            usage,
            completed,
        )
        why = "completed" if completed else ("expired" if run.expired else f"exit {run.exit_code}")
        return Handled(ComputeLog.signed(self.key, body), sealed, why, run)
