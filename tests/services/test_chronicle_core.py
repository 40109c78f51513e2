"""Chronicle members' signing cores and the replicated machine under crashes, lost proposals
and an operator appending at random (the seeded campaign ``python -m organisms.sim
chronicle``): entries seal strictly in order, each with verified signatures of a strict
majority, the chain never forks, and every append seals. A machine that seals past an unsealed
entry is caught."""

from __future__ import annotations

import pytest

from coalition.services.chronicle import Append, ChronicleMachine, ChronicleSignCore
from coalition.services.chronicle_log import Other
from organisms.sim import chronicle
from pymosaik.primitives import SecretKey, UniqueId, encode


@pytest.mark.parametrize("seed", range(20))
def test_entries_seal_in_order_by_majority_and_never_fork(seed: int) -> None:
    result = chronicle.run_seed(seed)
    assert result.violations == []
    assert result.stats["sealed"] > 20


def test_a_machine_sealing_past_an_unsealed_entry_is_caught() -> None:
    for seed in range(5):
        kinds = {k for k, _ in chronicle.run_seed(seed, "chronicle-skips").violations}
        assert "quorum" in kinds


def test_the_core_signs_once_and_again_only_after_the_resend_time() -> None:
    member, operator = SecretKey.generate(), SecretKey.generate()
    m = ChronicleMachine(
        UniqueId.hash("c"), [member.peer_id, SecretKey.generate().peer_id], [operator.peer_id]
    )
    m.apply(encode(Append.signed(operator, Other("x"), 0)))
    core = ChronicleSignCore(member, resend_ms=2_000)
    (sign,) = core.step(m, 0)
    assert sign.seq == 0
    assert core.step(m, 1_999) == []  # in flight
    assert len(core.step(m, 2_000)) == 1  # lost with a leader change: again
    m.apply(encode(sign))
    assert core.step(m, 10_000) == []  # the log holds it
