"""JWT tickets: the `Jwt` validator and `JwtTicketBuilder` (mosaik ``tickets::jwt``).

PyJWT checks the token's structure and signature, restricted to the algorithms
of the configured keys ("none" can never be configured). The claims are then
checked here against the caller's ``now_ms``, so validation is a pure function
of its inputs: ``iss`` ∈ issuers (if any), ``sub`` = required subject or the
peer id in lower-case hex, ``nbf`` ≤ now, ``exp`` > now (required unless
non-expiring tokens are allowed), ``exp - now`` ≤ max lifetime, ``now - iat``
≤ max age (``iat`` required then), ``aud`` ∈ audiences (if any), custom claims
equal. A clock leeway (port addition) widens the time checks by that many
seconds.

`Jwt.signature()` reproduces mosaik's derivation byte for byte when no leeway
is set (docs/spec/tickets.md), so one configuration names one group on both.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, ClassVar, Final, Protocol, TypeAlias

import jwt as pyjwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pymosaik.primitives import PeerId, UniqueId, unique_id

from .expiration import NEVER, Expiration
from .ticket import Ticket, TicketClass
from .validator import InvalidTicketError, PeerIdentity

__all__ = [
    "JWT_CLASS",
    "EdDsa",
    "EdDsaSigningKey",
    "Es256",
    "Es256SigningKey",
    "Hs256",
    "JsonValue",
    "Jwt",
    "JwtSigningKey",
    "JwtTicketBuilder",
    "JwtVerifyingKey",
]

JWT_CLASS: Final = unique_id("mosaik.tickets.jwt.v1")
JsonValue: TypeAlias = Any  # a JSON-compatible value (str, int, float, bool, None, list, dict)
Seconds: TypeAlias = int | timedelta
_MAX_TS: Final = (1 << 63) - 1
_MAX_TOKEN: Final = 16 * 1024
_REGISTERED: Final = frozenset({"iss", "sub", "aud", "exp", "nbf", "iat", "jti"})


def _secs(value: Seconds) -> int:
    secs = value // timedelta(seconds=1) if isinstance(value, timedelta) else int(value)
    if secs < 0:
        raise ValueError("durations must be non-negative")
    return secs


def _u64(n: int) -> bytes:
    return n.to_bytes(8, "little")


def _json(value: JsonValue) -> str:
    """Compact JSON with sorted keys (serde_json's ``Value::to_string`` shape)."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


# ---- keys ---------------------------------------------------------------------------
class JwtVerifyingKey(Protocol):
    """A public (or shared) key with its JWT algorithm and a fingerprint for signatures."""

    @property
    def algorithm(self) -> str: ...

    def fingerprint(self) -> UniqueId: ...

    def verifying_material(self) -> Any: ...


class JwtSigningKey(Protocol):
    @property
    def algorithm(self) -> str: ...

    def signing_material(self) -> Any: ...


@dataclass(frozen=True, slots=True, repr=False)
class Hs256:
    """HMAC-SHA256 shared secret (32 bytes): signs and verifies."""

    secret: bytes
    algorithm: ClassVar[str] = "HS256"

    def __post_init__(self) -> None:
        if len(self.secret) != 32:
            raise ValueError("HS256 secrets are 32 bytes")

    @classmethod
    def hex(cls, text: str) -> Hs256:
        return cls(bytes.fromhex(text))

    @classmethod
    def generate(cls) -> Hs256:
        return cls(os.urandom(32))

    def fingerprint(self) -> UniqueId:
        return unique_id("hs256").derive(self.secret)

    def verifying_material(self) -> Any:
        return self.secret

    def signing_material(self) -> Any:
        return self.secret

    def __repr__(self) -> str:
        return f"Hs256({self.fingerprint().short()}…)"


@dataclass(frozen=True, slots=True)
class Es256:
    """ECDSA P-256 public key, 33-byte SEC1 compressed (mosaik's format)."""

    public_key: bytes
    algorithm: ClassVar[str] = "ES256"

    def __post_init__(self) -> None:
        if len(self.public_key) != 33:
            raise ValueError("ES256 keys are 33-byte compressed SEC1 points")
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), self.public_key)

    @classmethod
    def hex(cls, text: str) -> Es256:
        return cls(bytes.fromhex(text))

    def fingerprint(self) -> UniqueId:
        return unique_id("es256").derive(self.public_key)

    def verifying_material(self) -> Any:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), self.public_key)


