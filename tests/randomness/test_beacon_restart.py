"""A beacon member restarts from its disk and its seed file, and its share is still good.

Three members over real loopback links, each with its Raft log in SQLite and its key-generation
seed in a 0600 file. Member 3 restarts: it replays its log, recomputes the same key share from
its seed, and when member 1 then stops for good the beacon keeps producing verified rounds at
2 of 3 — which needs member 3's partials, so its share really came back."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from coalition.crypto.beacon import Scheme, verify_tick
from coalition.framework.core_host import CoreHost
from coalition.keygen import Deadlines, KeygenSecrets
from coalition.runtime.files import load_or_create_seed
from organisms.randomness.items import RandomnessConfig
from organisms.randomness.machine import BeaconMachine
from organisms.randomness.member import BeaconMemberCore
from pymosaik.groups.driver import Group, Groups
from pymosaik.groups.raft import RaftConfig
from pymosaik.groups.storage.sqlite import SqliteStorage
from pymosaik.primitives import SecretKey, UniqueId, encode
from pymosaik.transport.config import EndpointAddr

FAST_DKG = Deadlines(dealing_ms=2_000, complaints_ms=300, justification_ms=300)
SECRET = UniqueId.from_parts("restart.beacon.committee")


class Seat:
    """One member: its group, replica, core and host, restartable from ``data``."""

    def __init__(
        self, index: int, key: SecretKey, groups: Groups, addrs: list[EndpointAddr], data: Path
    ) -> None:
        self.index, self.key, self.groups, self.addrs, self.data = index, key, groups, addrs, data
        self.machine: BeaconMachine
        self.core: BeaconMemberCore
        self.group: Group
        self.host: CoreHost[BeaconMachine, object]

    def start(self, cfg: RandomnessConfig, peers: list[SecretKey]) -> None:
        self.machine = BeaconMachine(cfg, [k.peer_id for k in peers])
        self.group = (
            self.groups.with_key(SECRET)
            .with_state_machine(self.machine)
            .with_members(self.addrs)
            .with_storage(SqliteStorage(self.data / f"{self.index}.db"))
            .with_config(RaftConfig.loopback())
            .join()
        )
        seed = load_or_create_seed(self.data / f"{self.index}.seed")
        session = self.machine.keygen.params.session
        self.core = BeaconMemberCore(
            self.index,
            self.key,
            scheme=Scheme.UNCHAINED_G1,
            secrets=KeygenSecrets.from_seed(seed, session),
            deadlines=FAST_DKG,
        )
        self.host = CoreHost(self.group, self.machine, self.core, encode)  # type: ignore[arg-type]
        self.host.start()

    async def stop(self) -> None:
        await self.host.aclose()
        await self.group.close()


async def wait_for(cond, timeout_s: float) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout_s):
        while not cond():
            await asyncio.sleep(0.1)


async def test_a_restarted_beacon_member_keeps_its_share(group_nodes, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    nodes = await group_nodes(3)
    keys = [SecretKey.generate() for _ in nodes]
    genesis = int(time.time() * 1000) + 3_000
    cfg = RandomnessConfig("restart.beacon", 2, 3, Scheme.UNCHAINED_G1.value, 400, genesis)
    addrs = [ep.addr for ep, _ in nodes]
    seats = [Seat(i + 1, keys[i], g, addrs, tmp_path) for i, (_, g) in enumerate(nodes)]
    for s in seats:
        s.start(cfg, keys)
    try:
        await wait_for(lambda: min(len(s.machine.ticks) for s in seats) >= 2, 30)
        before = seats[2].core.share
        assert before is not None

        await seats[2].stop()
        seats[2].start(cfg, keys)  # a fresh replica and core: log from SQLite, seed from file
        await wait_for(lambda: seats[2].core.share is not None, 15)
        after = seats[2].core.share
        assert after is not None and after.secret == before.secret

        await seats[0].stop()  # from now on every round needs member 3's partial
        survivors = seats[1:]
        start = max(t.round for t in survivors[0].machine.ticks)
        await wait_for(
            lambda: min(max(t.round for t in s.machine.ticks) for s in survivors) >= start + 3, 20
        )
        card = survivors[0].machine.card()
        assert card is not None
        later = [t for t in survivors[0].machine.ticks if t.round > start]
        assert len(later) >= 3
        assert all(verify_tick(Scheme.UNCHAINED_G1, card.group_key, t) for t in later)
        assert [t.round for t in later] == list(range(start + 1, start + 1 + len(later)))
    finally:
        for s in seats[1:]:
            await s.stop()
