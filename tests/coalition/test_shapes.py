"""Retirement primitives, ACL compositions, content params and political-theory stances."""

import pytest
from msgspec.structs import replace

from coalition import (
    AclClause,
    AclComposition,
    AclMode,
    AtSequence,
    AtTimestamp,
    AtTimestampMs,
    ComponentKind,
    ComponentRef,
    ContentParams,
    LatticeConfig,
    OrganismRef,
    RetirementMarker,
    RetirementPolicy,
    RetirementReason,
    UniqueId,
    derive_stable_id,
)
from coalition.political_theory import (
    Attested,
    CompositionForm,
    ConsentModel,
    Legitimacy,
    Majority,
    PoliticalStance,
    SovereigntyClaim,
    Supermajority,
    Threshold,
)
from pymosaik.primitives import DecodeError, decode, encode

SUCCESSOR = ComponentRef.organism(OrganismRef.by_stable_id("oracle", derive_stable_id("o2")))


def test_retirement_constructors_match_the_book() -> None:
    rot = RetirementMarker.rotation(AtSequence(100), SUCCESSOR)
    assert rot.reason is RetirementReason.ROTATION and rot.replacement == SUCCESSOR
    ret = RetirementMarker.retired(AtTimestamp(1_700_000_000_000))
    assert ret.replacement is None and ret.effective_at == AtTimestampMs(1_700_000_000_000)
    ext = RetirementMarker.operator_exit(AtTimestamp(1_700_000_000_000))
    assert ext.reason is RetirementReason.OPERATOR_EXIT
    em = RetirementMarker.emergency(AtSequence(5))
    assert em.reason is RetirementReason.EMERGENCY
    assert RetirementPolicy.default() is RetirementPolicy.CONSERVATIVE


def test_retirement_marker_invariants() -> None:
    with pytest.raises(ValueError, match="must name its replacement"):
        RetirementMarker(AtSequence(1), RetirementReason.ROTATION, None)
    with pytest.raises(ValueError, match="no replacement"):
        RetirementMarker(AtSequence(1), RetirementReason.RETIRED, SUCCESSOR)
    with pytest.raises(ValueError, match="u64"):
        AtSequence(-1)


def test_retirement_marker_wire_round_trip_and_strictness() -> None:
    marker = RetirementMarker.rotation(AtSequence(100), SUCCESSOR)
    data = encode(marker)
    assert decode(data, RetirementMarker) == marker
    # A rotation without a successor is rejected on decode too.
    bad = encode(RetirementMarker.retired(AtSequence(1))).replace(b"retired", b"rotation")
    with pytest.raises(DecodeError):
        decode(bad, RetirementMarker)


def test_component_refs() -> None:
    lat = LatticeConfig.testnet_1a()
    ref = ComponentRef.lattice(lat)
    assert ref.kind is ComponentKind.LATTICE and ref.stable_id == lat.stable_id
    coal = ComponentRef.coalition("searcher-α", UniqueId.from_u8(1))
    assert coal.kind is ComponentKind.COALITION


def test_acl_fingerprints_distinguish_mode_order_and_values() -> None:
    a, b = AclClause.require_tag(UniqueId.from_u8(1)), AclClause.require_tag(UniqueId.from_u8(2))
    fps = {
        AclComposition.OPEN.fingerprint(),
        AclComposition.all_of(a, b).fingerprint(),
        AclComposition.all_of(b, a).fingerprint(),
        AclComposition.any_of(a, b).fingerprint(),
        AclComposition.all_of(a).fingerprint(),
    }
    assert len(fps) == 5


def test_acl_validation() -> None:
    with pytest.raises(ValueError, match="OPEN ACL carries no clauses"):
        AclComposition(AclMode.OPEN, (AclClause.require_tag(UniqueId.from_u8(1)),))
    with pytest.raises(ValueError, match="needs at least one clause"):
        AclComposition(AclMode.ALL_OF, ())
    with pytest.raises(ValueError, match="48 bytes"):
        AclClause.require_mrtd(b"\x00" * 32)
    with pytest.raises(ValueError, match="basis points"):
        AclClause.reputation_floor(UniqueId.from_u8(1), 10_001)


def test_content_params_are_canonical() -> None:
    a = ContentParams.from_params({"b": 1, "a": [1, 2], "c": {"y": True, "x": "s"}})
    b = ContentParams.from_params({"c": {"x": "s", "y": True}, "a": [1, 2], "b": 1})
    assert a == b and a.fingerprint() == b.fingerprint()
    assert (
        ContentParams.from_params({"a": 1}).fingerprint()
        != ContentParams.from_params({"a": 2}).fingerprint()
    )
    with pytest.raises(TypeError, match="unsupported type float"):
        ContentParams.from_params({"rate": 1.5})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="limit"):
        ContentParams.new(b"x" * (64 * 1024 + 1))


def test_default_stance_is_substrate_consistent_and_enforced() -> None:
    stance = PoliticalStance.DEFAULT
    assert stance.is_substrate_consistent()
    assert stance.is_substrate_enforced()


def test_book_stance_fingerprint_folds_every_field() -> None:
    attested = PoliticalStance(
        consent=ConsentModel.VOLUNTARY,
        decision_rule=Supermajority(threshold_bps=6_667),
        legitimacy=Legitimacy.composed(Legitimacy.CONSENT_BIT | Legitimacy.ATTESTATION_BIT),
        franchise=Attested(measurements=bytes(48)),
        composition=CompositionForm.MULTI_OPERATOR,
        sovereignty=SovereigntyClaim.SHARED,
    )
    assert attested.is_substrate_consistent()
    assert not attested.is_substrate_enforced()  # supermajority and a shared claim are commentary
    base = attested.fingerprint()
    variants = [
        replace(attested, consent=ConsentModel.TACIT),
        replace(attested, decision_rule=Supermajority(threshold_bps=7_500)),
        replace(attested, decision_rule=Threshold(t=2, n=3)),
        replace(attested, legitimacy=Legitimacy(Legitimacy.CONSENT_BIT)),
        replace(attested, franchise=Attested(measurements=b"\x01" * 48)),
        replace(attested, composition=CompositionForm.NESTED),
        replace(attested, sovereignty=SovereigntyClaim.NONE),
    ]
    assert len({base, *(v.fingerprint() for v in variants)}) == len(variants) + 1
    assert decode(encode(attested), PoliticalStance) == attested


@pytest.mark.parametrize(
    ("consent", "sovereignty", "consistent"),
    [
        (ConsentModel.VOLUNTARY, SovereigntyClaim.NONE, True),
        (ConsentModel.TACIT, SovereigntyClaim.SHARED, True),
        (ConsentModel.COMPULSORY, SovereigntyClaim.NONE, False),
        (ConsentModel.VOLUNTARY, SovereigntyClaim.ABSOLUTE, False),
    ],
)
def test_non_compulsion_check(
    consent: ConsentModel, sovereignty: SovereigntyClaim, consistent: bool
) -> None:
    stance = replace(PoliticalStance.DEFAULT, consent=consent, sovereignty=sovereignty)
    assert stance.is_substrate_consistent() is consistent


def test_stance_validation() -> None:
    with pytest.raises(ValueError, match="supermajority"):
        Supermajority(threshold_bps=5_000)
    with pytest.raises(ValueError, match="threshold"):
        Threshold(t=4, n=3)
    with pytest.raises(ValueError, match="legitimacy"):
        Legitimacy(0)
    assert Majority().is_substrate_enforced()
