"""The anchor client of a Chronicle member process (imports web3: Chronicle members only).

It only finds the chain: the simulated node's ``anchor.json`` (waited for) or an
external ``--anchor``. Surviving what a local run meets — a node still starting
or restarted (a fresh chain forgets registrations and heads), transient HTTP
errors, a head an earlier leader already landed — is the Chronicle's own
anchoring loop's job (`ChronicleMember.anchor_heads`), for every anchor alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Final

from ..services.anchor import EvmAnchor
from ..services.anchor_node import read_info
from .anchoring import ExternalAnchor, read_private_key
from .plan import PlanError

__all__ = ["ANCHOR_WAIT_S", "open_anchor"]

log = logging.getLogger("coalition.runtime.anchor_client")

#: How long a Chronicle member waits for the simulated anchor node's ``anchor.json``.
ANCHOR_WAIT_S: Final = 60.0


async def open_anchor(source: Path | ExternalAnchor, stop: asyncio.Event) -> EvmAnchor | None:
    """The JSON-RPC anchor client for ``source``; waits for a simulated node's info file."""
    if isinstance(source, ExternalAnchor):
        try:
            key = read_private_key(source.key_file)
        except (OSError, ValueError) as exc:
            raise PlanError(f"--anchor key file: {exc}") from None
        return EvmAnchor.json_rpc(source.url, source.contract, key)
    deadline = asyncio.get_running_loop().time() + ANCHOR_WAIT_S
    while True:
        try:
            info = read_info(source)
            break
        except FileNotFoundError:
            if asyncio.get_running_loop().time() >= deadline:
                raise PlanError(f"{source}: the anchor node did not start") from None
        except (OSError, ValueError) as exc:
            raise PlanError(str(exc)) from None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.2)
        if stop.is_set():
            return None
    anchor = EvmAnchor.json_rpc(info.url, info.contract, info.private_key)
    if info.simulated:
        anchor.label = f"simulated {info.url}"
    return anchor
