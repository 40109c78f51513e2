"""Key generation inside a committee's log: the part every threshold organism shares.

unseal, the randomness beacon and the threshold signer each hold a threshold key made by the
DKG of ``coalition.crypto.dkg`` (decision D12). This module carries that DKG through a
replicated machine — the commands, the public state every replica derives (``KeygenState``) and
one member's private side (``KeygenMember``) — so an organism adds only what it does with the key.
Commands reach ``KeygenState`` already authenticated: the organism's machine checks the member's
signature over its own command envelope and passes the body here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Final, Generic, TypeVar

import blake3
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from pymosaik.primitives import Wire

from .crypto.dkg import (
    Complaint,
    Deal,
    DkgError,
    DkgMember,
    DkgParams,
    DkgResult,
    DkgTranscript,
    Justification,
    KeyShare,
    Phase,
)
from .crypto.group import E, Entropy, PrimeGroup
from .keygen_recovery import (
    RECOVERY_COMMANDS,
    RecoveryBook,
    RecoveryCmd,
    RecoveryDone,
    RecoveryImage,
    RecoveryMember,
    RefreshDealCmd,
    RefreshStart,
)

S = TypeVar("S")


class Register(Wire, frozen=True, tag="register"):
    """A member's X25519 key that DKG shares are sealed to."""

    member: int
    encryption_key: bytes


class DealCmd(Wire, frozen=True, tag="deal"):
    member: int
    deal: Deal


class ComplaintCmd(Wire, frozen=True, tag="complaint"):
    member: int
    complaint: Complaint


class JustifyCmd(Wire, frozen=True, tag="justify"):
    member: int
    justification: Justification


class ClosePhase(Wire, frozen=True, tag="close"):
    """Deadline reached: 'dealing', 'complaints' or 'finish' (idempotent). ``at_ms`` is the
    proposer's clock: the 'finish' that completes the run records when the key came to be
    (a committed time every replica agrees on, e.g. a beacon's genesis)."""

    member: int
    phase: str
    at_ms: int = 0


KeygenCmd = Register | DealCmd | ComplaintCmd | JustifyCmd | ClosePhase | RecoveryCmd
KEYGEN_COMMANDS = (Register, DealCmd, ComplaintCmd, JustifyCmd, ClosePhase, *RECOVERY_COMMANDS)


class ShareBundle(Wire, frozen=True):
    """ShareRegistry entry: a member's public keys (verification key once the DKG is done)."""

    member: int
    encryption_key: bytes
    verification_key: bytes = b""


