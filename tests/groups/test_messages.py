"""Raft frames round-trip canonically and strict decoding refuses anything else."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pymosaik.groups.raft import EntryKind, LogEntry, Vote, decode_message, encode_message
from pymosaik.groups.raft.messages import (
    AppendEntries,
    AppendEntriesResponse,
    ForwardCommand,
    ForwardCommandAck,
    ForwardQuery,
    ForwardQueryResponse,
    InstallSnapshot,
    InstallSnapshotResponse,
    Message,
    RequestVote,
    RequestVoteResponse,
)
from pymosaik.primitives import DecodeError

u64 = st.integers(min_value=0, max_value=2**63 - 1)
ids = st.binary(min_size=1, max_size=32)
entries = st.builds(LogEntry, u64, st.sampled_from(EntryKind), st.binary(max_size=64))
messages: st.SearchStrategy[Message] = st.one_of(
    st.builds(AppendEntries, u64, ids, u64, u64, st.tuples(entries, entries), u64, u64),
    st.builds(AppendEntriesResponse, u64, st.sampled_from(Vote), st.booleans(), u64, u64),
    st.builds(RequestVote, u64, ids, u64, u64, st.booleans()),
    st.builds(RequestVoteResponse, u64, st.sampled_from(Vote), st.booleans()),
    st.builds(InstallSnapshot, u64, ids, u64, u64, st.binary(max_size=64), u64, u64, st.booleans()),
    st.builds(InstallSnapshotResponse, u64, u64, u64, u64),
    st.builds(ForwardCommand, st.lists(st.binary(max_size=16)).map(tuple), st.none() | u64),
    st.builds(ForwardCommandAck, u64, u64, u64, u64),
    st.builds(ForwardQuery, st.binary(max_size=16), u64),
    st.builds(ForwardQueryResponse, u64, st.booleans(), st.binary(max_size=16), u64),
)


@given(messages)
def test_round_trip(message: Message) -> None:
    assert decode_message(encode_message(message)) == message


@given(st.binary(max_size=200))
def test_decoder_refuses_or_round_trips_arbitrary_bytes(data: bytes) -> None:
    try:
        message = decode_message(data)
    except DecodeError:
        return
    assert encode_message(message) == data


@given(messages, st.binary(min_size=1, max_size=4))
def test_trailing_bytes_are_refused(message: Message, tail: bytes) -> None:
    try:
        decode_message(encode_message(message) + tail)
    except DecodeError:
        return
    raise AssertionError("trailing bytes accepted")


def test_oversize_frame_is_refused() -> None:
    big = encode_message(ForwardQuery(b"x" * 100, 1))
    try:
        decode_message(big, max_size=50)
    except DecodeError:
        return
    raise AssertionError("oversize frame accepted")
