"""Property tests: no collisions, every field participates, handshake round trips."""

import dataclasses
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from coalition import (
    AclClause,
    AclComposition,
    AlmanacConfig,
    AtlasConfig,
    ChronicleConfig,
    CoalitionConfig,
    ComputeConfig,
    ContentParams,
    HandshakeError,
    ModuleConfig,
    OrganismRef,
    RandomnessConfig,
    RetirementPolicy,
    TicketIssuerConfig,
    UniqueId,
)

ids = st.binary(min_size=32, max_size=32).map(UniqueId)
pins = st.one_of(st.none(), ids.filter(lambda i: not i.is_zero()))
names = st.text(min_size=1, max_size=12).filter(lambda s: 0 < len(s.encode()) <= 255)
acls = st.one_of(
    st.just(AclComposition.OPEN),
    st.lists(ids.map(AclClause.recognise_issuer), min_size=1, max_size=2).map(
        lambda cs: AclComposition.all_of(*cs)
    ),
    st.lists(ids.map(AclClause.require_tag), min_size=1, max_size=2).map(
        lambda cs: AclComposition.any_of(*cs)
    ),
)
bodies = st.builds(ModuleConfig, names, st.binary(max_size=16).map(ContentParams.new), acls)
refs = st.builds(OrganismRef, names, ids, pins)


@st.composite
def configs(draw: st.DrawFn) -> CoalitionConfig:
    members = draw(st.lists(ids, max_size=6, unique=True))
    split = draw(st.integers(0, len(members)))
    roles = draw(st.lists(names, min_size=len(members) - split, max_size=len(members) - split))
    organisms = [
        OrganismRef(role, sid, draw(pins)) for role, sid in zip(roles, members[split:], strict=True)
    ]
    return CoalitionConfig(
        instance_name=draw(names),
        lattices=members[:split],
        organisms=organisms,
        atlas=draw(st.none() | bodies.map(AtlasConfig)),
        almanac=draw(st.none() | bodies.map(AlmanacConfig)),
        chronicle=draw(st.none() | bodies.map(ChronicleConfig)),
        compute=draw(st.none() | bodies.map(ComputeConfig)),
        randomness=draw(st.none() | bodies.map(RandomnessConfig)),
        ticket_issuer=draw(st.none() | st.builds(TicketIssuerConfig, names, acls)),
        retirement_policy=draw(st.sampled_from(RetirementPolicy)),
    )


def essence(cfg: CoalitionConfig) -> CoalitionConfig:
    """The config with what its policy leaves out of the fingerprint removed.

    LENIENT by definition lets members rotate pinned content without a new
    fingerprint (docs/decisions/0003); everything else must count.
    """
    if cfg.retirement_policy is RetirementPolicy.CONSERVATIVE:
        return cfg
    return cfg.replace(organisms=[OrganismRef(o.role, o.stable_id) for o in cfg.organisms])


@settings(max_examples=400, deadline=None)
@given(st.lists(configs(), min_size=2, max_size=2))
def test_different_configs_never_collide(pair: list[CoalitionConfig]) -> None:
    a, b = map(essence, pair)
    if a == b:
        assert a.stable_id() == b.stable_id()
    else:
        assert a.stable_id() != b.stable_id()


def test_large_random_sample_has_no_collision() -> None:
    """20,000 seeded random configs, many of them near neighbours of each other."""
    rng = random.Random(20261122)
    pool = [UniqueId.from_u8(i) for i in range(6)]
    seen: dict[UniqueId, CoalitionConfig] = {}
    for _ in range(20_000):
        members = rng.sample(pool, rng.randint(0, 4))
        split = rng.randint(0, len(members))
        cfg = CoalitionConfig(
            instance_name=rng.choice(["a", "b", "ab"]),
            lattices=members[:split],
            organisms=[
                OrganismRef(rng.choice("xy"), sid, rng.choice([None, pool[1], pool[2]]))
                for sid in members[split:]
            ],
            atlas=rng.choice(
                [None, AtlasConfig(ModuleConfig("m")), AtlasConfig(ModuleConfig("n"))]
            ),
            compute=rng.choice([None, ComputeConfig(ModuleConfig("m"))]),
            ticket_issuer=rng.choice([None, TicketIssuerConfig("t")]),
            retirement_policy=rng.choice(list(RetirementPolicy)),
        )
        key = essence(cfg)
        fp = cfg.stable_id()
        assert seen.setdefault(fp, key) == key
    assert len(seen) > 5_000


