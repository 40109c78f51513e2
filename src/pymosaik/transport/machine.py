"""`LinkMachine`: the whole link protocol as a sans-IO state machine.

Fed bytes (``receive_data``/``receive_eof``) and commands (``send``, ``accept``,
``close``), it returns events and leaves bytes to write in ``data_to_send()``.
No sockets, no clock, no global randomness: key material comes from the
injected ``random_bytes``. Timeouts belong to the driver (`pymosaik.transport.link`).

Lifecycle (docs/spec/transport.md §4)::

    initiator                               responder
    HANDSHAKE  -- noise msg1 (e) ------------>  HANDSHAKE
               <- noise msg2 (e,ee,s,es) ----
    AWAIT_HELLO -- noise msg3 (s,se) -------->
               -- Hello{id, net, protocol} -->  AWAIT_HELLO -> AWAIT_ACCEPT (InboundOpen)
               <- Hello{id, net, protocol} --  accept() -> OPEN (Established)
    OPEN (Established)                          or reject(reason): Close frame
               <-> Data frames <->
               <-> Close{code, name} -> CLOSED

Every malformed input ends in ``Closed(PROTOCOL_VIOLATION)``; once keys exist a
Close frame tells the peer why. Nothing on the input path raises.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum, auto
from typing import Any, Final, TypeAlias

from noise.connection import Keypair, NoiseConnection

from pymosaik.primitives import DecodeError, NetworkId, PeerId, SecretKey, decode, encode

from .framing import (
    MAX_RECORD_LEN,
    FrameDecoder,
    FrameKind,
    FramingError,
    RecordDecoder,
    encode_frame,
    encode_record,
)
from .identity import (
    MAX_CONTROL_BODY,
    NOISE_PROTOCOL_NAME,
    PROLOGUE,
    CloseFrame,
    Hello,
    IdentityError,
    check_protocol_name,
    sign_hello,
    verify_hello,
)
from .reasons import (
    DIFFERENT_NETWORK,
    PROTOCOL_VIOLATION,
    UNEXPECTED_CLOSE,
    UNEXPECTED_PEER,
    CloseReason,
    reason_for_code,
)

__all__ = [
    "DEFAULT_MAX_FRAME_SIZE",
    "Closed",
    "Established",
    "Event",
    "InboundOpen",
    "LinkMachine",
    "LinkState",
    "Message",
]

#: Default ceiling on one message body (the canonical encoding's default limit).
DEFAULT_MAX_FRAME_SIZE: Final = 4 * 1024 * 1024
_TAG_LEN: Final = 16
_MAX_PLAINTEXT: Final = MAX_RECORD_LEN - _TAG_LEN
_DH_LEN: Final = 32
# Noise XX with empty handshake payloads has fixed message sizes.
_MSG1_LEN: Final = _DH_LEN
_MSG2_LEN: Final = _DH_LEN + (_DH_LEN + _TAG_LEN) + _TAG_LEN
_MSG3_LEN: Final = (_DH_LEN + _TAG_LEN) + _TAG_LEN


class LinkState(Enum):
    HANDSHAKE = auto()  # Noise messages in flight
    AWAIT_HELLO = auto()  # keys ready, peer identity not yet proven
    AWAIT_ACCEPT = auto()  # responder: peer proven, the driver decides
    OPEN = auto()  # both identities proven; data flows
    CLOSED = auto()


@dataclass(frozen=True, slots=True)
class InboundOpen:
    """Responder only: a proven peer asks for ``protocol``; call accept() or reject()."""

    peer_id: PeerId
    protocol: str


@dataclass(frozen=True, slots=True)
class Established:
    """Both identities are proven; ``channel_binding`` is the Noise handshake hash."""

    peer_id: PeerId
    network_id: NetworkId
    protocol: str
    channel_binding: bytes


@dataclass(frozen=True, slots=True)
class Message:
    """One application message body."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class Closed:
    """The link is over. ``by_peer``: the peer sent the reason (or vanished)."""

    reason: CloseReason
    by_peer: bool
    detail: str = ""


