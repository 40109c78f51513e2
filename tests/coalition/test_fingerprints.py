"""CoalitionConfig / OrganismConfig derivations: golden vectors and the roadmap's v0.2 list."""

import json
from pathlib import Path

import pytest

from coalition import (
    COALITION_ROOT_SEED,
    SCHEMA_VERSION_U8,
    ZERO_ID,
    AclClause,
    AclComposition,
    AlmanacConfig,
    AtlasConfig,
    ChronicleConfig,
    CoalitionConfig,
    ComputeConfig,
    ContentParams,
    LatticeConfig,
    MemberId,
    ModuleConfig,
    ModuleKind,
    OrganismConfig,
    OrganismRef,
    RandomnessConfig,
    RetirementPolicy,
    TicketIssuerConfig,
    UniqueId,
    derive_stable_id,
    hash_many,
    unique_id,
)

TESTNET_1A = LatticeConfig.testnet_1a()
SEARCHER = OrganismRef.by_stable_id("searcher", derive_stable_id("searcher-α.searcher"))


def org(name: str, pin: bytes | None = None) -> OrganismRef:
    return OrganismRef(name, derive_stable_id(name), UniqueId.hash(pin) if pin else None)


def lat(name: str) -> LatticeConfig:
    return LatticeConfig.derive(name)


VECTORS = {
    v["case"]: v
    for v in json.loads((Path(__file__).parents[1] / "vectors" / "coalition.json").read_text())
}

SEARCHER_ALPHA = CoalitionConfig(
    schema_version=SCHEMA_VERSION_U8,
    coalition_seed=COALITION_ROOT_SEED,
    instance_name="searcher-α",
    lattices=[TESTNET_1A.stable_id],
    organisms=[SEARCHER],
    atlas=None,
    almanac=None,
    chronicle=None,
    compute=None,
    randomness=None,
    ticket_issuer=None,
    retirement_policy=RetirementPolicy.CONSERVATIVE,
)


def mixed() -> CoalitionConfig:
    return CoalitionConfig(
        instance_name="mixed",
        organisms=[
            OrganismRef("oracle", derive_stable_id("o.oracle"), unique_id("oracle content v1")),
            OrganismRef.by_stable_id("ledger", derive_stable_id("o.ledger")),
        ],
        atlas=AtlasConfig(ModuleConfig("dir", ContentParams.new(b"params"))),
        ticket_issuer=TicketIssuerConfig("tickets"),
        retirement_policy=RetirementPolicy.LENIENT,
    )


def test_constants() -> None:
    assert SCHEMA_VERSION_U8 == 1
    assert unique_id("coalition.root.v1") == COALITION_ROOT_SEED
    assert ZERO_ID.bytes == bytes(32)
    assert hash_many([b"a", b"bc"]) != hash_many([b"ab", b"c"])
    assert hash_many([]) == UniqueId.hash(b"")


def test_golden_searcher_alpha() -> None:
    v = VECTORS["searcher-alpha"]
    assert SEARCHER_ALPHA.coalition_root().hex() == v["coalition_root"]
    assert SEARCHER_ALPHA.stable_id().hex() == v["stable_id"]


def test_golden_mixed_coalition() -> None:
    v, cfg = VECTORS["mixed-lenient"], mixed()
    assert cfg.coalition_root().hex() == v["coalition_root"]
    assert cfg.stable_id().hex() == v["stable_id"]
    atlas = cfg.atlas()
    assert atlas is not None
    assert atlas.role == "atlas"
    assert atlas.stable_id.hex() == v["atlas_root"]
    assert atlas.content_hash is not None
    assert atlas.content_hash.hex() == v["atlas_content_hash"]
    committee = cfg.module_committee(ModuleKind.ATLAS)
    assert committee is not None
    assert committee.hex() == v["atlas_committee"]
    issuer_root = cfg.ticket_issuer_root()
    assert issuer_root is not None
    assert issuer_root.hex() == v["ticket_issuer_root"]


def test_golden_organism() -> None:
    v = VECTORS["organism"]
    cfg = OrganismConfig(
        name="accuracy-reputation",
        lattices=(
            TESTNET_1A.__class__(
                TESTNET_1A.instance_name, TESTNET_1A.stable_id, unique_id("lattice content")
            ),
        ),
        organisms=(SEARCHER,),
        content=ContentParams.new(b"policy"),
        acl=AclComposition.OPEN,
    )
    assert cfg.organism_id().hex() == v["organism_id"]
    assert cfg.content_hash().hex() == v["content_hash"]
    assert cfg.committee_id().hex() == v["committee"]


