"""Hostile bytes at the shuffle's machines and decoders: refused with a reason, nothing changes."""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from coalition.crypto.reply import ReplyError, parse_request
from organisms.unseal.items import UnsealResult
from organisms.unseal.local import LocalCommittee
from organisms.unseal.machine import UnsealMachine
from organisms.zipnet.local import LocalDeployment
from organisms.zipnet.machine import CommitteeResult
from organisms.zipnet.params import RoundParams
from pymosaik.primitives import decode, encode

DEP = LocalDeployment.create(
    3, 2, seed=1, params=RoundParams(num_slots=8, slot_bytes=64, sched_slots=16)
)
DEP.run_round()
COM = LocalCommittee.create(3, 2, seed=2)
COM.pump(100)


def _msgpackish() -> st.SearchStrategy[bytes]:
    leaf = st.one_of(
        st.integers(-(2**63), 2**64 - 1), st.binary(max_size=40), st.text(max_size=8), st.none()
    )
    tree = st.recursive(
        leaf,
        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=4), c, max_size=3),
        max_leaves=20,
    )
    return st.one_of(st.binary(max_size=200), tree.map(encode))


@settings(max_examples=300, deadline=None)
@given(_msgpackish())
def test_zipnet_machine_refuses_garbage_without_change(data: bytes) -> None:
    before = DEP.machine.snapshot()
    out = decode(DEP.machine.apply(data), CommitteeResult)
    assert not out.ok and out.reason
    assert DEP.machine.snapshot() == before


@settings(max_examples=300, deadline=None)
@given(_msgpackish())
def test_unseal_machine_refuses_garbage_without_change(data: bytes) -> None:
    replica = COM.replicas[0]
    before = replica.snapshot()
    out = decode(replica.apply(data), UnsealResult)
    assert not out.ok and out.reason
    assert replica.snapshot() == before


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_opened_payloads_that_are_not_requests_are_reply_errors(data: bytes) -> None:
    with contextlib.suppress(ReplyError):
        parse_request(data)


def test_unseal_snapshot_replays_to_the_same_state() -> None:
    src = COM.replicas[0]
    copy = UnsealMachine(src.cfg, [k.peer_id for k in COM.keys])
    copy.restore(src.snapshot())
    assert copy.snapshot() == src.snapshot()
    assert copy.key == src.key
