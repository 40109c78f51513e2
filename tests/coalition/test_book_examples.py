"""The book's `const` blocks, written in Python, equal the TOML examples operators load.

Each constant follows the book's struct literal field by field (D1: the worked
examples' extra fields are additions); the TOML file must describe the same
coalition, so the fingerprint on its handshake page is the one an integrator
who copies the book's code compiles in.
"""

from pathlib import Path

import pytest

from coalition import (
    COALITION_ROOT_SEED,
    SCHEMA_VERSION_U8,
    UNIVERSE,
    AclClause,
    AclComposition,
    AlmanacConfig,
    AtlasConfig,
    ChronicleConfig,
    CoalitionConfig,
    ComputeConfig,
    ContentParams,
    LatticeConfig,
    ModuleConfig,
    OrganismConfig,
    OrganismRef,
    RetirementPolicy,
    TicketIssuerConfig,
    UniqueId,
)
from coalition.config_file import load_coalition, load_organism

EXAMPLES = Path(__file__).parents[2] / "examples"


def const_blake3(*parts: bytes) -> UniqueId:
    """The book's ``const_blake3!(b"instance|name|", UNIVERSE.bytes())``."""
    return UniqueId.from_parts(*parts)


TESTNET_1A = LatticeConfig.testnet_1a()

SEARCHER_ORG = OrganismRef(
    role="searcher",
    stable_id=const_blake3("instance|searcher-α.searcher|".encode(), UNIVERSE.bytes),
    content_hash=None,  # pinned only when TDX is required
)

SEARCHER_ALPHA = CoalitionConfig(
    schema_version=SCHEMA_VERSION_U8,
    coalition_seed=COALITION_ROOT_SEED,
    instance_name="searcher-α",
    lattices=[TESTNET_1A.stable_id],
    organisms=[SEARCHER_ORG],
    atlas=None,
    almanac=None,
    chronicle=None,
    compute=None,  # added in chapter 5
    randomness=None,
    ticket_issuer=None,
    retirement_policy=RetirementPolicy.default(),
)

BRIDGE = load_organism(EXAMPLES / "organisms" / "compute-bridge.toml")
BRIDGE_ORG = OrganismRef(
    role="compute-bridge",
    stable_id=const_blake3("instance|bridge-β.compute-bridge|".encode(), UNIVERSE.bytes),
    content_hash=BRIDGE.content_hash(),
)
BRIDGE_BETA = CoalitionConfig(
    instance_name="bridge-β",
    lattices=[],
    organisms=[BRIDGE_ORG],
    compute=ComputeConfig.new(
        ModuleConfig.new(
            "bridge-β.compute",
            ContentParams.from_params(
                {"schema": "compute.v1", "clearing": "first-fit-by-declared-rate"}
            ),
            AclComposition.OPEN,
        )
    ),
)

MRTD = bytes.fromhex("b7f2" + "00" * 45 + "c9")
ORACLE = OrganismConfig(
    name="oracle-γ.oracle",
    content=ContentParams.from_params(
        {
            "pairs": [["ETH", "USDC"], ["WBTC", "USDC"]],
            "source_catalog_digest": "sources.v1",
            "aggregation_policy": "median-of-fresh",
            "cadence_ms": 1000,
            "max_source_age_ms": 3000,
            "mrtd": MRTD.hex(),
        }
    ),
    acl=AclComposition.all_of(AclClause.require_mrtd(MRTD)),
)
ORACLE_ORG = OrganismRef(
    role="oracle",
    stable_id=const_blake3("instance|oracle-γ.oracle|".encode(), UNIVERSE.bytes),
    content_hash=ORACLE.content_hash(),
)
CHRONICLE_CONFIG = ChronicleConfig(
    ModuleConfig(
        "oracle-γ.chronicle",
        ContentParams.from_params(
            {
                "entry_schema_version": 1,
                "anchor_chain": "eth-tester",
                "anchor_contract": "00" * 20,
                "anchor_cadence_entries": 64,
            }
        ),
    )
)
ORACLE_GAMMA_WITH_CHRONICLE = CoalitionConfig(
    instance_name="oracle-γ",
    organisms=[ORACLE_ORG],
    chronicle=CHRONICLE_CONFIG,
    retirement_policy=RetirementPolicy.default(),
)

SIGNER_ORG = OrganismRef.by_stable_id(
    "signer", const_blake3("instance|signer-δ.signer|".encode(), UNIVERSE.bytes)
)
SIGNER_DELTA = CoalitionConfig(
    instance_name="signer-δ",
    organisms=[SIGNER_ORG],
    retirement_policy=RetirementPolicy.CONSERVATIVE,
)