@settings(max_examples=300, deadline=None)
@given(configs())
def test_handshake_round_trips_exactly(cfg: CoalitionConfig) -> None:
    text = cfg.to_hex()
    back = CoalitionConfig.from_hex(text)
    assert back == cfg
    assert back.to_hex() == text
    assert back.stable_id() == cfg.stable_id()
    assert CoalitionConfig.from_hex(text.upper()) == cfg


@settings(max_examples=300, deadline=None)
@given(configs(), st.data())
def test_truncated_or_mutated_handshake_rejected_or_different(
    cfg: CoalitionConfig, data: st.DataObject
) -> None:
    raw = cfg.to_bytes()
    cut = data.draw(st.integers(0, len(raw) - 1))
    try:
        CoalitionConfig.from_bytes(raw[:cut])
    except HandshakeError:
        pass
    else:  # pragma: no cover - a strict prefix is never a valid handshake
        raise AssertionError("truncated handshake accepted")
    pos = data.draw(st.integers(0, len(raw) - 1))
    flipped = bytearray(raw)
    flipped[pos] ^= data.draw(st.integers(1, 255))
    try:
        other = CoalitionConfig.from_bytes(bytes(flipped))
    except HandshakeError:
        return
    assert other != cfg
    assert other.to_bytes() == bytes(flipped)


@given(st.binary(max_size=300))
def test_fuzz_handshake_decoder(data: bytes) -> None:
    for blob in (data, b"COAL" + data):
        try:
            cfg = CoalitionConfig.from_bytes(blob)
        except HandshakeError:
            continue
        assert cfg.to_bytes() == blob


# ---- every field participates ----------------------------------------------
BASE = CoalitionConfig(
    instance_name="base",
    lattices=[UniqueId.from_u8(1)],
    organisms=[OrganismRef("r", UniqueId.from_u8(2), UniqueId.from_u8(3))],
    atlas=AtlasConfig(ModuleConfig("a")),
    almanac=AlmanacConfig(ModuleConfig("a")),
    chronicle=ChronicleConfig(ModuleConfig("a")),
    compute=ComputeConfig(ModuleConfig("a")),
    randomness=RandomnessConfig(ModuleConfig("a")),
    ticket_issuer=TicketIssuerConfig("t"),
)
OTHER_BODY = ModuleConfig("b")
VARIANTS = {
    "coalition_seed": UniqueId.from_u8(9),
    "instance_name": "base2",
    "lattices": [UniqueId.from_u8(4)],
    "organisms": [OrganismRef("r", UniqueId.from_u8(5), UniqueId.from_u8(3))],
    "organisms.role": [OrganismRef("s", UniqueId.from_u8(2), UniqueId.from_u8(3))],
    "organisms.content_hash": [OrganismRef("r", UniqueId.from_u8(2), UniqueId.from_u8(6))],
    "atlas": AtlasConfig(OTHER_BODY),
    "almanac": AlmanacConfig(OTHER_BODY),
    "chronicle": ChronicleConfig(OTHER_BODY),
    "compute": ComputeConfig(OTHER_BODY),
    "randomness": RandomnessConfig(OTHER_BODY),
    "ticket_issuer": TicketIssuerConfig("t2"),
    "retirement_policy": RetirementPolicy.LENIENT,
}


def test_every_field_participates_in_the_fingerprint() -> None:
    fields = {f.name for f in dataclasses.fields(CoalitionConfig)}
    covered = {k.split(".")[0] for k in VARIANTS} | {"schema_version", "module_slots"}
    assert fields <= covered | {"module_slots"}
    seen = {BASE.stable_id()}
    for key, value in VARIANTS.items():
        changed = BASE.replace(**{key.split(".")[0]: value})
        fp = changed.stable_id()
        assert fp not in seen, key
        seen.add(fp)
    # Removing a module or the issuer also moves it.
    for key in ("atlas", "almanac", "chronicle", "compute", "randomness", "ticket_issuer"):
        assert BASE.replace(**{key: None}).stable_id() not in {BASE.stable_id()}, key


def test_every_module_body_field_participates() -> None:
    body = ModuleConfig("n", ContentParams.new(b"c"), AclComposition.OPEN)
    variants = [
        ModuleConfig("m", body.content, body.acl),
        ModuleConfig("n", ContentParams.new(b"d"), body.acl),
        ModuleConfig(
            "n", body.content, AclComposition.all_of(AclClause.require_tag(UniqueId.from_u8(1)))
        ),
    ]
    fps = {AtlasConfig(b).slot_fingerprint() for b in [body, *variants]}
    assert len(fps) == 4
    assert AtlasConfig(body).slot_fingerprint() != AlmanacConfig(body).slot_fingerprint()