class KeygenState(Generic[E]):
    """The replicated side: registrations, then the DKG transcript over committed commands,
    then the share recoveries of members that lost theirs (``coalition.keygen_recovery``).

    ``apply`` returns ``None`` when the command changed the state, ``""`` when it was a harmless
    duplicate, and the reason otherwise.
    """

    def __init__(
        self, group: PrimeGroup[E], params: DkgParams, *, refreshable: bool = False
    ) -> None:
        self.group, self.params = group, params
        self.registry: dict[int, ShareBundle] = {}
        self.transcript = DkgTranscript(group, params)
        self._deals: dict[int, Deal] = {}
        #: When the run finished (the completing 'finish' command's ``at_ms``), once done.
        self.finished_at_ms: int | None = None
        self.recovery: RecoveryBook[E] = RecoveryBook(
            group, params.t, params.n, refreshable=refreshable
        )

    @property
    def result(self) -> DkgResult | None:
        """The key generation's result, as the last key refresh moved its verification keys."""
        return self.recovery.current or self.transcript.result

    @property
    def ready(self) -> bool:
        return self.transcript.phase is Phase.DONE

    def deal_of(self, dealer: int) -> Deal | None:
        return self._deals.get(dealer)

    def apply(self, body: KeygenCmd) -> str | None:
        n = self.params.n
        if not 1 <= body.member <= n:
            return f"member {body.member} is not on the committee"
        tr = self.transcript
        if isinstance(body, Register):
            if body.member in self.registry:
                return ""
            if len(body.encryption_key) != 32:
                return "an encryption key is 32 bytes"
            self.registry[body.member] = ShareBundle(body.member, body.encryption_key)
            return None
        if len(self.registry) < n:
            return "waiting for every member to register"
        if isinstance(body, RECOVERY_COMMANDS):
            return self._recovery(body)
        if isinstance(body, DealCmd):
            if body.deal.dealer != body.member:
                return "a member deals only as itself"
            why = tr.apply_deal(body.deal)
            if why is None:
                self._deals[body.member] = body.deal
            return why
        if isinstance(body, ComplaintCmd):
            if body.complaint.accuser != body.member:
                return "a member complains only as itself"
            return tr.apply_complaint(body.complaint)
        if isinstance(body, JustifyCmd):
            if body.justification.dealer != body.member:
                return "only the accused dealer justifies"
            return tr.apply_justification(body.justification)
        return self._close(body.phase, body.at_ms)

    def open_refresh(self) -> str | None:
        """What a member's ``RefreshStart`` does, for a command that comes from no member (the
        organism's operator, checked by its machine): ``None`` when opened, ``""`` when a
        refresh is open already, otherwise why not."""
        if len(self.registry) < self.params.n:
            return "waiting for every member to register"
        if not self.ready or self.transcript.result is None:
            return "no key to refresh yet"
        return self.recovery.start_refresh()

    def _recovery(self, body: RecoveryCmd) -> str | None:
        result = self.transcript.result
        if not self.ready or result is None:
            return "no key to recover shares of yet"
        why = self.recovery.apply(body, result)
        if why is None and isinstance(body, RecoveryDone):
            self._rekey(body.member)
        if why is None and isinstance(body, RefreshDealCmd):
            self._moved()
        return why

    def _rekey(self, member: int) -> None:
        """A recovered member's shares are sealed to its new key from now on."""
        b, record = self.registry[member], self.recovery.done[member]
        self.registry[member] = ShareBundle(member, record.key, b.verification_key)

    def _moved(self) -> None:
        """The registry's verification keys follow the last refresh."""
        current = self.recovery.current
        if current is not None:
            for i, vk in enumerate(current.verification_keys, start=1):
                b = self.registry[i]
                self.registry[i] = ShareBundle(i, b.encryption_key, vk)

    def apply_logged(self, body: KeygenCmd, signed: S, log: list[S]) -> tuple[bool, str]:
        """``apply`` for a machine that keeps its accepted key-generation commands (its
        snapshot replays them, then `restore_recovery`): (ok, reason), the command appended to
        ``log`` when taken. Recovery commands are not logged: the book is bounded state, which
        the snapshot carries as `recovery_image`."""
        why = self.apply(body)
        if why is None:
            if not isinstance(body, RECOVERY_COMMANDS):
                log.append(signed)
            return True, ""
        return why == "", why

    def recovery_image(self) -> RecoveryImage:
        return self.recovery.image()

    def restore_recovery(self, image: RecoveryImage) -> None:
        """After the logged commands are replayed: the recovery book, and the keys it moved."""
        self.recovery.restore(image)
        for member in self.recovery.done:
            self._rekey(member)
        self._moved()

    def _close(self, phase: str, at_ms: int) -> str | None:
        tr = self.transcript
        if phase == "dealing":
            tr.close_dealing()
        elif phase == "complaints":
            tr.close_complaints()
        elif phase == "finish":
            if tr.finish() is not None and tr.result is not None:
                if self.finished_at_ms is None:
                    self.finished_at_ms = at_ms
                for i, vk in enumerate(tr.result.verification_keys, start=1):
                    b = self.registry[i]
                    self.registry[i] = ShareBundle(i, b.encryption_key, vk)
        else:
            return f"unknown phase {phase!r}"
        return None


@dataclass(frozen=True)
class Deadlines:
    """How long each DKG phase stays open once the previous one closed (ms)."""

    dealing_ms: int = 5_000
    complaints_ms: int = 3_000
    justification_ms: int = 3_000
    #: How long a member that lost its share waits on one recovery attempt before asking anew.
    recovery_ms: int = 15_000


DEFAULT_DEADLINES: Final = Deadlines()
#: How long a member waits for its asked-for refresh to open before asking again.
REFRESH_RETRY_MS: Final = 1_000


SEED_LEN: Final = 32