Event: TypeAlias = InboundOpen | Established | Message | Closed
RandomBytes: TypeAlias = Callable[[int], bytes]


class LinkMachine:
    """One link end. Construct with `initiator` or `responder`."""

    def __init__(
        self,
        *,
        is_initiator: bool,
        key: SecretKey,
        network_id: NetworkId,
        random_bytes: RandomBytes,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        protocol: str | None = None,
        expected_peer: PeerId | None = None,
    ) -> None:
        if max_frame_size <= 0:
            raise ValueError("max_frame_size must be positive")
        self.is_initiator = is_initiator
        self.local_id = key.peer_id
        self.network_id = network_id
        self.max_frame_size = max_frame_size
        self.expected_peer = expected_peer
        self._key = key
        self._protocol = protocol
        self.state = LinkState.HANDSHAKE
        self.peer_id: PeerId | None = None
        self.channel_binding: bytes | None = None
        self.close_reason: CloseReason | None = None
        self.closed_by_peer = False

        static_private = random_bytes(_DH_LEN)
        noise = NoiseConnection.from_name(NOISE_PROTOCOL_NAME)
        noise.set_prologue(PROLOGUE)
        noise.set_keypair_from_private_bytes(Keypair.STATIC, static_private)
        noise.set_keypair_from_private_bytes(Keypair.EPHEMERAL, random_bytes(_DH_LEN))
        if is_initiator:
            noise.set_as_initiator()
        else:
            noise.set_as_responder()
        with warnings.catch_warnings():
            # The library warns whenever an ephemeral key is supplied; ours comes
            # from the injected CSPRNG on purpose (deterministic simulation).
            warnings.simplefilter("ignore")
            noise.start_handshake()
        self._noise = noise
        self._static_public: bytes = noise.noise_protocol.keypairs["s"].public_bytes
        self._remote_static: bytes | None = None
        self._sent_msg2 = False
        self._records = RecordDecoder()
        self._expect_handshake_record()
        self._frames = FrameDecoder(MAX_CONTROL_BODY)
        self._out = bytearray()  # wire bytes ready to write
        self._plain = bytearray()  # plaintext waiting to be encrypted
        if is_initiator:
            self._out += encode_record(bytes(noise.write_message()))

    # ---- constructors ------------------------------------------------------
    @classmethod
    def initiator(
        cls,
        key: SecretKey,
        network_id: NetworkId,
        protocol: str,
        *,
        random_bytes: RandomBytes,
        expected_peer: PeerId | None = None,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
    ) -> LinkMachine:
        """The dialling end; ``protocol`` is what it asks the responder to speak."""
        return cls(
            is_initiator=True,
            key=key,
            network_id=network_id,
            random_bytes=random_bytes,
            max_frame_size=max_frame_size,
            protocol=check_protocol_name(protocol),
            expected_peer=expected_peer,
        )

    @classmethod
    def responder(
        cls,
        key: SecretKey,
        network_id: NetworkId,
        *,
        random_bytes: RandomBytes,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
    ) -> LinkMachine:
        """The accepting end; learns the protocol from the initiator's Hello."""
        return cls(
            is_initiator=False,
            key=key,
            network_id=network_id,
            random_bytes=random_bytes,
            max_frame_size=max_frame_size,
        )

    # ---- views ---------------------------------------------------------------
    @property
    def protocol(self) -> str | None:
        return self._protocol

    @property
    def is_closed(self) -> bool:
        return self.state is LinkState.CLOSED

    @property
    def has_keys(self) -> bool:
        return self.channel_binding is not None

    # ---- input ---------------------------------------------------------------
    def receive_data(self, data: bytes) -> list[Event]:
        """Feed bytes read from the socket; return what they mean."""
        if self.state is LinkState.CLOSED or not data:
            return []
        events: list[Event] = []
        self._records.push(data)
        try:
            while not self.is_closed:
                record = self._records.next_record()
                if record is None:
                    break
                if self.state is LinkState.HANDSHAKE:
                    self._on_handshake_record(record)
                else:
                    self._on_transport_record(record, events)
        except (FramingError, DecodeError, IdentityError, _ViolationError) as exc:
            events.append(self._fail(PROTOCOL_VIOLATION, str(exc)))
        except _RefusedError as exc:
            events.append(self._fail(exc.reason, exc.detail))
        return events

    def receive_eof(self) -> list[Event]:
        """The peer's byte stream ended. Without a Close frame first, that is UnexpectedClose."""
        if self.state is LinkState.CLOSED:
            return []
        self.state = LinkState.CLOSED
        self.close_reason = UNEXPECTED_CLOSE
        self.closed_by_peer = True
        self._plain.clear()
        return [Closed(UNEXPECTED_CLOSE, by_peer=True, detail="connection ended without close")]

    # ---- commands ------------------------------------------------------------
    def accept(self) -> Established:
        """Responder: speak the requested protocol; sends our Hello."""
        if self.state is not LinkState.AWAIT_ACCEPT:
            raise RuntimeError(f"accept() in state {self.state.name}")
        assert self._protocol is not None
        assert self.peer_id is not None
        self._send_hello()
        return self._open()

    def reject(self, reason: CloseReason) -> None:
        """Responder: refuse the link (e.g. INVALID_ALPN, UNKNOWN_PEER)."""
        self.close(reason)

    def send(self, payload: bytes) -> None:
        """Queue one message; it goes out on the next ``data_to_send()``."""
        if self.state is not LinkState.OPEN:
            raise RuntimeError(f"send() in state {self.state.name}")
        if len(payload) > self.max_frame_size:
            raise ValueError(
                f"message of {len(payload)} bytes exceeds the frame limit {self.max_frame_size}"
            )
        self._plain += encode_frame(FrameKind.DATA, payload)

    def send_many(self, payloads: Sequence[bytes]) -> None:
        """Queue several messages at once (one buffer append: the bulk path of `send`)."""
        if self.state is not LinkState.OPEN:
            raise RuntimeError(f"send_many() in state {self.state.name}")
        limit = self.max_frame_size
        parts: list[bytes] = []
        for payload in payloads:
            if len(payload) > limit:
                raise ValueError(f"message of {len(payload)} bytes exceeds the frame limit {limit}")
            parts.append(encode_frame(FrameKind.DATA, payload))
        self._plain += b"".join(parts)

    def close(self, reason: CloseReason) -> None:
        """Close locally; the peer gets ``reason`` if keys exist. Idempotent."""
        if self.state is LinkState.CLOSED:
            return
        if self.has_keys:
            body = encode(CloseFrame(reason.code, reason.name))
            self._plain += encode_frame(FrameKind.CLOSE, body)
        self.state = LinkState.CLOSED
        self.close_reason = reason
        self.closed_by_peer = False

    # ---- output --------------------------------------------------------------
    def data_to_send(self) -> bytes:
        """Everything to write now (encrypting queued frames); empty if nothing."""
        plain = self._plain
        if plain:
            out = self._out
            encrypt = self._noise.encrypt
            for start in range(0, len(plain), _MAX_PLAINTEXT):
                chunk = bytes(plain[start : start + _MAX_PLAINTEXT])
                out += encode_record(encrypt(chunk))
            plain.clear()
        if not self._out:
            return b""
        data = bytes(self._out)
        self._out.clear()
        return data

    # ---- internals -----------------------------------------------------------
    def _expect_handshake_record(self) -> None:
        """Noise XX with empty payloads has fixed message sizes; accept nothing else."""
        size = _MSG2_LEN if self.is_initiator else _MSG3_LEN if self._sent_msg2 else _MSG1_LEN
        self._records.set_bounds(size, size)

    def _on_handshake_record(self, record: bytes) -> None:
        noise = self._noise
        # The library forgets the remote static key when the handshake ends; keep
        # a handle on its handshake state to read it afterwards.
        hs: Any = noise.noise_protocol.handshake_state
        try:
            payload = noise.read_message(record)
            # our reply (responder msg2, initiator msg3) runs DH with the peer's
            # keys too, so a low-order point fails here
            reply = None if self._sent_msg2 else bytes(noise.write_message())
        except Exception as exc:  # any library failure is a bad handshake
            raise _ViolationError(f"noise handshake failed: {type(exc).__name__}") from exc
        if payload:
            raise _ViolationError("unexpected handshake payload")
        if reply is not None:
            self._out += encode_record(reply)
        if not self.is_initiator and not self._sent_msg2:
            self._sent_msg2 = True
            self._expect_handshake_record()
            return
        self._remote_static = bytes(hs.rs.public_bytes)
        if not noise.handshake_finished:  # pragma: no cover - XX always ends here
            raise _ViolationError("handshake did not finish")
        self.channel_binding = bytes(noise.get_handshake_hash())
        self._records.set_bounds(_TAG_LEN + 1)
        self.state = LinkState.AWAIT_HELLO
        if self.is_initiator:
            self._send_hello()

    def _send_hello(self) -> None:
        assert self.channel_binding is not None
        assert self._protocol is not None
        hello = sign_hello(
            self._key, self._static_public, self.channel_binding, self.network_id, self._protocol
        )
        self._plain += encode_frame(FrameKind.HELLO, encode(hello))

    def _on_transport_record(self, record: bytes, events: list[Event]) -> None:
        try:
            plaintext = self._noise.decrypt(record)
        except Exception as exc:  # tag failure, nonce exhaustion
            raise _ViolationError(f"record does not decrypt: {type(exc).__name__}") from exc
        frames = self._frames
        frames.push(plaintext)
        while not self.is_closed:
            frame = frames.next_frame()
            if frame is None:
                return
            kind, body = frame
            if kind is FrameKind.DATA:
                if self.state is not LinkState.OPEN:
                    raise _ViolationError("data before the link is open")
                events.append(Message(body))
            elif kind is FrameKind.CLOSE:
                events.append(self._on_close_frame(body))
            elif self.state is LinkState.AWAIT_HELLO:
                events.append(self._on_hello(body))
            else:
                raise _ViolationError("unexpected hello")

    def _on_hello(self, body: bytes) -> InboundOpen | Established:
        assert self._remote_static is not None
        assert self.channel_binding is not None
        hello = decode(body, Hello, max_size=MAX_CONTROL_BODY)
        peer = verify_hello(hello, self._remote_static, self.channel_binding)
        self.peer_id = peer
        if hello.network_id != self.network_id:
            raise _RefusedError(DIFFERENT_NETWORK, f"peer is on network {hello.network_id.short()}")
        if not self.is_initiator:
            self._protocol = hello.protocol
            self.state = LinkState.AWAIT_ACCEPT
            return InboundOpen(peer, hello.protocol)
        if self.expected_peer is not None and peer != self.expected_peer:
            raise _RefusedError(UNEXPECTED_PEER, f"expected {self.expected_peer}, got {peer}")
        if hello.protocol != self._protocol:
            raise _ViolationError("responder answered with another protocol")
        return self._open()

    def _open(self) -> Established:
        assert self.peer_id is not None
        assert self._protocol is not None
        assert self.channel_binding is not None
        self.state = LinkState.OPEN
        self._frames.set_max_body(max(self.max_frame_size, MAX_CONTROL_BODY))
        return Established(self.peer_id, self.network_id, self._protocol, self.channel_binding)

    def _on_close_frame(self, body: bytes) -> Closed:
        frame = decode(body, CloseFrame, max_size=MAX_CONTROL_BODY)
        try:
            reason = reason_for_code(frame.code, frame.name)
        except ValueError as exc:
            raise _ViolationError(str(exc)) from exc
        self.state = LinkState.CLOSED
        self.close_reason = reason
        self.closed_by_peer = True
        self._plain.clear()
        return Closed(reason, by_peer=True)

    def _fail(self, reason: CloseReason, detail: str) -> Closed:
        self._plain.clear()  # nothing queued after a failure may go out
        self.close(reason)
        return Closed(reason, by_peer=False, detail=detail)


class _ViolationError(Exception):
    """Internal: the peer broke the protocol."""


class _RefusedError(Exception):
    """Internal: the peer is well-formed but not acceptable (network, identity)."""

    def __init__(self, reason: CloseReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
