"""The operator's key refresh (``OperatorRefresh``): signed by the coalition operator for this
beacon's committee, taken once, refused while a refresh or a share recovery is under way; taken,
it opens the refresh a member's ``RefreshStart`` opens and the members deal as they do for it.
Every refusal carries a reason and leaves the machine as it was."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coalition import CoalitionConfig
from coalition.content import ContentParams
from coalition.crypto.beacon import verify_tick
from coalition.keygen_recovery import RefreshStart
from coalition.modules import ModuleConfig, ModuleKind, RandomnessConfig
from coalition.services.module import module_ids
from organisms.randomness.items import Operator, OperatorRefresh, RandomnessResult, Signed
from organisms.randomness.local import LocalBeacon
from organisms.randomness.machine import OPERATOR_MAX_AGE_MS, BeaconMachine
from organisms.randomness.module import RANDOMNESS
from pymosaik.groups.machine import ApplyContext
from pymosaik.primitives import SecretKey, UniqueId, decode, encode
from pymosaik.sim.rng import seeded
from tests.fuzz.test_hostile_input import hostile

OPERATOR = SecretKey(b"\x07" * 32)
SCOPE = UniqueId.from_parts("test.randomness.committee")
WHO = Operator(OPERATOR.peer_id, SCOPE)


def beacon(seed: int = 11) -> LocalBeacon:
    return LocalBeacon.create(3, 2, seed=seed, operator=WHO)


def command(at_ms: int, key: SecretKey = OPERATOR, scope: UniqueId = SCOPE) -> bytes:
    return encode(OperatorRefresh.signed(key, scope, at_ms))


def apply_all(b: LocalBeacon, raw: bytes, index: int = 7) -> RandomnessResult:
    """Commit ``raw`` on every replica (as Raft would); they must agree."""
    results = [r.apply(raw, ApplyContext(index, 1, index)) for r in b.replicas]
    assert len(set(results)) == 1
    assert len({r.snapshot() for r in b.replicas}) == 1
    return decode(results[0], RandomnessResult)


def refused(b: LocalBeacon, raw: bytes, why: str) -> None:
    before = [r.snapshot() for r in b.replicas]
    result = apply_all(b, raw)
    assert not result.ok and why in result.reason, result
    assert [r.snapshot() for r in b.replicas] == before  # a refusal changes nothing


def test_the_operator_opens_a_refresh_that_moves_every_share_and_keeps_the_key() -> None:
    b = beacon()
    refused(b, command(1), "waiting for every member to register")
    b.run_until(24_000)
    m = b.replicas[0]
    card, clock = m.card(), m.committed_ms()
    assert card is not None and clock is not None and len(m.ticks) >= 3
    before = [c.share for c in b.cores]

    refused(b, command(clock, key=SecretKey(b"\x08" * 32)), "not signed by the coalition operator")
    refused(b, command(clock, scope=SCOPE.derive("other")), "not signed by the coalition operator")
    opened = apply_all(b, command(clock), index=42)
    assert opened.ok and opened.index == 42
    assert all(r.keygen.recovery.refresh is not None for r in b.replicas)
    refused(b, command(clock), "replayed or stale")  # the same command again
    refused(b, command(clock + 1), "a key refresh is already under way")

    b.run_until(30_000)
    assert m.keygen.recovery.refresh is None and m.keygen.recovery.refreshes == 1
    after = [c.share for c in b.cores]
    for old, new in zip(before, after, strict=True):
        assert old is not None and new is not None and old.secret != new.secret
        assert new.result == m.keygen.result
    assert m.card() == card and not m.bad
    rounds = [t.round for t in m.ticks]
    assert rounds == list(range(1, len(rounds) + 1)) and len(rounds) >= 9
    assert all(verify_tick(b.cfg.kind, card.group_key, t) for t in m.ticks)

    # a replica restored from a snapshot still refuses the accepted command
    copy = BeaconMachine(b.cfg, [k.peer_id for k in b.keys], WHO)
    copy.restore(m.snapshot())
    assert copy.operator_at_ms == clock
    assert not decode(copy.apply(command(clock)), RandomnessResult).ok
    # a later one opens a second refresh
    assert apply_all(b, command(clock + 10_000)).ok


def test_a_command_signed_long_before_the_beacon_s_time_is_stale() -> None:
    genesis = OPERATOR_MAX_AGE_MS + 20_000
    b = LocalBeacon.create(3, 2, seed=16, operator=WHO, genesis_ms=genesis)
    b.run_until(20_000)
    b.run_until(genesis - 1_000, step_ms=20_000)  # nothing to do until round 1
    b.run_until(genesis + 3_000)
    m = b.replicas[0]
    clock = m.committed_ms()
    assert clock is not None and clock >= genesis and len(m.ticks) >= 3
    refused(b, command(clock - OPERATOR_MAX_AGE_MS - 1), "stale: signed at")
    assert apply_all(b, command(clock - OPERATOR_MAX_AGE_MS)).ok


def test_refused_while_the_last_refresh_takes_effect() -> None:
    b = beacon(12)
    b.run_until(24_000)
    m = b.replicas[0]
    clock = m.committed_ms()
    assert clock is not None and apply_all(b, command(clock)).ok
    while m.keygen.recovery.refreshes == 0:
        b.run_until(b.runner.now_ms + 20, step_ms=20)
    assert m.old_key is not None  # rounds pending at the refresh still use the old keys
    refused(b, command(clock + 1), f"takes effect at round {m.new_key_from}")


def test_refused_while_a_share_recovery_is_under_way() -> None:
    b = beacon(13)
    b.run_until(24_000)
    b.lose_share(3, seeded(5))
    m = b.replicas[0]
    while not m.keygen.recovery.open:
        b.run_until(b.runner.now_ms + 250)
    clock = m.committed_ms()
    assert clock is not None
    refused(b, command(clock), "a share recovery is under way")


def test_a_committee_without_an_operator_takes_no_operator_command() -> None:
    b = LocalBeacon.create(3, 2, seed=14)
    b.run_until(22_000)
    refused(b, command(1), "takes no operator commands")


def _seeded() -> tuple[LocalBeacon, bytes, list[bytes]]:
    """A beacon with its key and a few rounds; an operator's and a member's command as seeds."""
    b = beacon(15)
    b.run_until(23_000)
    m = b.replicas[0]
    clock = m.committed_ms()
    assert clock is not None
    return b, m.snapshot(), [command(clock), encode(Signed.by(b.keys[0], RefreshStart(1)))]


_BEACON, _IMAGE, _SEEDS = _seeded()


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(hostile(st.sampled_from(_SEEDS)))
def test_hostile_commands_are_refused_with_a_reason_and_change_nothing(data: bytes) -> None:
    """Random, truncated, flipped and deeply nested bytes: apply answers a RandomnessResult;
    when it refuses, it gives a reason and the state is unchanged."""
    m = BeaconMachine(_BEACON.cfg, [k.peer_id for k in _BEACON.keys], WHO)
    m.restore(_IMAGE)
    before = m.snapshot()
    result = decode(m.apply(data), RandomnessResult)
    if not result.ok:
        assert result.reason and m.snapshot() == before


def test_the_writable_intake_changes_no_other_id() -> None:
    """Making the module writable adds the intake's stream ids only: the committee's group,
    its public surface and the coalition's fingerprint are what they were, so readers and
    running data directories are unaffected."""
    body = ModuleConfig("beacon", ContentParams.from_params({"period_ms": 500}))  # type: ignore[arg-type]
    cfg = CoalitionConfig(instance_name="writable", randomness=RandomnessConfig(body))
    ids = RANDOMNESS.organism.ids(cfg)
    before = module_ids(cfg, ModuleKind.RANDOMNESS, writable=False)
    assert (ids.group_secret, ids.surface) == (before.group_secret, before.surface)
    assert ids.requests is not None and before.requests is None
    assert RANDOMNESS.operator_writes and RANDOMNESS.key_refresh is not None