class Es256SigningKey:
    """ECDSA P-256 private key for issuing ES256 tickets."""

    __slots__ = ("_key",)
    algorithm: ClassVar[str] = "ES256"

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(key.curve, ec.SECP256R1):
            raise ValueError("ES256 needs a P-256 key")
        self._key = key

    @classmethod
    def generate(cls) -> Es256SigningKey:
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def from_bytes(cls, scalar: bytes) -> Es256SigningKey:
        return cls(ec.derive_private_key(int.from_bytes(scalar, "big"), ec.SECP256R1()))

    def verifying_key(self) -> Es256:
        point = self._key.public_key().public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
        return Es256(point)

    def signing_material(self) -> Any:
        return self._key

    def __repr__(self) -> str:
        return f"Es256SigningKey({self.verifying_key().fingerprint().short()}…)"


@dataclass(frozen=True, slots=True)
class EdDsa:
    """Ed25519 public key (32 bytes), JWT algorithm "EdDSA"."""

    public_key: bytes
    algorithm: ClassVar[str] = "EdDSA"

    def __post_init__(self) -> None:
        if len(self.public_key) != 32:
            raise ValueError("EdDSA keys are 32 bytes")

    @classmethod
    def hex(cls, text: str) -> EdDsa:
        return cls(bytes.fromhex(text))

    def fingerprint(self) -> UniqueId:
        return unique_id("EdDsa").derive(self.public_key)

    def verifying_material(self) -> Any:
        return Ed25519PublicKey.from_public_bytes(self.public_key)


class EdDsaSigningKey:
    """Ed25519 private key for issuing EdDSA tickets."""

    __slots__ = ("_key",)
    algorithm: ClassVar[str] = "EdDSA"

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key

    @classmethod
    def generate(cls) -> EdDsaSigningKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_bytes(cls, seed: bytes) -> EdDsaSigningKey:
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    def verifying_key(self) -> EdDsa:
        return EdDsa(self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))

    def signing_material(self) -> Any:
        return self._key

    def __repr__(self) -> str:
        return f"EdDsaSigningKey({self.verifying_key().fingerprint().short()}…)"


# ---- validator ----------------------------------------------------------------------
def _timestamp(claims: dict[str, Any], name: str) -> int | None:
    """A NumericDate claim as a non-negative integer, None if absent; floats are refused."""
    if name not in claims:
        return None
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_TS:
        raise InvalidTicketError(f"claim {name!r} is not a timestamp")
    return value


