"""One coalition node as an OS process, for the roadmap's integration tests.

``python node.py SPEC.json INDEX`` joins the network on its planned port and
runs, as committee member INDEX of 3: the module committees the spec names,
Feed organisms (optionally gated by the coalition's ticket issuer) and a
Correlator. It prints ``ready`` once started and runs until SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

from coalition import CoalitionConfig, OrganismConfig, OrganismRef
from coalition.modules import ModuleKind
from coalition.services.anchor import EvmAnchor
from coalition.services.committees import start_member
from coalition.ticket_issuer import recognise_coalition_issuer
from organisms.correlator import Correlator
from organisms.feed import Feed
from pymosaik.groups.raft import RaftConfig
from pymosaik.network import Network
from pymosaik.primitives import SecretKey, UniqueId
from pymosaik.transport import EndpointAddr

RAFT = RaftConfig(
    heartbeat_interval_ms=100,
    heartbeat_jitter_ms=20,
    election_timeout_ms=600,
    election_jitter_ms=300,
    bootstrap_delay_ms=200,
    forward_timeout_ms=2000,
    query_timeout_ms=2000,
)


def node_key(spec: dict[str, Any], index: int) -> SecretKey:
    return SecretKey.from_id(UniqueId.hash(f"{spec['seed']} node {index}"))


def addrs(spec: dict[str, Any]) -> list[EndpointAddr]:
    return [
        EndpointAddr.of(node_key(spec, i).peer_id, ("127.0.0.1", port))
        for i, port in enumerate(spec["ports"])
    ]


async def run(spec: dict[str, Any], index: int) -> None:
    coalition = CoalitionConfig.from_hex(spec["coalition"])
    operator = SecretKey.from_id(UniqueId.from_hex(spec["operator"]))
    committee = addrs(spec)
    others = [a for i, a in enumerate(committee) if i != index]
    net = await Network.create(
        secret_key=node_key(spec, index), port=spec["ports"][index], bootstrap=others
    )
    data = Path(spec["data"]) / str(index)
    anchor = None
    if spec.get("anchor"):
        a = spec["anchor"]
        anchor = EvmAnchor.json_rpc(a["url"], a["contract"], bytes.fromhex(a["key"]))
    running: list[Any] = []
    for kind in spec.get("modules", []):
        running.append(
            await start_member(
                ModuleKind(kind),
                net,
                coalition,
                committee=committee,
                operator_key=operator,
                data_dir=data / kind,
                cadence_ms=spec.get("cadence_ms", 500),
                anchor=anchor if kind == "chronicle" else None,
                raft=RAFT,
            )
        )
    writers = recognise_coalition_issuer(coalition) if spec.get("gate_feeds") else None
    for name in spec.get("feeds", []):
        running.append(
            Feed.member(
                net,
                OrganismConfig(name),
                committee,
                writers=writers,
                data_dir=data / f"feed-{name}",
                raft=RAFT,
            )
        )
    if corr := spec.get("correlator"):
        refs = tuple(OrganismRef.by_stable_id(n, UniqueId.from_hex(s)) for n, s in corr["spans"])
        spans = {UniqueId.from_hex(s): OrganismConfig(n) for n, s in corr["spans"]}
        cfg = OrganismConfig(corr["name"], organisms=refs)
        running.append(
            Correlator.member(net, cfg, committee, spans=spans, coalition=coalition, raft=RAFT)
        )
    print("ready", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    for r in running:
        await r.close()
    await net.close()


if __name__ == "__main__":
    spec = json.loads(Path(sys.argv[1]).read_text())
    asyncio.run(run(spec, int(sys.argv[2])))
