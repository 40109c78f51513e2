"""The Chronicle leader's anchoring loop against a real in-process EVM, with injected faults.

The loop (``ChronicleMember.anchor_heads``) is where anchoring survives a fresh
chain (registration forgotten), transient errors and a head a previous leader
already landed: every anchor, in process or over JSON-RPC, gets the same care.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from coalition import CoalitionConfig
from coalition.modules import ChronicleConfig, ModuleConfig, ModuleKind
from coalition.services.anchor import AnchorError, EvmAnchor
from coalition.services.chronicle import Append, ChronicleMachine, ChronicleMember, Sign
from coalition.services.chronicle_log import Other
from coalition.services.module import MemberContext
from pymosaik.primitives import SecretKey, UniqueId, encode

CFG = CoalitionConfig(instance_name="anchoring", chronicle=ChronicleConfig(ModuleConfig("c")))
CHRONICLE = CFG.module_root(ModuleKind.CHRONICLE)
KEY, OPERATOR = SecretKey.generate(), SecretKey.generate()


class Flaky:
    """An `Anchor` whose next calls fail with the queued errors, then behave like ``inner``."""

    def __init__(self, inner: EvmAnchor) -> None:
        self.inner = inner
        self.errors: list[str] = []

    def _fail(self) -> None:
        if self.errors:
            raise AnchorError(self.errors.pop(0))

    def register(self, chronicle: UniqueId) -> None:
        self._fail()
        self.inner.register(chronicle)

    def anchor(self, chronicle: UniqueId, seq: int, digest: UniqueId) -> object:
        self._fail()
        return self.inner.anchor(chronicle, seq, digest)

    def digest_at(self, chronicle: UniqueId, seq: int) -> UniqueId | None:
        return self.inner.digest_at(chronicle, seq)

    def latest(self, chronicle: UniqueId) -> tuple[int, UniqueId] | None:
        return self.inner.latest(chronicle)


def leader(anchor: object) -> tuple[ChronicleMember, ChronicleMachine]:
    """A one-member committee's leader: commands apply straight to its machine."""
    machine = ChronicleMachine(CFG.stable_id(), [KEY.peer_id], [OPERATOR.peer_id])

    async def execute(command: bytes, request: object = None) -> None:
        machine.apply(command)

    fake = SimpleNamespace(group=SimpleNamespace(is_leader=True), execute=execute)
    network = SimpleNamespace(endpoint=SimpleNamespace(secret_key=KEY))
    ctx = MemberContext(network, CFG, (), OPERATOR, cadence_ms=20)  # type: ignore[arg-type]
    member = ChronicleMember(ModuleKind.CHRONICLE, fake, ctx, inner=machine, anchor=anchor)  # type: ignore[arg-type]
    return member, machine


def seal(machine: ChronicleMachine, name: str) -> None:
    machine.apply(encode(Append.signed(OPERATOR, Other(name), len(machine.entries))))
    entry = machine.entries[-1]
    machine.apply(encode(Sign(entry.seq, entry.sign(KEY))))


async def until(predicate: object) -> None:
    async with asyncio.timeout(30):  # eth-tester is slow on a loaded machine
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.01)


async def test_heads_are_anchored_and_errors_retried_at_the_next_boundary() -> None:
    assert CHRONICLE is not None
    flaky = Flaky(EvmAnchor.in_process())
    member, machine = leader(flaky)
    seal(machine, "first")
    flaky.errors = ["connection refused", "HTTP 502"]  # transient: reported, then retried
    task = asyncio.create_task(member.anchor_heads())
    try:
        await until(lambda: member.anchor_error is not None)
        assert "connection refused" in member.anchor_error or "502" in member.anchor_error
        await until(lambda: machine.anchored and machine.anchored[-1][0] == 0)
        assert member.anchor_error is None
        assert flaky.latest(CHRONICLE) == (0, machine.entries[0].digest())
        seal(machine, "second")  # a new head: anchored at the next boundary
        await until(lambda: machine.anchored[-1][0] == 1)
        assert flaky.latest(CHRONICLE) == (1, machine.entries[1].digest())
        # a fresh chain (the simulated node restarted) forgot the registration and the head
        member.anchor = Flaky(EvmAnchor.in_process())
        await until(lambda: member.anchor.latest(CHRONICLE) is not None)  # type: ignore[union-attr]
        assert member.anchor.latest(CHRONICLE) == (1, machine.entries[1].digest())  # type: ignore[union-attr]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_head_already_on_chain_is_recorded_but_a_different_one_is_an_error() -> None:
    assert CHRONICLE is not None
    chain = EvmAnchor.in_process()
    member, machine = leader(chain)
    seal(machine, "landed by an earlier leader")
    chain.register(CHRONICLE)
    chain.anchor(CHRONICLE, 0, machine.entries[0].digest())
    task = asyncio.create_task(member.anchor_heads())
    try:
        await until(lambda: machine.anchored)  # recorded without a second transaction
        assert machine.anchored == [(0, machine.entries[0].digest())]
        other = leader(EvmAnchor.in_process())
        rival, rival_machine = other
        rival.anchor.register(CHRONICLE)  # type: ignore[union-attr]
        rival.anchor.anchor(CHRONICLE, 0, UniqueId.hash("a forged head"))  # type: ignore[union-attr]
        seal(rival_machine, "honest")
        rival_task = asyncio.create_task(rival.anchor_heads())
        try:
            await until(lambda: rival.anchor_error is not None)
            assert "another digest" in rival.anchor_error
            assert rival_machine.anchored == []  # never recorded as anchored
        finally:
            rival_task.cancel()
            await asyncio.gather(rival_task, return_exceptions=True)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_another_accounts_chronicle_is_reported_and_never_recorded() -> None:
    assert CHRONICLE is not None
    chain = EvmAnchor.in_process()
    member, machine = leader(chain)
    seal(machine, "x")
    w3 = chain._w3  # the same chain, another funded account
    other_key = w3.provider.ethereum_tester.backend.account_keys[3].to_bytes()
    squatter = EvmAnchor(w3, chain.address, other_key, label="squatter")
    squatter.register(CHRONICLE)
    task = asyncio.create_task(member.anchor_heads())
    try:
        await until(lambda: member.anchor_error is not None)
        assert "not the anchorer" in member.anchor_error
        await asyncio.sleep(0.1)
        assert machine.anchored == [] and chain.latest(CHRONICLE) is None
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
