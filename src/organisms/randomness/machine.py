"""The beacon committee's replicated machine: key generation, then one tick per round.

Rounds are produced strictly in order from 1: partials are taken only for the next round, each
is checked by its pairing equation before it is kept (a bad one becomes ``BadPartial``
evidence), and t good ones are combined into a ``BeaconTick`` that verifies against the group
key alone. No round is ever skipped: a committee that was down resumes at the round after its
last tick and catches up (members sign every round whose time has passed), so a consumer sees a
gap only as lateness, never as a missing round. In the chained scheme each round signs the
previous signature, which the machine supplies from its own last tick.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Final

from coalition.crypto.beacon import (
    BeaconError,
    BeaconTick,
    PartialSignature,
    check_partial,
    combine_checked,
)
from coalition.crypto.dkg import DkgParams, DkgResult
from coalition.keygen import KeygenState
from coalition.keygen_recovery import RecoveryImage
from coalition.member_commands import MemberSignatures, apply_decoded
from pymosaik.primitives import DecodeError, PeerId, UniqueId, Wire, decode, encode

from .items import (
    SIGN_DOMAIN,
    BadPartial,
    Operator,
    OperatorRefresh,
    RandomnessCard,
    RandomnessConfig,
    RandomnessResult,
    Signed,
    SubmitPartial,
    randomness_root,
)

HISTORY: Final = 4096
#: How much older than the beacon's committed time an operator's command may be signed: one
#: signed and never sent cannot be played much later.
OPERATOR_MAX_AGE_MS: Final = 10 * 60_000


class _Image(Wire, frozen=True):
    keygen: tuple[Signed, ...]
    ticks: tuple[BeaconTick, ...]
    next_round: int
    previous: bytes
    partials: tuple[PartialSignature, ...]
    bad: tuple[BadPartial, ...]
    recovery: RecoveryImage = RecoveryImage()
    old_key: DkgResult | None = None
    new_key_from: int = 0
    operator_at_ms: int = 0


class BeaconMachine:
    """``operator``: the coalition operator, whose signed `OperatorRefresh` opens a key refresh
    (``None``: the committee takes no operator commands)."""

    def __init__(
        self, cfg: RandomnessConfig, committee: Sequence[PeerId], operator: Operator | None = None
    ) -> None:
        cfg.check()
        self.operator = operator
        if len(committee) != cfg.n:
            raise ValueError(f"randomness config says n={cfg.n}, committee has {len(committee)}")
        self.cfg = cfg
        self._sigs = MemberSignatures(SIGN_DOMAIN, committee)
        self._log: list[Signed] = []
        self._reset()

    def _reset(self) -> None:
        session = randomness_root(self.cfg).derive("dkg").bytes
        self.keygen = KeygenState(
            self.cfg.kind.key_group, DkgParams(session, self.cfg.n, self.cfg.t), refreshable=True
        )
        #: After a key refresh, the rounds before ``new_key_from`` are still checked against the
        #: verification keys before it (their partials may have been signed with the old shares).
        self.old_key: DkgResult | None = None
        self.new_key_from = 0
        self.ticks: deque[BeaconTick] = deque(maxlen=HISTORY)
        self.next_round = 1
        self.previous = b""  # the last tick's signature (chained scheme)
        self._partials: dict[int, PartialSignature] = {}
        self.bad: deque[BadPartial] = deque(maxlen=HISTORY)
        self.operator_at_ms = 0  # the newest operator command accepted (replays are refused)

    @property
    def genesis_ms(self) -> int | None:
        """Round 1's time: the config's, or — with ``genesis_ms = 0`` — the second period
        boundary after the committed end of key generation (every replica computes the same),
        so a committee started at any time begins at round 1 instead of catching up from an
        epoch long past. None until then."""
        if self.cfg.genesis_ms:
            return self.cfg.genesis_ms
        done = self.keygen.finished_at_ms
        if done is None or self.keygen.result is None:
            return None
        period = self.cfg.period_ms
        return (done // period + 2) * period

    def round_at(self, ms: int) -> int:
        """The newest round due at wall time ``ms`` (0 before genesis), as drand counts."""
        genesis = self.genesis_ms
        if genesis is None or ms < genesis:
            return 0
        return (ms - genesis) // self.cfg.period_ms + 1

    def card(self) -> RandomnessCard | None:
        key = self.keygen.result
        genesis = self.genesis_ms
        if key is None or genesis is None:
            return None
        c = self.cfg
        return RandomnessCard(c.scheme, key.group_key, c.t, c.n, c.period_ms, genesis)

    def signature(self) -> UniqueId:
        return randomness_root(self.cfg).derive("committee.v1")

    def committed_ms(self) -> int | None:
        """The beacon's own clock, as every replica agrees on it: the time of its newest round,
        or when the key generation finished (None before)."""
        if self.ticks:
            genesis = self.genesis_ms
            assert genesis is not None
            return genesis + (self.ticks[-1].round - 1) * self.cfg.period_ms
        return self.keygen.finished_at_ms

    def apply(self, command: bytes, ctx: object = None) -> bytes:
        try:
            op = decode(command, OperatorRefresh)
        except DecodeError:
            return apply_decoded(
                command, Signed, self.step, lambda why: RandomnessResult(False, why)
            )
        index = getattr(ctx, "index", 0)
        return encode(self.operator_refresh(op, index if isinstance(index, int) else 0))

    def operator_refresh(self, op: OperatorRefresh, index: int = 0) -> RandomnessResult:
        """The operator's key refresh: opened as a member's ``RefreshStart`` opens it (every
        member then deals at 0), or refused with the reason and nothing changed."""
        if self.operator is None:
            return RandomnessResult(False, "this committee takes no operator commands")
        if not op.verify(self.operator):
            return RandomnessResult(False, "not signed by the coalition operator")
        if op.at_ms <= self.operator_at_ms:
            return RandomnessResult(
                False, f"replayed or stale: signed at {op.at_ms}, not after {self.operator_at_ms}"
            )
        clock = self.committed_ms()
        if clock is not None and op.at_ms < clock - OPERATOR_MAX_AGE_MS:
            return RandomnessResult(
                False, f"stale: signed at {op.at_ms}, the beacon's time is {clock}"
            )
        if self.old_key is not None:
            return RandomnessResult(
                False, f"the last key refresh takes effect at round {self.new_key_from}"
            )
        why = self.keygen.open_refresh()
        if why == "":
            r = self.keygen.recovery.refresh
            n = 0 if r is None else len(r.deals)
            return RandomnessResult(False, f"a key refresh is already under way ({n} deals in)")
        if why is not None:
            return RandomnessResult(False, why)
        self.operator_at_ms = op.at_ms
        return RandomnessResult(True, index=index)

    def step(self, signed: Signed) -> RandomnessResult:
        body = signed.body
        refused = self._sigs.check(body.member, body, signed.signature)
        if refused is not None:
            return RandomnessResult(False, refused)
        if isinstance(body, SubmitPartial):
            return self._partial(body)
        before, refreshes = self.keygen.result, self.keygen.recovery.refreshes
        result = RandomnessResult(*self.keygen.apply_logged(body, signed, self._log))
        if self.keygen.recovery.refreshes != refreshes:  # shares moved: from the next round on
            self.old_key, self.new_key_from = before, self.next_round + 1
        return result

    def key_for(self, round_: int) -> DkgResult | None:
        """The verification keys round ``round_``'s partials are checked against."""
        if self.old_key is not None and round_ < self.new_key_from:
            return self.old_key
        return self.keygen.result

    def _partial(self, body: SubmitPartial) -> RandomnessResult:
        key = self.key_for(body.round)
        if key is None:
            return RandomnessResult(False, "no group key yet")
        if body.round != self.next_round:
            late = body.round < self.next_round
            return RandomnessResult(late, "round already produced" if late else "round not next")
        if body.member in self._partials:
            return RandomnessResult(True, "duplicate partial")
        scheme = self.cfg.kind
        bad: tuple[BadPartial, ...] = ()
        why: str | None = (
            "partial carries another member's index"
            if body.partial.index != body.member
            else self.check_partial(key, body.round, body.partial)
        )
        if why is not None:
            bad = (BadPartial(body.round, body.member, why),)
            self.bad.extend(bad)
            return RandomnessResult(True, bad=bad)
        self._partials[body.member] = body.partial
        if len(self._partials) < key.t:
            return RandomnessResult(True)
        g = scheme.sig_group
        good = {i: g.decode(p.signature) for i, p in self._partials.items()}
        try:
            tick, _ = combine_checked(scheme, key, body.round, self.previous, good)
        except BeaconError as exc:
            # Checked partials always combine; if they do not, nothing is emitted and the round
            # starts over (apply must not raise: every replica commits this same outcome).
            self._partials = {}
            return RandomnessResult(False, f"round {body.round} did not combine: {exc}")
        self.ticks.append(tick)
        self.next_round += 1
        if self.next_round >= self.new_key_from:
            self.old_key = None
        self.previous = tick.signature
        self._partials = {}
        return RandomnessResult(True, ticks=(tick,))

    def check_partial(self, key: DkgResult, round_: int, partial: PartialSignature) -> str | None:
        """The pairing check every kept partial passed (the simulator's broken core skips it)."""
        return check_partial(self.cfg.kind, key, round_, self.previous, partial)

    def query(self, query: bytes) -> bytes:
        return encode(tuple(self.ticks))

    def snapshot(self) -> bytes:
        return encode(
            _Image(
                tuple(self._log),
                tuple(self.ticks),
                self.next_round,
                self.previous,
                tuple(self._partials[k] for k in sorted(self._partials)),
                tuple(self.bad),
                self.keygen.recovery_image(),
                self.old_key,
                self.new_key_from,
                self.operator_at_ms,
            )
        )

    def restore(self, data: bytes) -> None:
        image = decode(data, _Image)
        self._log = []
        self._reset()
        for signed in image.keygen:
            self.step(signed)
        self.keygen.restore_recovery(image.recovery)
        self.old_key, self.new_key_from = image.old_key, image.new_key_from
        self.operator_at_ms = image.operator_at_ms
        self.ticks.extend(image.ticks)
        self.next_round, self.previous = image.next_round, image.previous
        self._partials = {p.index: p for p in image.partials}
        self.bad.extend(image.bad)