@dataclass(frozen=True)
class KeygenSecrets:
    """The two secrets a member brings to a DKG run: the X25519 key its shares are sealed to
    and the entropy its own polynomial is drawn from.

    A member that restarts must come back with the same two, or it can no longer open the
    shares dealt to it nor add its own polynomial's share, and its key share is lost for good.
    ``from_seed`` derives both from one durable 32-byte seed and the run's session id, so a
    restarted member replays the committed transcript and recomputes the same share: the seed
    is all it persists, written once before the member first registers. The entropy is used
    for the polynomial only; proof nonces must never come from it (a replay would reuse them).
    """

    encryption_key: X25519PrivateKey
    entropy: Entropy = field(default=os.urandom)
    #: Where the masking polynomials of share recovery come from: always fresh (a replayed
    #: mask would leak), except in a seeded simulation.
    masks: Entropy = field(default=os.urandom)

    @classmethod
    def fresh(cls) -> KeygenSecrets:
        """Secrets that live in memory only (tests, or a member that never restarts)."""
        return cls(X25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes, session: bytes) -> KeygenSecrets:
        if len(seed) != SEED_LEN:
            raise ValueError(f"a key-generation seed is {SEED_LEN} bytes, got {len(seed)}")
        enc = blake3.blake3(b"x25519\x00" + session, key=seed).digest(32)
        return cls(X25519PrivateKey.from_private_bytes(enc), _SeededStream(seed, session))

    def __repr__(self) -> str:  # never print a secret
        return "KeygenSecrets(…)"


class _SeededStream:
    """A deterministic entropy source: the keyed-blake3 XOF of (seed, session), read in order."""

    def __init__(self, seed: bytes, session: bytes) -> None:
        self._xof = blake3.blake3(b"polynomial\x00" + session, key=seed)
        self._at = 0

    def __call__(self, n: int) -> bytes:
        out = self._xof.digest(n, seek=self._at)
        self._at += n
        return out


