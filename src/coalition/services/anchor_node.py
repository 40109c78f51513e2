"""A SIMULATED local Ethereum chain for Chronicle anchors (development and tests only).

``python -m coalition.services.anchor_node --port P --out anchor.json`` starts an
in-memory eth-tester chain (py-evm), answers Ethereum JSON-RPC over HTTP on
127.0.0.1:P, deploys the ChronicleAnchor contract with a funded test account and
writes ``{"simulated": true, "url", "contract", "private_key", "chain_id", "pid"}``
to the ``--out`` file (mode 0600: it holds the account's key), then serves until
SIGTERM / SIGINT. ``EvmAnchor.json_rpc(url, contract, key)`` talks to it exactly as
to a real node, so `coalition up` exercises the JSON-RPC path end to end.

This is NOT a settlement layer: nothing is mined, nobody else validates, and the
chain lives in memory, so every start is a fresh chain (the same deployer and
nonce give the same contract address every time). Anchors recorded here prove
nothing to a third party; point ``coalition up --anchor`` at a real chain for that.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

from eth_abi.abi import encode as abi_encode

from ..bounded_read import read_bounded
from ..evm import EthereumTester, EthereumTesterProvider, TransactionFailed, Web3
from .anchor import deploy

__all__ = ["SIMULATED_LABEL", "AnchorNode", "AnchorNodeInfo", "main", "read_info", "write_info"]

log = logging.getLogger("coalition.services.anchor_node")

SIMULATED_LABEL: Final = "SIMULATED local chain (eth-tester, in memory; not a settlement layer)"
INFO_MODE: Final = 0o600
MAX_INFO_BYTES: Final = 64 * 1024
_ERROR_SELECTOR: Final = bytes.fromhex("08c379a0")  # Error(string)


@dataclass(frozen=True)
class AnchorNodeInfo:
    """What an anchoring client needs: where the node answers and which key may anchor."""

    url: str
    contract: str
    private_key: bytes
    chain_id: int
    simulated: bool = True

    def as_json(self) -> dict[str, Any]:
        return {
            "simulated": self.simulated,
            "label": SIMULATED_LABEL if self.simulated else self.url,
            "url": self.url,
            "contract": self.contract,
            "private_key": "0x" + self.private_key.hex(),
            "chain_id": self.chain_id,
            "pid": os.getpid(),
        }


def _revert_error(message: str) -> dict[str, Any]:
    """A revert as geth reports it (code 3, ``Error(string)`` data), so web3 shows the reason."""
    reason = message.removeprefix("execution reverted: ")
    data = _ERROR_SELECTOR + abi_encode(["string"], [reason])
    return {"code": 3, "message": f"execution reverted: {reason}", "data": "0x" + data.hex()}


class _JsonRpc(BaseHTTPRequestHandler):
    """Ethereum JSON-RPC over HTTP, answered by the in-process eth-tester chain."""

    w3: Any = None
    lock: threading.Lock = threading.Lock()

    def do_POST(self) -> None:
        body: Any = None
        try:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            # The tester provider's own middleware turns JSON-RPC hex params into the
            # Python values eth-tester takes, as it does for an in-process Web3.
            request = self.w3.provider.request_func(self.w3, self.w3.middleware_onion)
            with self.lock:  # eth-tester is not thread-safe; requests arrive concurrently
                response = request(body["method"], body.get("params", []))
            payload = json.loads(Web3.to_json(response))  # HexBytes/AttributeDict -> JSON
        except TransactionFailed as exc:
            payload = {"error": _revert_error(str(exc))}
        except Exception as exc:  # a malformed request must not kill the node
            payload = {"error": {"code": -32603, "message": str(exc)}}
        payload.setdefault("jsonrpc", "2.0")
        payload["id"] = body.get("id") if isinstance(body, dict) else None
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return


class AnchorNode:
    """The simulated chain, its HTTP JSON-RPC server and the deployed contract."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.tester = tester = EthereumTester()
        w3 = Web3(EthereumTesterProvider(tester))
        handler = type("JsonRpc", (_JsonRpc,), {"w3": w3, "lock": threading.Lock()})
        self.server = ThreadingHTTPServer((host, port), handler)
        self.server.daemon_threads = True
        self.url = f"http://{host}:{self.server.server_port}"
        self.private_key: bytes = tester.backend.account_keys[0].to_bytes()
        self.contract = deploy(w3, self.private_key)
        self.info = AnchorNodeInfo(self.url, self.contract, self.private_key, int(w3.eth.chain_id))
        self._thread: threading.Thread | None = None

    def start(self) -> AnchorNode:
        """Serve in a daemon thread (tests); `serve_forever` blocks instead (the process)."""
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join()
        self.server.server_close()

    def __enter__(self) -> AnchorNode:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_info(path: Path, info: AnchorNodeInfo) -> None:
    """Write atomically; the file is created 0600 (it holds the anchoring account's key)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, INFO_MODE)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(info.as_json(), fh, indent=1, sort_keys=True)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_info(path: Path) -> AnchorNodeInfo:
    """Read a file written by `write_info`; ValueError when incomplete or readable by others."""
    raw = json.loads(read_bounded(path, MAX_INFO_BYTES, private=True))  # it holds a key
    try:
        return AnchorNodeInfo(
            str(raw["url"]),
            str(raw["contract"]),
            bytes.fromhex(str(raw["private_key"]).removeprefix("0x")),
            int(raw["chain_id"]),
            bool(raw.get("simulated", False)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: not an anchor node file ({exc!r})") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m coalition.services.anchor_node",
        description="A SIMULATED local JSON-RPC chain with the ChronicleAnchor contract.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--out", type=Path, required=True, help="where to write anchor.json")
    parser.add_argument(
        "--exit-with-parent",
        action="store_true",
        help="stop when the parent process (the coalition supervisor) goes away",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s anchor %(levelname)s %(message)s")
    try:
        node = AnchorNode(args.host, args.port)
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", args.host, args.port, exc)
        return 1
    stopping = threading.Event()

    def stop(signum: int, frame: object) -> None:
        if not stopping.is_set():
            stopping.set()
            # shutdown() waits for serve_forever, so it must run on another thread
            threading.Thread(target=node.server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.exit_with_parent:
        parent = os.getppid()

        def watch() -> None:  # a killed supervisor must not leave a node holding the port
            while not stopping.wait(0.5):
                if os.getppid() != parent:
                    log.warning("parent %d went away; stopping", parent)
                    stop(signal.SIGTERM, None)

        threading.Thread(target=watch, daemon=True).start()
    write_info(args.out, node.info)
    log.info(
        "%s: JSON-RPC on %s, ChronicleAnchor at %s, chain id %d; info in %s",
        SIMULATED_LABEL,
        node.url,
        node.contract,
        node.info.chain_id,
        args.out,
    )
    try:
        node.server.serve_forever(poll_interval=0.2)
    finally:
        node.server.server_close()
        with contextlib.suppress(OSError, ValueError):
            # only our own file: a newer node may already have replaced it
            if json.loads(args.out.read_text("utf-8")).get("pid") == os.getpid():
                args.out.unlink()
        log.info("stopped; the simulated chain and its anchors are gone")
    return 0


if __name__ == "__main__":
    sys.exit(main())