def test_member_fingerprint_unchanged_by_being_referenced() -> None:
    router = OrganismConfig(name="router", organisms=(SEARCHER,))
    before = (router.organism_id(), router.content_hash(), SEARCHER.stable_id)
    ref = router.reference("router", derive_stable_id("x.router"), pin_content=True)
    for name in ("a", "b"):
        CoalitionConfig(instance_name=name, lattices=[TESTNET_1A], organisms=[SEARCHER, ref])
    assert (router.organism_id(), router.content_hash(), SEARCHER.stable_id) == before
    assert TESTNET_1A.stable_id == derive_stable_id("testnet-1a")


@pytest.mark.parametrize(
    ("lattices", "organisms"),
    [((), ("a", "b")), (("l1", "l2"), ()), (("l1",), ("a",)), (("l1", "l2"), ("a", "b", "c"))],
)
def test_mixed_compositions_derive(lattices: tuple[str, ...], organisms: tuple[str, ...]) -> None:
    cfg = CoalitionConfig(
        instance_name="mix",
        lattices=[lat(n) for n in lattices],
        organisms=[org(n) for n in organisms],
    )
    assert len(cfg.member_ids()) == len(lattices) + len(organisms)
    assert cfg.member_ids() == tuple(
        MemberId.of(derive_stable_id(n)) for n in (*lattices, *organisms)
    )
    assert cfg.stable_id() != cfg.coalition_root()
    assert CoalitionConfig.from_hex(cfg.to_hex()) == cfg


def test_lattice_and_organism_lists_are_not_interchangeable() -> None:
    a = CoalitionConfig(instance_name="x", lattices=[lat("m")])
    b = CoalitionConfig(
        instance_name="x", organisms=[OrganismRef.by_stable_id("m", lat("m").stable_id)]
    )
    assert a.coalition_root() != b.coalition_root()


def test_module_helpers_some_and_none() -> None:
    body = ModuleConfig("m")
    full = CoalitionConfig(
        instance_name="full",
        atlas=AtlasConfig(body),
        almanac=AlmanacConfig(body),
        chronicle=ChronicleConfig(body),
        compute=ComputeConfig(body),
        randomness=RandomnessConfig(body),
    )
    empty = CoalitionConfig(instance_name="full")
    root = full.coalition_root()
    assert root == empty.coalition_root()  # modules never fold into the root
    for kind, accessor in [
        (ModuleKind.ATLAS, "atlas"),
        (ModuleKind.ALMANAC, "almanac"),
        (ModuleKind.CHRONICLE, "chronicle"),
        (ModuleKind.COMPUTE, "compute"),
        (ModuleKind.RANDOMNESS, "randomness"),
    ]:
        ref = getattr(full, accessor)()
        assert ref is not None
        assert ref.role == kind.str_name() == accessor
        assert ref.stable_id == root.derive("module").derive(accessor)
        assert getattr(empty, accessor)() is None
        assert empty.module_committee(kind) is None
    roots = {
        getattr(full, a)().stable_id
        for a in ("atlas", "almanac", "chronicle", "compute", "randomness")
    }
    assert len(roots) == 5


def test_module_slots_are_typed() -> None:
    with pytest.raises(TypeError, match="atlas slot takes AtlasConfig"):
        CoalitionConfig(instance_name="x", atlas=ComputeConfig(ModuleConfig("m")))  # type: ignore[arg-type]


def test_member_order_matters() -> None:
    a = CoalitionConfig(instance_name="o", organisms=[org("a"), org("b")])
    b = CoalitionConfig(instance_name="o", organisms=[org("b"), org("a")])
    assert a.coalition_root() != b.coalition_root()
    c = CoalitionConfig(instance_name="o", lattices=[lat("a"), lat("b")])
    d = CoalitionConfig(instance_name="o", lattices=[lat("b"), lat("a")])
    assert c.stable_id() != d.stable_id()
    e = OrganismConfig(name="r", organisms=(org("a"), org("b")))
    f = OrganismConfig(name="r", organisms=(org("b"), org("a")))
    assert e.organism_id() != f.organism_id()


