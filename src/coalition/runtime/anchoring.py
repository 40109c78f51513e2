"""Where `coalition up`'s Chronicle anchors its sealed heads, and a patient anchor client.

Three modes, chosen per `up` run (not stored in the plan, which holds no secrets):

* ``simulated`` (default when the coalition ships a Chronicle): the supervisor runs
  ``python -m coalition.services.anchor_node`` — a SIMULATED in-memory chain — and the
  Chronicle members read ``DATA/anchor/anchor.json`` (url, contract, key; mode 0600);
* `ExternalAnchor` (``--anchor URL,CONTRACT,KEYFILE``): a real JSON-RPC chain where
  ChronicleAnchor is deployed and KEYFILE (hex, mode 0600) holds a funded account's key;
* ``None`` (``--no-anchor``): Chronicle does not anchor.

Every Chronicle member (and every leader after a failover) signs with the same account,
because the contract lets only the registering account anchor.

This module does not import web3 (the supervisor and the CLI use it); the client a
Chronicle member builds is in `runtime.anchor_client`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from .files import read_private_text

__all__ = [
    "ANCHOR_DIR",
    "ANCHOR_INFO",
    "ANCHOR_LOG",
    "AnchorMode",
    "ExternalAnchor",
    "parse_anchor_option",
    "read_private_key",
]

ANCHOR_DIR: Final = "anchor"
ANCHOR_INFO: Final = "anchor/anchor.json"
ANCHOR_LOG: Final = "anchor/anchor.log"
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


@dataclass(frozen=True)
class ExternalAnchor:
    """A ChronicleAnchor contract on a JSON-RPC node the operator runs or trusts."""

    url: str
    contract: str
    key_file: Path

    def as_args(self) -> list[str]:
        return ["--anchor", f"{self.url},{self.contract},{self.key_file}"]


#: "simulated" (the local anchor node), an external chain, or None (no anchoring).
AnchorMode = Literal["simulated"] | ExternalAnchor | None


def read_private_key(path: Path) -> bytes:
    """A 32-byte key in hex (``0x`` optional) from a file nobody else may read."""
    text = read_private_text(path).removeprefix("0x")
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise ValueError(f"{path}: not a hex private key") from None
    if len(key) != 32:
        raise ValueError(f"{path}: a private key has 32 bytes, got {len(key)}")
    return key


def parse_anchor_option(text: str) -> ExternalAnchor:
    """``URL,CONTRACT,KEYFILE`` → `ExternalAnchor`; ValueError names the bad part."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 3 or not all(parts):
        raise ValueError("expected URL,CONTRACT,KEYFILE")
    url, contract, key_file = parts
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"{url!r} is not an http(s) JSON-RPC URL")
    if not _ADDRESS.match(contract):
        raise ValueError(f"{contract!r} is not a contract address (0x + 40 hex digits)")
    path = Path(key_file).resolve()
    read_private_key(path)  # ValueError (UnreadableFileError) names the file and the problem
    return ExternalAnchor(url, contract, path)
