"""Compute's types. Money is integer micro-units (D10); times are milliseconds."""

from __future__ import annotations

import blake3

from pymosaik.primitives import PeerId, SecretKey, Wire, encode

MRTD_LEN = 48


class Capabilities(Wire, frozen=True):
    regions: tuple[str, ...]
    tdx_capable: bool
    max_cpu_millicores: int
    max_ram_mib: int


class DeclaredRates(Wire, frozen=True):
    """Micro-units per core-hour and per GiB-hour."""

    per_core_hour: int
    per_gib_hour: int


class ProviderCard(Wire, frozen=True):
    """A provider's registration: what it offers, at what price, how to reach it privately."""

    signer: bytes  # the provider's Ed25519 public key; ProviderId = blake3(signer)
    capabilities: Capabilities
    rates: DeclaredRates
    tdx_mrtd: bytes  # 48-byte measurement when TDX-capable, else empty
    reply_key: bytes  # X25519 key grants' sealed details are addressed to
    refreshed_at_ms: int

    @property
    def provider_id(self) -> bytes:
        return provider_id(self.signer)


def provider_id(signer: bytes) -> bytes:
    return blake3.blake3(signer).digest()


class ComputeRequest(Wire, frozen=True):
    """The book's request with D9's manifest fields; it names no requester."""

    workload: bytes  # stable id of the workload organism
    pin: bytes  # content hash of the workload image
    duration_sec: int
    min_cpu_millicores: int
    min_ram_mib: int
    tdx_required: bool
    region: str  # "" = any region
    max_price: int  # micro-units for the whole duration
    settlement: bytes  # pointer to the payment (a transaction hash)
    deadline_ms: int
    reply_key: bytes  # X25519: the grant's receipt is sealed to it

    def check(self) -> str | None:
        if len(self.workload) != 32:
            return "workload and pin are 32-byte ids"
        return _manifest_problem(self)


class Ask(Wire, frozen=True):
    """What the committee commits of a relayed request: the fields clearing reads and the
    grant carries, under the request's id. The payment appears only as a tag keyed with a
    secret every member holds and no reader does, so a replica of the log cannot find the
    payment's transaction (hence its payer) on the chain; the budget is what the payment covers
    up to the request's max price; the workload's id is left out."""

    request_id: bytes
    pin: bytes
    duration_sec: int
    min_cpu_millicores: int
    min_ram_mib: int
    tdx_required: bool
    region: str
    max_price: int  # min(the request's max price, the amount paid)
    deadline_ms: int
    reply_key: bytes
    contract: bytes  # where the payment went (public: the coalition's settlement contract)
    payment_tag: bytes  # keyed blake3 of the payment's transaction hash (one payment, one ask)

    def check(self) -> str | None:
        if len(self.request_id) != 32 or len(self.payment_tag) != 32:
            return "request id and payment tag are 32 bytes"
        return _manifest_problem(self)

    @classmethod
    def of(cls, req: ComputeRequest, ev: SettlementEvidence, tag_key: bytes) -> Ask:
        """The request as the committee will hold it, given the payment a member read."""
        if ev.tx_hash != req.settlement:
            raise ValueError("the evidence is for another payment than the request names")
        return cls(
            request_id(req),
            req.pin,
            req.duration_sec,
            req.min_cpu_millicores,
            req.min_ram_mib,
            req.tdx_required,
            req.region,
            min(req.max_price, ev.amount),
            req.deadline_ms,
            req.reply_key,
            ev.contract,
            payment_tag(tag_key, req.settlement),
        )


def _manifest_problem(m: ComputeRequest | Ask) -> str | None:
    if len(m.pin) != 32:
        return "workload and pin are 32-byte ids"
    if not 1 <= m.duration_sec <= 30 * 86_400:
        return "duration must be 1 s .. 30 days"
    if m.min_cpu_millicores <= 0 or m.min_ram_mib <= 0 or m.max_price < 0:
        return "cpu, ram must be positive and the price non-negative"
    if len(m.reply_key) != 32:
        return "reply key is 32 bytes"
    return None


def request_id(req: ComputeRequest) -> bytes:
    """blake3 of the canonical encoding (D4): the only name a request has in public."""
    return blake3.blake3(encode(req)).digest()


PAYMENT_TAG_CONTEXT = "coalition compute payment tag v1"


def payment_tag_key(operator: SecretKey) -> bytes:
    """The members' shared tag key, derived from the operator key every module member holds
    (docs/spec/organisms.md L9); a reader holds a reader ticket, never this key."""
    return blake3.blake3(operator.seed_bytes(), derive_key_context=PAYMENT_TAG_CONTEXT).digest()


def payment_tag(key: bytes, tx_hash: bytes) -> bytes:
    return blake3.blake3(tx_hash, key=key).digest()


class SettlementEvidence(Wire, frozen=True):
    """What the proposer read from the chain for the request's settlement pointer."""

    tx_hash: bytes
    contract: bytes
    amount: int
    block: int


class ComputeGrant(Wire, frozen=True):
    request_id: bytes
    provider: bytes
    content_hash: bytes
    valid_from_ms: int
    valid_to_ms: int
    expected_mrtd: bytes
    price: int
    region: str
    cpu_millicores: int
    ram_mib: int
    reply_key: bytes  # the requester's one-time key: the provider seals the receipt to it


class Refusal(Wire, frozen=True):
    """A committed no: nobody could serve the request (or its deadline passed)."""

    request_id: bytes
    reason: str


class ClearingRecord(Wire, frozen=True):
    """Public per cleared request (the book's shape): who won at what rate; losers stay private."""

    at_ms: int
    request_id: bytes
    winning_provider: bytes
    clearing_price: int
    region: str
    tdx_required: bool


class UsageMetrics(Wire, frozen=True):
    cpu_core_seconds: int
    ram_mib_seconds: int
    net_bytes: int


class LogBody(Wire, frozen=True):
    grant_id: bytes
    provider: bytes
    window_from_ms: int
    window_to_ms: int
    usage: UsageMetrics
    #: True when the workload ran to completion; an empty-usage log means "tried but failed".
    completed: bool


class ComputeLog(Wire, frozen=True):
    """Provider-signed usage attestation, one per grant."""

    body: LogBody
    signature: bytes

    @classmethod
    def signed(cls, key: SecretKey, body: LogBody) -> ComputeLog:
        return cls(body, key.sign(LOG_DOMAIN + encode(body)))

    def verify(self, signer: bytes) -> bool:
        try:
            return PeerId(signer).verify(self.signature, LOG_DOMAIN + encode(self.body))
        except ValueError:
            return False


LOG_DOMAIN = b"compute.log.v1|"
CARD_DOMAIN = b"compute.card.v1|"


class SignedCard(Wire, frozen=True):
    card: ProviderCard
    signature: bytes

    @classmethod
    def signed(cls, key: SecretKey, card: ProviderCard) -> SignedCard:
        return cls(card, key.sign(CARD_DOMAIN + encode(card)))

    def verify(self) -> bool:
        try:
            return PeerId(self.card.signer).verify(self.signature, CARD_DOMAIN + encode(self.card))
        except ValueError:
            return False


class Decision(Wire, frozen=True):
    """What became of a request, by its id (the grants surface's value): its grant or the
    committed refusal's reason; a later version adds the provider's usage log."""

    grant: ComputeGrant | None = None
    refusal: str = ""
    log: ComputeLog | None = None