class KeygenMember(Generic[E]):
    """One member's private side: registers, deals, complains, justifies, closes phases; then
    helps recover the others' shares, or asks for its own when it has none.

    A member has lost its share when the key generation is done but its registered encryption
    key is not its own (it came back with a new seed), its share failed its check, or its share
    came from an earlier recovery; it then recovers (`coalition.keygen_recovery`) instead of
    replaying the transcript.
    """

    def __init__(
        self,
        group: PrimeGroup[E],
        index: int,
        *,
        secrets: KeygenSecrets,
        deadlines: Deadlines = DEFAULT_DEADLINES,
    ) -> None:
        self.group, self.index = group, index
        self._enc = secrets.encryption_key
        self._deadlines = deadlines
        self._entropy = secrets.entropy
        self._dkg: DkgMember[E] | None = None
        self._received: set[int] = set()
        self._answered: set[tuple[int, int]] = set()
        self._registered = False
        self._phase_since: tuple[Phase, int] | None = None
        self._closes_sent: set[str] = set()
        self.share: KeyShare | None = None
        self.error: str | None = None
        self.recovery = RecoveryMember(
            group,
            index,
            encryption_key=self._enc,
            masks=secrets.masks,
            stall_ms=deadlines.recovery_ms,
        )
        #: The share came from a recovery (this run), not from the transcript.
        self.recovered = False
        #: The share this member held before the last refresh (the beacon signs the rounds
        #: still pending at the refresh with it).
        self.previous: KeyShare | None = None
        self._refresh_wanted: int | None = None  # refreshes done when asked
        self._refresh_sent_ms: int | None = None

    def request_refresh(self) -> None:
        """Its operator asks for a key refresh: proposed until one opens (a recovery under way
        makes the committee refuse it for now)."""
        self._refresh_wanted = -1

    def _ask_refresh(self, state: KeygenState[E], now_ms: int) -> list[KeygenCmd]:
        book = state.recovery
        if self._refresh_wanted is None or not state.ready:
            return []
        if self._refresh_wanted < 0:
            self._refresh_wanted = book.refreshes
        if book.refresh is not None or book.refreshes > self._refresh_wanted:
            self._refresh_wanted = self._refresh_sent_ms = None  # it is under way
            return []
        sent = self._refresh_sent_ms
        if book.open or (sent is not None and now_ms - sent < REFRESH_RETRY_MS):
            return []
        self._refresh_sent_ms = now_ms
        return [RefreshStart(self.index)]

    def lost(self, state: KeygenState[E]) -> bool:
        """Whether this member must recover its share rather than compute it."""
        if self.share is not None or not state.ready or self.index not in state.registry:
            return False
        mine = state.registry[self.index].encryption_key == self.recovery.public_key
        return not mine or self.error is not None or self.index in state.recovery.done

    def step(self, state: KeygenState[E], now_ms: int) -> list[KeygenCmd]:
        out: list[KeygenCmd] = []
        if not self._registered and self.index not in state.registry:
            self._registered = True
            out.append(Register(self.index, self.recovery.public_key))
        n = state.params.n
        if len(state.registry) < n:
            return out
        out += self._ask_refresh(state, now_ms)
        self._follow_refresh(state)
        if self.lost(state) and state.result is not None:
            share, cmds, error = self.recovery.ask(state.recovery, state.result, now_ms)
            if share is not None:
                self.share, self.error, self.recovered = share, None, True
            elif error is not None:
                self.error = error
            return out + list(cmds)
        out += self._generate(state, now_ms)
        self._follow_refresh(state)
        book = state.recovery
        if self.share is not None and (book.open or book.refresh or book.refreshed):
            keys = {i: b.encryption_key for i, b in state.registry.items()}
            out += self.recovery.help(state.recovery, self.share, keys)
        return out

    def _follow_refresh(self, state: KeygenState[E]) -> None:
        """A share made before the last refresh moves with it, or — when this member did not
        deal in it (it restarted meanwhile) — is dropped: it then recovers the current one."""
        share, current = self.share, state.result
        if share is None or current is None or share.result == current:
            return
        moved = self.recovery.refreshed(state.recovery)
        self.previous = share
        if moved is not None and moved.result == current:
            self.share = moved
        else:
            self.share, self.error = None, "the share predates a key refresh"

    def _generate(self, state: KeygenState[E], now_ms: int) -> list[KeygenCmd]:
        out: list[KeygenCmd] = []
        n = state.params.n
        tr = state.transcript
        if self._dkg is None:
            self._dkg = DkgMember(
                self.group,
                state.params,
                index=self.index,
                encryption_key=self._enc,
                recipients=[state.registry[i].encryption_key for i in range(1, n + 1)],
                entropy=self._entropy,
            )
            if self.index not in tr.deals:
                out.append(DealCmd(self.index, self._dkg.deal()))
        dkg = self._dkg
        for dealer, commitments in tr.deals.items():
            if dealer != self.index and dealer not in self._received:
                self._received.add(dealer)
                deal = state.deal_of(dealer)
                if deal is not None:
                    c = dkg.receive(deal, commitments)
                    if c is not None:
                        out.append(ComplaintCmd(self.index, c))
        for dealer, accuser in sorted(tr.complaints):
            if dealer == self.index and (dealer, accuser) not in self._answered:
                self._answered.add((dealer, accuser))
                j = dkg.answer(Complaint(dealer, accuser))
                if j is not None:
                    out.append(JustifyCmd(self.index, j))
        out += self._deadline(state, now_ms)
        if tr.phase is Phase.DONE and tr.result is not None and self.share is None:
            try:
                self.share = dkg.key_share(tr.result)
            except DkgError as exc:
                self.error = str(exc)
        return out

    def _deadline(self, state: KeygenState[E], now_ms: int) -> list[KeygenCmd]:
        tr = state.transcript
        if tr.phase in (Phase.DONE, Phase.FAILED):
            return []
        if self._phase_since is None or self._phase_since[0] is not tr.phase:
            self._phase_since = (tr.phase, now_ms)
        since = now_ms - self._phase_since[1]
        d = self._deadlines
        close: str | None = None
        if tr.phase is Phase.DEALING and (len(tr.deals) == state.params.n or since >= d.dealing_ms):
            close = "dealing"
        elif tr.phase is Phase.COMPLAINTS and since >= d.complaints_ms:
            close = "complaints"
        elif tr.phase is Phase.JUSTIFICATION and (
            since >= d.justification_ms or all(k in tr.revealed for k in tr.complaints)
        ):
            close = "finish"
        if close is None or close in self._closes_sent:
            return []
        self._closes_sent.add(close)
        return [ClosePhase(self.index, close, now_ms)]
