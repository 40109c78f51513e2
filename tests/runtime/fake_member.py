"""A stand-in committee member for the supervisor's own tests (no consensus at all).

The member processes load it when a test runs ``coalition up`` under the
``fake_member_env`` fixture (tests/runtime/conftest.py). It persists a counter in
its data directory so restarts can be seen to keep state, and names the first
committee member as leader.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence
from pathlib import Path

from coalition.config import CoalitionConfig
from coalition.modules import ModuleKind
from coalition.runtime.files import write_json_atomic
from pymosaik.network import Network
from pymosaik.primitives import SecretKey
from pymosaik.transport import EndpointAddr

__all__ = ["FakeMember", "start_fake_member"]


class FakeMember:
    def __init__(
        self, kind: ModuleKind, me: str, leader: str, data_dir: Path, cadence_ms: int
    ) -> None:
        self.kind = kind
        self._me, self._leader = me, leader
        self._path = data_dir / "fake-state.json"
        self._cadence = cadence_ms / 1000
        state: dict[str, int | bool] = {"count": 0, "retired": False}
        with contextlib.suppress(OSError, ValueError):
            state |= json.loads(self._path.read_text("utf-8"))
        self._count = int(state["count"])
        self._retired = bool(state["retired"])
        self._task = asyncio.create_task(self._tick())

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self._cadence)
            if not self._retired:
                self._count += 1
                self._save()

    def _save(self) -> None:
        write_json_atomic(self._path, {"count": self._count, "retired": self._retired})

    def status(self) -> dict[str, object]:
        figures: dict[ModuleKind, dict[str, object]] = {
            ModuleKind.ALMANAC: {"almanac_seq": self._count},
            ModuleKind.ATLAS: {"atlas_members": 3},
            ModuleKind.CHRONICLE: {
                "chronicle_length": self._count,
                "anchored_seq": self._count - self._count % 4,
            },
        }
        return {
            "leader": self._leader,
            "is_leader": self._me == self._leader,
            "committed": self._count,
            "retired": self._retired,
        } | figures.get(self.kind, {})

    async def retire(self, successor: object = None) -> None:
        self._retired = True
        self._save()

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def start_fake_member(
    kind: ModuleKind,
    network: Network,
    coalition: CoalitionConfig,
    *,
    committee: Sequence[EndpointAddr],
    operator_key: SecretKey,
    data_dir: Path,
    cadence_ms: int = 1000,
    anchor: object = None,
) -> FakeMember:
    me = network.peer_id.hex()
    return FakeMember(kind, me, committee[0].peer_id.hex(), data_dir, cadence_ms)