def stable(name: str) -> UniqueId:
    return const_blake3(f"instance|{name}|".encode(), UNIVERSE.bytes)


ETH_SUPERCHAIN = CoalitionConfig(
    instance_name="ethereum.superchain",
    lattices=[
        LatticeConfig.derive("ethereum.mainnet"),
        LatticeConfig.derive("unichain.mainnet"),
        LatticeConfig.derive("base.mainnet"),
    ],
    organisms=[
        OrganismRef.by_stable_id("oracle", stable("price-feed.eur")),
        OrganismRef.by_stable_id("intents", stable("ethereum.superchain.intents")),
        OrganismRef.by_stable_id("ledger", stable("ethereum.superchain.ledger")),
    ],
    atlas=AtlasConfig(ModuleConfig("superchain.atlas")),
    almanac=AlmanacConfig(
        ModuleConfig("superchain.almanac", ContentParams.from_params({"tick_cadence_ms": 1000}))
    ),
    retirement_policy=RetirementPolicy.default(),
)

INFER_TICKETS = TicketIssuerConfig(
    "infer-tickets",
    AclComposition.all_of(
        AclClause.require_peer(
            bytes.fromhex("8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c")
        )
    ),
)
ROUTER = load_organism(EXAMPLES / "organisms" / "inference-router.toml")
_INFER_BASE = CoalitionConfig(
    instance_name="infer.corp",
    organisms=[
        OrganismRef.by_stable_id("zipnet", stable("infer.corp.zipnet")),
        OrganismRef.by_stable_id("reputation", stable("infer.corp.reputation-inference")),
        OrganismRef(
            "inference-router", stable("infer.corp.inference-router"), ROUTER.content_hash()
        ),
        OrganismRef.by_stable_id("coordination-market", stable("infer.corp.coordination-market")),
    ],
    ticket_issuer=INFER_TICKETS,
)
_ISSUER_ROOT = _INFER_BASE.ticket_issuer_root()
assert _ISSUER_ROOT is not None
INFER_CORP = _INFER_BASE.replace(
    atlas=AtlasConfig(ModuleConfig("infer.corp.atlas")),
    compute=ComputeConfig(
        ModuleConfig(
            "infer.corp.compute",
            ContentParams.from_params(
                {
                    "schema": "compute.v1",
                    "clearing": "first-fit-by-declared-rate",
                    "tdx_required": True,
                }
            ),
            AclComposition.any_of(AclClause.recognise_issuer(_ISSUER_ROOT)),
        )
    ),
)


@pytest.mark.parametrize(
    ("toml", "const"),
    [
        ("searcher-alpha.toml", SEARCHER_ALPHA),
        ("bridge-beta.toml", BRIDGE_BETA),
        ("oracle-gamma.toml", ORACLE_GAMMA_WITH_CHRONICLE),
        ("signer-delta.toml", SIGNER_DELTA),
        ("ethereum-superchain.toml", ETH_SUPERCHAIN),
        ("infer-corp.toml", INFER_CORP),
    ],
)
def test_book_constant_equals_toml_example(toml: str, const: CoalitionConfig) -> None:
    loaded = load_coalition(EXAMPLES / "coalitions" / toml).config
    assert loaded == const
    assert loaded.stable_id() == const.stable_id()


def test_oracle_file_is_the_books_organism() -> None:
    assert load_organism(EXAMPLES / "organisms" / "oracle.toml") == ORACLE
    # The oracle's identity folds no coalition root: same id whichever coalition pins it.
    assert (
        ORACLE.organism_id() == load_organism(EXAMPLES / "organisms" / "oracle.toml").organism_id()
    )


def test_pinned_oracle_rotation_republishes_oracle_gamma() -> None:
    rotated = ORACLE.__class__(
        ORACLE.name, ORACLE.lattices, ORACLE.organisms, ContentParams.new(b"v2"), ORACLE.acl
    )
    moved = ORACLE_GAMMA_WITH_CHRONICLE.replace(
        organisms=[OrganismRef("oracle", ORACLE_ORG.stable_id, rotated.content_hash())]
    )
    assert moved.coalition_root() == ORACLE_GAMMA_WITH_CHRONICLE.coalition_root()
    assert moved.chronicle() == ORACLE_GAMMA_WITH_CHRONICLE.chronicle()
    assert moved.stable_id() != ORACLE_GAMMA_WITH_CHRONICLE.stable_id()
