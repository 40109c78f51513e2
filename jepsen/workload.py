"""The workload client, run inside its own namespace: ``python -m jepsen.workload CONFIG``.

Worker tasks upsert Atlas cards (several workers per key, versions drawn from a shared
counter per key so that concurrent upserts race and some are refused as stale) and append
Chronicle entries; readers follow the Chronicle and the Almanac. Every operation is written
to the history file as it is invoked and completed (a killed client leaves a valid prefix).
When the runner creates the ``final`` file (faults healed, the cluster settled) the client
stops writing, reads every Atlas key once more and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import sys
import time
from pathlib import Path

import msgspec

from coalition.config_file import load_coalition
from coalition.framework.errors import ConnectTimeout, OrganismError, Refused
from coalition.runtime.files import read_key
from coalition.runtime.hosts import parse_peer
from coalition.services.atlas import MemberCard, member_cards
from coalition.services.chronicle_log import Other
from coalition.services.committees import Almanac, Atlas, Chronicle
from pymosaik.network import Network
from pymosaik.primitives import UNIVERSE

from .history import Event, Kind

SEED_VERSION = 1  # the committee seeds every card at version 1 (atlas.member_cards)


class WorkloadConfig(msgspec.Struct, frozen=True):
    coalition: str
    operator_key: str
    listen: str
    peers: list[str]
    history: str
    final_flag: str
    seed: int = 0
    workers_per_key: int = 2
    appenders: int = 2
    op_timeout_s: float = 5.0
    pause_s: float = 0.1


class Recorder:
    def __init__(self, path: Path) -> None:
        self._fh = path.open("ab", buffering=0)
        self._ids = itertools.count(1)
        self._enc = msgspec.json.Encoder()

    def write(self, event: Event) -> None:
        self._fh.write(self._enc.encode(event) + b"\n")

    def invoke(self, process: str, f: str, key: str | None, value: int | None) -> int:
        op = next(self._ids)
        self.write(Event(process, "invoke", f, time.monotonic(), op, key, value))
        return op

    def observe(self, f: str, value: int, note: str | None, epoch: int) -> None:
        self.write(Event("reader", "ok", f, time.monotonic(), 0, None, value, note, epoch))

    def complete(
        self,
        op: int,
        process: str,
        type_: Kind,
        f: str,
        *,
        key: str | None = None,
        value: int | None = None,
        note: str | None = None,
    ) -> None:
        self.write(Event(process, type_, f, time.monotonic(), op, key, value, note))


class Client:
    def __init__(self, cfg: WorkloadConfig) -> None:
        self.cfg = cfg
        self.coalition = load_coalition(Path(cfg.coalition)).config
        self.operator = read_key(Path(cfg.operator_key))
        self.rec = Recorder(Path(cfg.history))
        self.rng = random.Random(cfg.seed)
        self.cards = {card.stable_id.hex()[:12]: card for card in member_cards(self.coalition)}
        self.next_version = dict.fromkeys(self.cards, SEED_VERSION + 1)
        self.stop = asyncio.Event()

    async def upserts(self, net: Network, worker: str, key: str) -> None:
        writer = Atlas.publish(net, self.coalition)
        base = self.cards[key]

        def done(op: int, outcome: Kind, note: str | None) -> None:
            self.rec.complete(op, worker, outcome, "upsert", key=key, value=version, note=note)

        try:
            while not self.stop.is_set():
                version = self.next_version[key]
                self.next_version[key] += 1
                card = MemberCard(base.role, base.stable_id, version)
                op = self.rec.invoke(worker, "upsert", key, version)
                try:
                    await writer.upsert(card.sign(self.operator), timeout_s=self.cfg.op_timeout_s)
                    self.rec.complete(op, worker, "ok", "upsert", key=key, value=version)
                except Refused as exc:
                    self.rec.complete(
                        op, worker, "fail", "upsert", key=key, value=version, note=str(exc)
                    )
                except (ConnectTimeout, OrganismError, OSError) as exc:
                    self.rec.complete(
                        op, worker, "info", "upsert", key=key, value=version, note=repr(exc)
                    )
                await asyncio.sleep(self.rng.uniform(0, self.cfg.pause_s))
        finally:
            await writer.close()

    async def appends(self, net: Network, worker: str) -> None:
        writer = Chronicle.publish(net, self.coalition, self.operator)
        try:
            for n in itertools.count():
                if self.stop.is_set():
                    break
                op = self.rec.invoke(worker, "append", None, n)
                try:
                    seq = await writer.record(
                        Other("jepsen", f"{worker}:{n}".encode()), timeout_s=self.cfg.op_timeout_s
                    )
                    self.rec.complete(op, worker, "ok", "append", value=seq)
                except Refused as exc:
                    self.rec.complete(op, worker, "fail", "append", note=str(exc))
                except (ConnectTimeout, OrganismError, OSError) as exc:
                    self.rec.complete(op, worker, "info", "append", note=repr(exc))
                await asyncio.sleep(self.rng.uniform(0, self.cfg.pause_s))
        finally:
            await writer.close()

    async def follow(self, net: Network, module: str) -> None:
        """Record every Chronicle entry / Almanac tick a reader sees (one epoch per reader)."""
        for epoch in itertools.count(1):
            if self.stop.is_set():
                return
            try:
                if module == "chronicle":
                    await self._follow_chronicle(net, epoch)
                else:
                    await self._follow_almanac(net, epoch)
            except (OrganismError, ConnectionError, OSError):
                await asyncio.sleep(0.5)

    async def _follow_chronicle(self, net: Network, epoch: int) -> None:
        async with Chronicle.read(net, self.coalition, timeout_s=10) as reader:
            entry = await reader.ready(drain=False)
            while not self.stop.is_set():
                now = time.monotonic()
                digest = entry.digest().hex()
                self.rec.write(
                    Event("reader", "ok", "chronicle", now, 0, None, entry.seq + 1, digest, epoch)
                )
                entry = await reader.next()

    async def _follow_almanac(self, net: Network, epoch: int) -> None:
        async with Almanac.read(net, self.coalition, timeout_s=10) as reader:
            tick = await reader.ready(drain=False)
            while not self.stop.is_set():
                now = time.monotonic()
                self.rec.write(
                    Event("reader", "ok", "almanac", now, 0, None, tick.seq, None, epoch)
                )
                tick = await reader.next()

    async def final_reads(self, net: Network) -> None:
        """One read per key, after the faults healed: the newest view the committee serves."""
        reader = Atlas.read(net, self.coalition, timeout_s=20)
        ops = {key: self.rec.invoke("final", "read", key, None) for key in self.cards}
        try:
            view = await reader.ready()
            for key, card in self.cards.items():
                got = view.card(card.stable_id)
                value = got.version if got is not None else None
                self.rec.complete(ops[key], "final", "ok", "read", key=key, value=value)
        except OrganismError as exc:
            for key, op in ops.items():
                self.rec.complete(op, "final", "fail", "read", key=key, note=repr(exc))
        finally:
            await reader.close()

    async def run(self) -> None:
        host, _, _ = self.cfg.listen.rpartition(":")
        peers = [parse_peer(p, self.coalition).endpoint for p in self.cfg.peers]
        net = await Network.create(UNIVERSE, host=host, port=0, bootstrap=peers)
        tasks = [
            asyncio.create_task(self.upserts(net, f"w{k}.{i}", key))
            for k, key in enumerate(self.cards)
            for i in range(self.cfg.workers_per_key)
        ]
        tasks += [
            asyncio.create_task(self.appends(net, f"a{i}")) for i in range(self.cfg.appenders)
        ]
        tasks += [asyncio.create_task(self.follow(net, m)) for m in ("chronicle", "almanac")]
        flag = Path(self.cfg.final_flag)
        while not flag.exists():
            await asyncio.sleep(0.2)
        self.stop.set()
        # in-flight operations end within their timeout; readers are cancelled
        await asyncio.wait(tasks, timeout=self.cfg.op_timeout_s + 2)
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(BaseException):
                await t
        await self.final_reads(net)
        await net.close()


def main(argv: list[str]) -> int:
    cfg = msgspec.json.decode(Path(argv[0]).read_bytes(), type=WorkloadConfig)
    asyncio.run(Client(cfg).run())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
