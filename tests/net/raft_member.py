"""A group member process for the kill -9 test: writes steadily, records acknowledged writes.

argv: index, comma-separated ports of all members, data directory, and optionally the
snapshot threshold (default: RaftConfig's). At the end it dumps its map and how many
snapshots it installed from the leader (``restores-<index>.txt``).
"""

import asyncio
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

from pymosaik.groups.driver import GroupError, Groups
from pymosaik.groups.map_machine import MapCommand, MapMachine, MapOp
from pymosaik.groups.raft import RaftConfig
from pymosaik.groups.storage.sqlite import SqliteStorage
from pymosaik.primitives import UNIVERSE, SecretKey, UniqueId, encode
from pymosaik.transport import Endpoint, EndpointAddr

FAST = RaftConfig.loopback()


class CountingMap(MapMachine):
    restores = 0

    def restore(self, data: bytes) -> None:
        self.restores += 1
        super().restore(data)


async def main() -> None:
    index, ports, data = (
        int(sys.argv[1]),
        [int(p) for p in sys.argv[2].split(",")],
        Path(sys.argv[3]),
    )
    keys = [SecretKey.from_id(UniqueId.from_u8(i + 1)) for i in range(len(ports))]
    addrs = [EndpointAddr.of(k.peer_id, ("127.0.0.1", p)) for k, p in zip(keys, ports, strict=True)]
    acks = data / f"acks-{index}.txt"
    seq = len(acks.read_text().splitlines()) if acks.exists() else 0
    config = replace(FAST, snapshot_threshold=int(sys.argv[4])) if len(sys.argv) > 4 else FAST
    machine = CountingMap()
    async with Endpoint(keys[index], UNIVERSE, port=ports[index]) as ep:
        groups = Groups(ep)
        group = groups.join(
            UniqueId.hash("kill9 group"),
            machine,
            addrs,
            storage=SqliteStorage(data / f"{index}.db"),
            config=config,
        )
        local_restores = machine.restores  # its own snapshot, loaded at start
        client = f"writer-{index}".encode()
        with acks.open("a") as out:
            while not (data / "stop").exists():
                (data / f"leader-{index}").write_text("1" if group.is_leader else "0")
                key = f"{index}-{seq}".encode()
                cmd = encode(MapCommand(client, seq + 1, MapOp.PUT, key, str(seq).encode()))
                try:
                    await asyncio.wait_for(group.execute(cmd), 2.0)
                except (GroupError, TimeoutError):
                    await asyncio.sleep(0.05)
                    continue
                out.write(f"{key.decode()} {seq}\n")
                out.flush()
                os.fsync(out.fileno())
                seq += 1
        # Settle: wait until this member has applied everything it knows committed.
        for _ in range(200):
            await asyncio.sleep(0.05)
            node = group.node
            if node.leader is not None and node.applied_index >= node.commit_index:
                break
        await asyncio.sleep(1.0)
        dump = {k.decode(): v.decode() for k, v in machine.items.items()}
        (data / f"dump-{index}.json").write_text(json.dumps(dump))
        (data / f"restores-{index}.txt").write_text(str(machine.restores - local_restores))
        await groups.aclose()


if __name__ == "__main__":
    asyncio.run(main())