@dataclass(frozen=True, slots=True)
class Jwt:
    """A configurable JWT ticket validator (immutable; each setter returns a copy)."""

    keys: tuple[JwtVerifyingKey, ...]
    issuers: tuple[str, ...] = ()
    audiences: tuple[str, ...] = ()
    required_subject: str | None = None
    non_expiring_ok: bool = False
    required_claims: tuple[tuple[str, JsonValue], ...] = ()
    max_lifetime_s: int | None = None
    max_age_s: int | None = None
    leeway_s: int = 0
    CLASS: ClassVar[TicketClass] = JWT_CLASS

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("a Jwt validator needs at least one key")

    # ---- configuration (mosaik's builder methods) ----------------------------------
    @classmethod
    def with_key(cls, key: JwtVerifyingKey) -> Jwt:
        return cls((key,))

    def add_key(self, key: JwtVerifyingKey) -> Jwt:
        """Accept another key too (zero-downtime rotation)."""
        return replace(self, keys=(*self.keys, key))

    def allow_issuer(self, issuer: str) -> Jwt:
        return replace(self, issuers=(*self.issuers, issuer))

    def allow_audience(self, audience: str) -> Jwt:
        return replace(self, audiences=(*self.audiences, audience))

    def require_subject(self, subject: str) -> Jwt:
        return replace(self, required_subject=subject)

    def require_claim(self, name: str, value: JsonValue) -> Jwt:
        claims = dict(self.required_claims)
        claims[name] = value
        return replace(self, required_claims=tuple(sorted(claims.items())))

    def allow_non_expiring(self) -> Jwt:
        return replace(self, non_expiring_ok=True)

    def max_lifetime(self, duration: Seconds) -> Jwt:
        return replace(self, max_lifetime_s=_secs(duration))

    def max_age(self, duration: Seconds) -> Jwt:
        return replace(self, max_age_s=_secs(duration))

    def clock_leeway(self, duration: Seconds) -> Jwt:
        return replace(self, leeway_s=_secs(duration))

    # ---- TicketValidator -----------------------------------------------------------
    def ticket_class(self) -> TicketClass:
        return JWT_CLASS

    def signature(self) -> UniqueId:
        sig = JWT_CLASS
        for key in self.keys:
            sig = sig.derive(key.algorithm).derive(key.fingerprint().bytes)
        sig = (
            sig.derive(bytes((1 if self.non_expiring_ok else 0,)))
            .derive(",".join(self.issuers))
            .derive(",".join(self.audiences))
            .derive(self.required_subject or "")
            .derive(_u64(self.max_lifetime_s or 0))
            .derive(_u64(self.max_age_s or 0))
        )
        for name, value in self.required_claims:
            sig = sig.derive(name).derive(_json(value))
        if self.leeway_s:
            sig = sig.derive("leeway").derive(_u64(self.leeway_s))
        return sig

    def validate(self, data: bytes, peer: PeerIdentity, now_ms: int) -> Expiration:
        claims = self._verified_claims(data)
        now = now_ms // 1000
        leeway = self.leeway_s

        if self.issuers and claims.get("iss") not in self.issuers:
            raise InvalidTicketError("issuer not allowed")
        subject = self.required_subject or peer.peer_id.hex()
        if claims.get("sub") != subject:
            raise InvalidTicketError("wrong subject")
        nbf = _timestamp(claims, "nbf")
        if nbf is not None and nbf > now + leeway:
            raise InvalidTicketError("not yet valid")
        exp = _timestamp(claims, "exp")
        if exp is None:
            if not self.non_expiring_ok:
                raise InvalidTicketError("token does not expire")
        elif exp <= now - leeway:
            raise InvalidTicketError("expired")
        if self.max_lifetime_s is not None and exp is not None and exp - now > self.max_lifetime_s:
            raise InvalidTicketError("lifetime exceeds the maximum")
        iat = _timestamp(claims, "iat")
        if iat is not None and iat > now + leeway:
            raise InvalidTicketError("issued in the future")
        if self.max_age_s is not None and (iat is None or now - iat > self.max_age_s + leeway):
            raise InvalidTicketError("token too old or without iat")
        if self.audiences and not self._audience_ok(claims.get("aud")):
            raise InvalidTicketError("audience not allowed")
        for name, expected in self.required_claims:
            if name not in claims or _json(claims[name]) != _json(expected):
                raise InvalidTicketError(f"claim {name!r} mismatch")
        return NEVER if exp is None else Expiration.at(exp * 1000)

    def _audience_ok(self, aud: Any) -> bool:
        if isinstance(aud, str):
            return aud in self.audiences
        if isinstance(aud, list):
            return any(isinstance(a, str) and a in self.audiences for a in aud)
        return False

    def _verified_claims(self, data: bytes) -> dict[str, Any]:
        """The claims of a token whose signature one of our keys verifies, else refuse."""
        if len(data) > _MAX_TOKEN:
            raise InvalidTicketError("token too large")
        try:
            token = data.decode("ascii")
            alg = pyjwt.get_unverified_header(token).get("alg")
        except (UnicodeDecodeError, pyjwt.InvalidTokenError) as exc:
            raise InvalidTicketError("malformed token") from exc
        candidates = [k for k in self.keys if k.algorithm == alg]
        if not candidates:
            raise InvalidTicketError(f"algorithm {alg!r} not accepted")
        for key in candidates:
            try:
                claims: dict[str, Any] = pyjwt.decode(
                    token,
                    key.verifying_material(),
                    algorithms=[key.algorithm],
                    options={
                        "verify_signature": True,
                        "verify_exp": False,
                        "verify_nbf": False,
                        "verify_iat": False,
                        "verify_aud": False,
                        "verify_iss": False,
                        "verify_sub": False,
                        "verify_jti": False,
                        "require": [],
                    },
                )
            except (pyjwt.InvalidTokenError, ValueError, TypeError):
                continue
            return claims
        raise InvalidTicketError("signature does not verify")


