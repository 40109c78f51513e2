"""`coalition up` runs all five basic services of an example coalition — the Randomness and
Compute modules are entry-point plugins, Compute with its shuffle — and `coalition status
--json` shows the beacon's round and the Compute committee's figures, the shuffle's included;
a client outside the deployment (another process's network, joined through a member's address)
sends a sealed request through the shuffle and it lands."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest

from coalition.config_file import load_coalition
from coalition.modules import ModuleKind
from coalition.services.committee_access import committee_members
from organisms.compute.private import compute_shuffle
from organisms.shuffle_service import Shuffle
from pymosaik.network import Network
from pymosaik.primitives import PeerId
from pymosaik.transport import EndpointAddr
from tests.coalition_cli import start_up, status

BEACON = Path(__file__).parents[2] / "examples" / "coalitions" / "local-beacon.toml"

pytestmark = pytest.mark.slow


async def _send_through_the_shuffle(bootstrap: str, operator: str) -> str:
    """An outside client: joins through a member, seals a request, returns its landed outcome."""
    peer, addr = bootstrap.split("@")
    host, port = addr.rsplit(":", 1)
    cfg = load_coalition(BEACON).config
    shuffle = compute_shuffle(cfg)
    assert shuffle is not None
    member = EndpointAddr.of(PeerId.from_hex(peer), (host, int(port)))
    net = await Network.create(bootstrap=[member])
    try:
        # the committee's members are those whose seat tickets the operator signed
        members = committee_members(cfg, ModuleKind.COMPUTE, PeerId.from_hex(operator))
        client = await Shuffle.client(net, shuffle, timeout_s=30, producers=members)
        client.submit(b"a sealed hello from outside")
        async with asyncio.timeout(60):
            while (r := await client.receipt()).outcome != "landed":
                pass
        await client.close()
        return r.outcome
    finally:
        await net.close()


def test_up_runs_all_five_services_and_status_shows_the_beacon_round(tmp_path: Path) -> None:
    data = tmp_path / "beacon"
    log = (tmp_path / "up.log").open("w")
    up = start_up(BEACON, data, log)
    rows: dict[str, dict[str, object]] = {}
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            doc = status(data)
            rows = doc.get("committees", {}) if doc else {}  # type: ignore[assignment]
            figures = rows.get("randomness", {}).get("figures", {})
            shuffle = rows.get("compute", {}).get("figures", {})
            if (
                isinstance(figures, dict)
                and figures.get("beacon_round", 0) >= 2
                and isinstance(shuffle, dict)
                and shuffle.get("unseal_ready") == 1
            ):
                break
            time.sleep(1)
        # a client outside the deployment sends through Compute's shuffle; status counts it
        doc = status(data)
        first, operator = str(doc["bootstrap"][0]), str(doc["operator"])  # type: ignore[index]
        assert asyncio.run(_send_through_the_shuffle(first, operator)) == "landed"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            rows = status(data).get("committees", {})  # type: ignore[assignment]
            if rows.get("compute", {}).get("figures", {}).get("shuffle_finalized", 0) >= 1:
                break
            time.sleep(1)
    finally:
        up.send_signal(signal.SIGTERM)
        up.wait(timeout=60)
        log.close()
    assert up.returncode == 0, (tmp_path / "up.log").read_text()[-2000:]
    assert "not run here" not in (tmp_path / "up.log").read_text()  # every shipped module ran
    assert set(rows) == {"atlas", "almanac", "chronicle", "randomness", "compute"}
    assert rows["randomness"]["figures"]["beacon_round"] >= 2  # type: ignore[index]
    assert rows["compute"]["figures"]["compute_providers"] == 0  # type: ignore[index]
    # the module's shuffle ran its key generation and carried the outside client's request
    assert rows["compute"]["figures"]["unseal_ready"] == 1  # type: ignore[index]
    assert rows["compute"]["figures"]["unseal_lag"] == 0  # type: ignore[index]
    assert rows["compute"]["figures"]["shuffle_finalized"] >= 1  # type: ignore[index]
    assert len(list((data / "compute").rglob("unseal.seed"))) == 3
    assert len(list((data / "randomness").rglob("keygen.seed"))) == 3  # one per member
