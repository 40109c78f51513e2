"""The roadmap's integration tests, v0.3 and v0.4, with committee members in real processes.

Three node processes host every committee (modules, member organisms, the
correlator); the test process is the integrator, bound to the coalition only
through its CoalitionConfig (plus the member organisms' own Configs).
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from coalition import (
    AclClause,
    AclComposition,
    CoalitionConfig,
    OrganismConfig,
    OrganismRef,
    TicketIssuerConfig,
)
from coalition.framework import ConnectTimeout, evidence_digest
from coalition.modules import AlmanacConfig, AtlasConfig, ChronicleConfig, ModuleConfig, ModuleKind
from coalition.organism import LatticeConfig
from coalition.services.anchor import EvmAnchor
from coalition.services.chronicle_log import (
    ChronicleEntry,
    CoalitionPublished,
    MembershipChanged,
    check_against_anchor,
    check_against_archive,
)
from coalition.services.committees import Almanac, Atlas, Chronicle
from coalition.ticket_issuer import TicketIssuer
from organisms.correlator import Correlator
from organisms.feed import Feed, FeedItem
from pymosaik.discovery import DiscoveryConfig
from pymosaik.network import Network
from pymosaik.primitives import UNIVERSE, PeerId, SecretKey, UniqueId, decode, encode
from pymosaik.transport import EndpointAddr
from pymosaik.transport.ports import free_ports

NODE = Path(__file__).with_name("node.py")
DISC = DiscoveryConfig(announce_interval_ms=300, sync_interval_ms=500, ping_interval_ms=500)
OPERATOR_SEED = UniqueId.hash("roadmap coalition operator")
OPERATOR = SecretKey.from_id(OPERATOR_SEED)
ISSUER = SecretKey.from_id(UniqueId.hash("roadmap ticket issuer"))
LATTICE = LatticeConfig.derive("lattice-a")
ORACLE = OrganismRef.by_stable_id("oracle", UniqueId.hash("oracle organism"))
SCANNER = OrganismRef.by_stable_id("scanner", UniqueId.hash("scanner organism"))


def node_key(seed: str, index: int) -> SecretKey:
    return SecretKey.from_id(UniqueId.hash(f"{seed} node {index}"))


@asynccontextmanager
async def coalition_nodes(tmp: Path, spec: dict[str, Any]) -> AsyncIterator[list[EndpointAddr]]:
    """Start the 3 node processes; yield their addresses; SIGTERM them at the end."""
    spec = {**spec, "seed": tmp.name, "ports": free_ports(3), "data": str(tmp / "data")}
    spec["operator"] = OPERATOR_SEED.hex()
    path = tmp / "spec.json"
    path.write_text(json.dumps(spec))
    procs = [
        subprocess.Popen(
            [sys.executable, str(NODE), str(path), str(i)],
            stdout=subprocess.PIPE,
            stderr=(tmp / f"node{i}.log").open("w"),
            text=True,
        )
        for i in range(3)
    ]
    try:
        for p in procs:
            assert p.stdout is not None
            line = await asyncio.to_thread(p.stdout.readline)
            assert line.strip() == "ready", (tmp / "node0.log").read_text()[-2000:]
        yield [
            EndpointAddr.of(node_key(spec["seed"], i).peer_id, ("127.0.0.1", port))
            for i, port in enumerate(spec["ports"])
        ]
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


@asynccontextmanager
async def integrator(
    boot: list[EndpointAddr], key: SecretKey | None = None, **kw: Any
) -> AsyncIterator[Network]:
    net = await Network.create(secret_key=key, bootstrap=boot, discovery=DISC, **kw)
    try:
        yield net
    finally:
        await net.close()


def v03_coalition() -> CoalitionConfig:
    issuer_acl = AclComposition.all_of(AclClause.require_peer(ISSUER.peer_id.bytes))
    return CoalitionConfig(
        instance_name="roadmap-v03",
        lattices=[LATTICE],
        organisms=[ORACLE],
        atlas=AtlasConfig(ModuleConfig("atlas")),
        ticket_issuer=TicketIssuerConfig("issuer", issuer_acl),
    )


async def test_v03_integrator_binds_members_atlas_and_issuer(tmp_path: Path) -> None:
    cfg = v03_coalition()
    spec = {
        "coalition": cfg.to_hex(),
        "modules": ["atlas"],
        "feeds": ["lattice-a", "oracle"],  # the lattice stand-in and the standalone organism
        "gate_feeds": True,
    }
    async with coalition_nodes(tmp_path, spec) as boot:
        # The integrator holds nothing but the CoalitionConfig (and the members' own Configs).
        bound = CoalitionConfig.from_hex(cfg.to_hex())
        holder = SecretKey.generate()
        issuer = TicketIssuer.for_coalition(bound, ISSUER)
        ticket = issuer.issue(holder.peer_id, UNIVERSE, int(time.time() * 1000), 600_000)
        async with (
            integrator(boot) as anon,
            integrator(boot, holder, tickets=[ticket]) as net,
        ):
            atlas = Atlas.read(anon, bound, timeout_s=30)
            async with asyncio.timeout(40):
                view = await atlas.ready()
                while len(view.cards) < 2:
                    view = await atlas.next()
            cards = {c.card.stable_id: c for c in view.cards}
            assert set(cards) == {LATTICE.stable_id, ORACLE.stable_id}
            assert cards[LATTICE.stable_id].card.role == "lattice"
            assert cards[ORACLE.stable_id].card.role == "oracle"
            assert all(c.verify() and c.signer == OPERATOR.peer_id.bytes for c in cards.values())

            for name in ("lattice-a", "oracle"):
                feed = OrganismConfig(name)
                reader = Feed.read(anon, feed, timeout_s=30)
                writer = Feed.publish(net, feed)
                seq = await writer.post(f"hello from {name}".encode(), 7, timeout_s=30)
                async with asyncio.timeout(30):
                    item = await reader.ready(drain=False)
                    while item.seq != seq:
                        item = await reader.next()
                assert item.payload == f"hello from {name}".encode()
                await reader.close()
                await writer.close()
            # without a ticket from the coalition's issuer, nobody takes the write
            rogue = Feed.publish(anon, OrganismConfig("oracle"))
            with pytest.raises(ConnectTimeout):
                await rogue.post(b"spam", 8, timeout_s=3)
            await rogue.close()
            await atlas.close()


@asynccontextmanager
async def anchor_chain(tmp: Path) -> AsyncIterator[dict[str, str]]:
    """The simulated local EVM chain with the ChronicleAnchor contract, as its own process."""
    out = tmp / "anchor.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "coalition.services.anchor_node",
            "--port",
            str(free_ports(1)[0]),
            "--out",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp / "anchor.log").open("w"),
    )
    try:
        async with asyncio.timeout(60):
            while not out.exists():
                assert proc.poll() is None, (tmp / "anchor.log").read_text()
                await asyncio.sleep(0.1)
        info = json.loads(out.read_text())
        yield {
            "url": info["url"],
            "contract": info["contract"],
            "key": info["private_key"].removeprefix("0x"),
        }
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def v04_coalition(*members: OrganismRef) -> CoalitionConfig:
    return CoalitionConfig(
        instance_name="roadmap-v04",
        organisms=list(members),
        almanac=AlmanacConfig(ModuleConfig("almanac")),
        chronicle=ChronicleConfig(ModuleConfig("chronicle")),
    )


async def test_v04_correlation_membership_change_anchoring_and_tamper(tmp_path: Path) -> None:
    cfg = v04_coalition(ORACLE, SCANNER)
    correlator = OrganismConfig("correlator", organisms=(ORACLE, SCANNER))
    async with anchor_chain(tmp_path) as chain:
        spec = {
            "coalition": cfg.to_hex(),
            "modules": ["almanac", "chronicle"],
            "feeds": ["oracle", "scanner"],
            "correlator": {
                "name": "correlator",
                "spans": [["oracle", ORACLE.stable_id.hex()], ["scanner", SCANNER.stable_id.hex()]],
            },
            "anchor": chain,
            "cadence_ms": 500,
        }
        async with coalition_nodes(tmp_path, spec) as boot, integrator(boot) as net:
            # 1. a correlator aligns events from two members on Almanac ticks
            ticks = Almanac.read(net, cfg, timeout_s=30)
            alignments = Correlator.read(net, correlator, timeout_s=40)
            posted: dict[UniqueId, list[UniqueId]] = {ORACLE.stable_id: [], SCANNER.stable_id: []}
            for name, ref in (("oracle", ORACLE), ("scanner", SCANNER)):
                writer = Feed.publish(net, OrganismConfig(name))
                for i in range(2):
                    seq = await writer.post(f"{name} {i}".encode(), i, timeout_s=30)
                    item = FeedItem(seq, f"{name} {i}".encode(), i)
                    posted[ref.stable_id].append(evidence_digest(encode(item)))
                await writer.close()
            seen: dict[UniqueId, list[UniqueId]] = {k: [] for k in posted}
            tick_seqs = []
            async with asyncio.timeout(40):
                first_tick = await ticks.ready()
                al = await alignments.ready(drain=False)
                while True:
                    tick_seqs.append(al.tick)
                    for member, digests in al.events:
                        seen[member].extend(digests)
                    if seen == posted:
                        break
                    al = await alignments.next()
            assert tick_seqs == sorted(set(tick_seqs))
            assert first_tick.seq >= 1 and len(first_tick.observed_at) >= 2

            # 2. the coalition republishes with a new member; Chronicle records the transition
            newcomer = OrganismRef.by_stable_id("auditor", UniqueId.hash("auditor organism"))
            successor = cfg.replace(organisms=(ORACLE, SCANNER, newcomer))
            chronicle = Chronicle.read(net, cfg, timeout_s=30)
            writer = Chronicle.publish(net, cfg, OPERATOR)
            async with asyncio.timeout(40):
                entries = [await chronicle.ready(drain=False)]
                await writer.record(CoalitionPublished(successor.stable_id(), successor.to_bytes()))
                seq = await writer.record(
                    MembershipChanged(cfg.stable_id(), (newcomer.stable_id,), ())
                )
                while entries[-1].seq < seq:
                    entries.append(await chronicle.next())
            assert entries[0].kind == CoalitionPublished(cfg.stable_id(), cfg.to_bytes())
            assert isinstance(entries[-1].kind, MembershipChanged)
            assert [e.seq for e in entries] == list(range(seq + 1))

            # 3. ...and anchors it at the next cadence boundary
            anchor = EvmAnchor.json_rpc(
                chain["url"], chain["contract"], bytes.fromhex(chain["key"])
            )
            chronicle_id = cfg.module_root(ModuleKind.CHRONICLE)
            assert chronicle_id is not None
            async with asyncio.timeout(20):
                while (
                    latest := await asyncio.to_thread(anchor.latest, chronicle_id)
                ) is None or latest[0] < seq:
                    await asyncio.sleep(0.25)
            anchored = [(latest[0], latest[1])]
            assert check_against_anchor(entries, anchored) is None

            # 4. tampering with a stored entry is detected, by the anchor and by an archive
            store = tmp_path / "chronicle-archive.bin"
            store.write_bytes(encode(tuple(entries)))
            stored = list(decode(store.read_bytes(), tuple[ChronicleEntry, ...]))
            forged_kind = MembershipChanged(cfg.stable_id(), (UniqueId.hash("intruder"),), ())
            e = stored[seq]
            stored[seq] = ChronicleEntry(
                e.seq,
                forged_kind,
                e.coalition,
                e.prev,
                e.committed_at_ms,
                e.member_signatures,
                e.quorum_signatures,
            )
            store.write_bytes(encode(tuple(stored)))
            tampered = list(decode(store.read_bytes(), tuple[ChronicleEntry, ...]))
            report = check_against_anchor(tampered, anchored)
            assert report is not None and report.seq == seq
            committee = {node_key(tmp_path.name, i).peer_id.bytes for i in range(3)}
            signers = entries[seq].signers(entries[seq].quorum_signatures)
            assert len(signers & committee) >= 2  # sealed by a majority of the committee
            ex_member = PeerId(sorted(signers)[0])  # its signed archive is the witness
            by_archive = check_against_archive(tampered, entries, ex_member)
            assert by_archive is not None and by_archive.seq == seq
            for handle in (ticks, alignments, chronicle):
                await handle.close()
            await writer.close()