def test_content_hash_bump_leaves_root_alone() -> None:
    v1 = CoalitionConfig(instance_name="p", organisms=[org("oracle", b"v1")])
    v2 = CoalitionConfig(instance_name="p", organisms=[org("oracle", b"v2")])
    assert v1.coalition_root() == v2.coalition_root()
    assert v1.atlas() == v2.atlas()
    # CONSERVATIVE: a pinned rotation is a republish; LENIENT: it is not.
    assert v1.stable_id() != v2.stable_id()
    l1 = v1.replace(retirement_policy=RetirementPolicy.LENIENT)
    l2 = v2.replace(retirement_policy=RetirementPolicy.LENIENT)
    assert l1.stable_id() == l2.stable_id()


def test_module_content_change_moves_stable_id_not_root() -> None:
    a = CoalitionConfig(instance_name="m", almanac=AlmanacConfig(ModuleConfig("clock")))
    b = a.replace(
        almanac=AlmanacConfig(
            ModuleConfig("clock", ContentParams.from_params({"tick_cadence_ms": 500}))
        )
    )
    assert a.coalition_root() == b.coalition_root()
    assert a.stable_id() != b.stable_id()
    assert a.almanac() is not None
    assert b.almanac() is not None
    assert a.almanac().stable_id == b.almanac().stable_id  # module root unchanged
    assert a.module_committee(ModuleKind.ALMANAC) != b.module_committee(ModuleKind.ALMANAC)


def test_ticket_issuer_rotation_moves_root_and_issuer_root() -> None:
    a = CoalitionConfig(instance_name="t", ticket_issuer=TicketIssuerConfig("issuer"))
    b = a.replace(
        ticket_issuer=TicketIssuerConfig(
            "issuer", AclComposition.all_of(AclClause.require_peer(bytes(32)))
        )
    )
    assert a.coalition_root() != b.coalition_root()
    assert a.ticket_issuer_root() != b.ticket_issuer_root()
    assert a.ticket_issuer_root() == a.coalition_root().derive("tickets")
    assert CoalitionConfig(instance_name="t").ticket_issuer_root() is None


def test_organisms_by_name() -> None:
    cfg = CoalitionConfig(instance_name="n", organisms=[org("a"), org("b")])
    found = cfg.organisms_by_name("b")
    assert found is not None
    assert found.stable_id == derive_stable_id("b")
    assert cfg.organisms_by_name("zzz") is None


def test_composite_identity_ignores_coalitions() -> None:
    router = OrganismConfig(name="intents", lattices=(lat("eth"), lat("base")))
    ref = router.reference("intents", derive_stable_id("intents"), pin_content=False)
    x = CoalitionConfig(instance_name="x", organisms=[ref])
    y = CoalitionConfig(instance_name="y", organisms=[ref])
    assert x.coalition_root() != y.coalition_root()
    assert router.committee_id() == router.organism_id().derive("committee")


def test_content_change_is_a_new_organism_deployment() -> None:
    a = OrganismConfig(name="o", content=ContentParams.from_params({"cadence_ms": 1000}))
    b = OrganismConfig(name="o", content=ContentParams.from_params({"cadence_ms": 500}))
    assert a.organism_id() != b.organism_id()
    assert a.committee_id() != b.committee_id()
    assert a.content_hash() != b.content_hash()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"instance_name": ""}, "must not be empty"),
        ({"instance_name": "x" * 256}, "limit is 255"),
        ({"instance_name": "x", "schema_version": 2}, "unsupported schema_version"),
        ({"instance_name": "x", "lattices": [lat("a"), lat("a")]}, "referenced twice"),
        (
            {"instance_name": "x", "lattices": [lat("a")], "organisms": [org("a")]},
            "referenced twice",
        ),
    ],
)
def test_invalid_configs_rejected(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CoalitionConfig(**kwargs)  # type: ignore[arg-type]


def test_zero_content_pin_is_reserved() -> None:
    with pytest.raises(ValueError, match="all-zero content hash"):
        OrganismRef("x", derive_stable_id("x"), ZERO_ID)


def test_configs_are_hashable_constants() -> None:
    assert hash(SEARCHER_ALPHA) == hash(SEARCHER_ALPHA.replace())
    assert SEARCHER_ALPHA.replace() == SEARCHER_ALPHA
    assert len({SEARCHER_ALPHA, SEARCHER_ALPHA.replace(), mixed()}) == 2
    with pytest.raises(AttributeError):
        SEARCHER_ALPHA.instance_name = "other"  # type: ignore[misc]