# ---- builder ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class JwtTicketBuilder:
    """Mints signed JWT tickets (immutable; each setter returns a copy)."""

    key: JwtSigningKey
    issuer_: str | None = None
    subject_: str | None = None
    audience_: str | None = None
    expiration: Expiration = NEVER
    lifetime_s: int | None = None  # relative expiry, resolved at build time
    not_before_s: int | None = None
    issued_at_s: int | None = None
    token_id_: str | None = None
    claims: tuple[tuple[str, JsonValue], ...] = field(default=())

    def issuer(self, issuer: str) -> JwtTicketBuilder:
        return replace(self, issuer_=issuer)

    def subject(self, subject: str) -> JwtTicketBuilder:
        """Override ``sub`` (default: the peer id in lower-case hex)."""
        return replace(self, subject_=subject)

    def audience(self, audience: str) -> JwtTicketBuilder:
        return replace(self, audience_=audience)

    def expires_at(self, expiration: Expiration) -> JwtTicketBuilder:
        return replace(self, expiration=expiration, lifetime_s=None)

    def expires_in(self, duration: Seconds) -> JwtTicketBuilder:
        return replace(self, lifetime_s=_secs(duration))

    def not_before(self, ts_s: int) -> JwtTicketBuilder:
        return replace(self, not_before_s=ts_s)

    def issued_at(self, ts_s: int) -> JwtTicketBuilder:
        return replace(self, issued_at_s=ts_s)

    def token_id(self, jti: str) -> JwtTicketBuilder:
        return replace(self, token_id_=jti)

    def claim(self, name: str, value: JsonValue) -> JwtTicketBuilder:
        """Add a private claim; registered names go to their own field, as in mosaik."""
        if name in _REGISTERED:
            return self._registered(name, value)
        claims = dict(self.claims)
        claims[name] = value
        return replace(self, claims=tuple(sorted(claims.items())))

    def _registered(self, name: str, value: JsonValue) -> JwtTicketBuilder:
        if name in ("exp", "nbf", "iat") and (
            isinstance(value, bool) or not isinstance(value, int)
        ):
            raise ValueError(f"claim {name!r} must be an integer timestamp")
        if name in ("iss", "sub", "aud", "jti") and not isinstance(value, str):
            raise ValueError(f"claim {name!r} must be a string")
        field_name = {
            "iss": "issuer_",
            "sub": "subject_",
            "aud": "audience_",
            "nbf": "not_before_s",
            "iat": "issued_at_s",
            "jti": "token_id_",
        }.get(name)
        if field_name is None:  # exp
            return self.expires_at(Expiration.at(value * 1000))
        return replace(self, **{field_name: value})

    def build(self, peer_id: PeerId, *, now_ms: int) -> Ticket:
        """A signed ticket for ``peer_id``; ``iat`` defaults to ``now_ms``."""
        now = now_ms // 1000
        if self.lifetime_s is not None:
            exp: int | None = now + self.lifetime_s
        else:
            exp = None if self.expiration.at_ms is None else self.expiration.at_ms // 1000
        payload: dict[str, Any] = {}
        if self.issuer_ is not None:
            payload["iss"] = self.issuer_
        payload["sub"] = self.subject_ if self.subject_ is not None else peer_id.hex()
        if self.audience_ is not None:
            payload["aud"] = self.audience_
        if exp is not None:
            payload["exp"] = exp
        if self.not_before_s is not None:
            payload["nbf"] = self.not_before_s
        payload["iat"] = self.issued_at_s if self.issued_at_s is not None else now
        if self.token_id_ is not None:
            payload["jti"] = self.token_id_
        payload.update(self.claims)
        token = pyjwt.encode(payload, self.key.signing_material(), algorithm=self.key.algorithm)
        return Ticket(JWT_CLASS, token.encode("ascii"))
