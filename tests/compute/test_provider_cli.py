"""``coalition provider``: its one-line errors, and the whole private path as processes — `coalition
up` runs the Compute committee (with its shuffle and reply board), `coalition provider run`
registers and serves, a requester outside both pays on a chain node, sends its sealed request
through the shuffle and opens the provider's receipt from the members' reply board."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from coalition.crypto.reply import ReplyTicket
from coalition.modules import ModuleKind
from coalition.runtime.files import load_or_create_seed
from coalition.runtime.plan import load_plan
from coalition.services.committee_access import committee_members
from organisms.compute.items import ComputeRequest, provider_id, request_id
from organisms.compute.private import compute_replies, compute_shuffle
from organisms.compute.provider import Receipt
from organisms.reply_board import ReplyBoard
from organisms.shuffle_service import Shuffle
from pymosaik.network import Network
from pymosaik.primitives import PeerId, SecretKey, UniqueId, decode, encode
from tests.coalition_cli import cli, start_up, status, up_env
from tests.compute.conftest import pay

PAYEE = "7e" * 20
BEACON = Path(__file__).parents[2] / "examples" / "coalitions" / "local-beacon.toml"
WORKLOAD = "print(sum(range(1000)))\n"


def coalition_file(tmp_path: Path, rpc: str) -> Path:
    path = tmp_path / "provider-cli.toml"
    path.write_text(
        f"""instance_name = "provider-cli.demo"

[[lattices]]
instance_name = "provider-cli.lattice"

[compute]
name = "provider-cli.compute"

[compute.content.params]
settlement_contract = "0x{PAYEE}"
settlement_rpc = "{rpc}"
shuffle = true
shuffle_period_ms = 300
""",
        "utf-8",
    )
    return path


def test_add_prints_the_pin_and_mistakes_are_one_line(tmp_path: Path) -> None:
    workload = tmp_path / "wl.py"
    workload.write_text(WORKLOAD)
    store = tmp_path / "store"
    added = cli("provider", "add", str(workload), "--store", str(store), "--json")
    assert added.returncode == 0, added.stderr
    pin = json.loads(added.stdout)["pin"]
    assert (store / pin).exists() or any(store.rglob(pin + "*"))
    for args, says in [
        (("provider", "add", str(tmp_path / "none.py"), "--store", str(store)), "none.py"),
        (("provider", "run", "--key", str(tmp_path / "k"), "--store", str(store)), "--data"),
        (
            (
                "provider",
                "run",
                str(BEACON),
                "--key",
                str(tmp_path / "k"),
                "--store",
                str(store),
                "--bootstrap",
                "nonsense",
            ),
            "PEER@HOST:PORT",
        ),
        (
            (
                "provider",
                "run",
                "--data",
                str(tmp_path / "nowhere"),
                "--key",
                str(tmp_path / "k"),
                "--store",
                str(store),
            ),
            "nowhere",
        ),
    ]:
        res = cli(*args)
        assert res.returncode == 2, (args, res.stdout, res.stderr)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], lines
        assert "Traceback" not in res.stderr


async def _request_privately(data: Path, rpc: str, node: dict[str, object], pin: bytes) -> Receipt:
    """A requester outside the deployment: pays, sends through the shuffle, opens its receipt."""
    plan = load_plan(data)
    cfg = plan.coalition()
    shuffle, board = compute_shuffle(cfg), compute_replies(cfg)
    assert shuffle is not None and board is not None
    seats = [p.endpoint() for p in plan.committee(ModuleKind.COMPUTE)]
    net = await Network.create(UniqueId.from_hex(plan.network_id), bootstrap=seats)
    replies = ReplyBoard.read(net, board, seats)
    client = None
    try:
        key, chain = str(node["private_key"]), int(str(node["chain_id"]))
        tx, status = await asyncio.to_thread(pay, rpc, key, chain, bytes.fromhex(PAYEE), 10**9)
        assert status == 1
        secret = X25519PrivateKey.generate()
        req = ComputeRequest(
            b"\x01" * 32, pin, 60, 1000, 512, False, "eu", 10**9, tx,
            int(time.time() * 1000) + 120_000, secret.public_key().public_bytes_raw(),
        )  # fmt: skip
        members = committee_members(cfg, ModuleKind.COMPUTE, PeerId.from_hex(plan.operator_peer_id))
        client = await Shuffle.client(net, shuffle, timeout_s=60, producers=members)
        client.submit(encode(req))
        rid = request_id(req)
        sealed = await replies.reply(ReplyTicket(rid, secret), timeout_s=90)
        return decode(sealed, Receipt)
    finally:
        for h in (client, replies):
            if h is not None:
                await h.close()
        await net.close()


@pytest.mark.slow
def test_up_and_a_provider_process_serve_a_private_request(
    tmp_path: Path, node: dict[str, object]
) -> None:
    rpc = str(node["url"])
    file = coalition_file(tmp_path, rpc)
    data, store, key = tmp_path / "data", tmp_path / "store", tmp_path / "provider.key"
    workload = tmp_path / "wl.py"
    workload.write_text(WORKLOAD)
    added = cli("provider", "add", str(workload), "--store", str(store))
    assert added.returncode == 0, added.stderr
    pin = bytes.fromhex(added.stdout.strip())
    up_log = (tmp_path / "up.log").open("w")
    up = start_up(file, data, up_log)
    provider = None
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            rows = status(data).get("committees", {})
            if rows.get("compute", {}).get("figures", {}).get("unseal_ready") == 1:  # type: ignore[attr-defined]
                break
            time.sleep(1)
        else:
            pytest.fail("the Compute committee's shuffle never got its key")
        provider = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "coalition",
                "provider",
                "run",
                "--data",
                str(data),
                "--key",
                str(key),
                "--store",
                str(store),
                "--region",
                "eu",
                "--json",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=up_env(),
        )
        assert provider.stdout is not None
        first = json.loads(provider.stdout.readline())
        assert first["event"] == "registered", first
        receipt = asyncio.run(_request_privately(data, rpc, node, pin))
        assert receipt.endpoint.startswith("local:") and receipt.provider_signature
        served = json.loads(provider.stdout.readline())
        assert served["event"] == "grant" and served["reason"] == "completed", served
        assert served["grant"] == receipt.grant_id.hex()
        own = SecretKey(load_or_create_seed(key)).peer_id.bytes  # the key file it created
        assert first["provider"] == provider_id(own).hex()
    finally:
        if provider is not None:
            provider.terminate()
            provider.wait(timeout=30)
        subprocess.run([sys.executable, "-m", "coalition", "down", "--data", str(data)],
                       capture_output=True, timeout=90, check=False)  # fmt: skip
        up.wait(timeout=60)
        up_log.close()
    assert provider.returncode == 0, provider.stderr.read() if provider.stderr else ""
