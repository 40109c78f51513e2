"""Share recovery through a committee's log: the commands, the replicated book, one member's side.

A member that lost its key share (its data directory, hence its key-generation seed, is gone)
comes back with a new X25519 key and cannot recompute its share from the DKG transcript: the
shares were sealed to its old key. It asks the committee instead (``coalition.crypto.recovery``
holds the protocol; this module carries it through the log, as ``coalition.keygen`` carries the
DKG):

1. ``RecoveryRequest``: the lost member's index and its new key opens an *attempt* (numbered
   across the whole committee, so no two attempts share a number).
2. ``RecoveryOffer``: members that hold their share volunteer; the first t committed offers are
   the attempt's helpers (so a member that is down never stalls it).
3. ``RecoveryDealCmd``: each helper's masking polynomial (Feldman commitments public, sub-shares
   sealed to the other helpers). Its public checks run here; a deal that fails them excludes its
   helper from this recovery, recorded as a ``RecoveryFault``, and a fresh attempt starts.
4. ``RecoveryPartCmd``: each helper's masked share, sealed to the lost member's new key.
   ``RecoveryComplaint``: a helper whose sub-share fails its commitments, or the lost member
   whose part fails its check, names the culprit; it is excluded and a fresh attempt starts.
5. ``RecoveryDone``: the lost member recovered a share that matches its verification key. The
   attempt is kept (its deals and parts are what a restart with the same seed replays to get
   the share again) and the member's registered encryption key becomes the new one.

The book is bounded: one open attempt and one finished record per member, t helpers each, and
the newest ``FAULTS`` faults. The lost member may re-ask (a fresh attempt) when its attempt
stalls, e.g. a helper went down after offering.

A **refresh** (``RefreshStart``, then one ``RefreshDealCmd`` at 0 from every member) runs through
the same book where the organism allows it (``refreshable``): the last deal moves every
verification key (``current``), the group key stays, and each member adds its sub-shares. A
member that did not deal in it (it restarted meanwhile: its mask was never persisted) finds its
share stale against ``current`` and recovers the current one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Final, Generic

import msgspec
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from pymosaik.primitives import Wire

from .crypto.dkg import _HPKE_OVERHEAD, DkgResult, KeyShare
from .crypto.group import E, Entropy, PrimeGroup
from .crypto.recovery import (
    RecoveredPart,
    RecoveryDeal,
    RecoveryError,
    RecoveryHelper,
    check_deal,
    refresh_result,
)
from .crypto.recovery import recover as recover_share

FAULTS: Final = 256
MAX_REASON: Final = 200


class RecoveryRequest(Wire, frozen=True, tag="recovery-request"):
    """A member with no share asks for it back, sealed to its new key ``encryption_key``."""

    member: int
    encryption_key: bytes


class RecoveryOffer(Wire, frozen=True, tag="recovery-offer"):
    member: int
    lost: int
    attempt: int


class RecoveryDealCmd(Wire, frozen=True, tag="recovery-deal"):
    member: int
    attempt: int
    deal: RecoveryDeal


class RecoveryPartCmd(Wire, frozen=True, tag="recovery-part"):
    member: int
    attempt: int
    part: RecoveredPart


class RecoveryComplaint(Wire, frozen=True, tag="recovery-complaint"):
    """``member`` (a helper, or the lost member) says ``culprit``'s deal or part is bad."""

    member: int
    lost: int
    attempt: int
    culprit: int
    reason: str


class RecoveryDone(Wire, frozen=True, tag="recovery-done"):
    member: int
    attempt: int


class RefreshStart(Wire, frozen=True, tag="refresh-start"):
    """A key refresh (its operator's call): every member deals at 0, every share moves, the
    group key stays; shares leaked before it are useless after it."""

    member: int


class RefreshDealCmd(Wire, frozen=True, tag="refresh-deal"):
    member: int
    attempt: int
    deal: RecoveryDeal


RecoveryCmd = (
    RecoveryRequest
    | RecoveryOffer
    | RecoveryDealCmd
    | RecoveryPartCmd
    | RecoveryComplaint
    | RecoveryDone
    | RefreshStart
    | RefreshDealCmd
)
RECOVERY_COMMANDS = (
    RecoveryRequest,
    RecoveryOffer,
    RecoveryDealCmd,
    RecoveryPartCmd,
    RecoveryComplaint,
    RecoveryDone,
    RefreshStart,
    RefreshDealCmd,
)


class Attempt(Wire, frozen=True):
    """One try at recovering ``lost``'s share, as the log has it so far."""

    lost: int
    number: int
    key: bytes
    helpers: tuple[int, ...] = ()
    deals: tuple[RecoveryDeal, ...] = ()
    parts: tuple[RecoveredPart, ...] = ()

    def dealt(self, member: int) -> bool:
        return any(d.dealer == member for d in self.deals)

    def parted(self, member: int) -> bool:
        return any(p.helper == member for p in self.parts)


class RecoveryFault(Wire, frozen=True):
    """Evidence: ``culprit``'s deal or part in an attempt was bad (``accuser`` 0: the log's own
    public check found it)."""

    lost: int
    attempt: int
    culprit: int
    accuser: int
    reason: str


class RecoveryImage(Wire, frozen=True):
    """The book as a machine's snapshot carries it."""

    counter: int = 0
    open: tuple[Attempt, ...] = ()
    done: tuple[Attempt, ...] = ()
    excluded: tuple[tuple[int, tuple[int, ...]], ...] = ()
    faults: tuple[RecoveryFault, ...] = ()
    refreshes: int = 0
    current: DkgResult | None = None
    refresh: Attempt | None = None
    refreshed: Attempt | None = None


class RecoveryBook(Generic[E]):
    """The replicated side: validates recovery commands against the finished DKG."""

    def __init__(self, group: PrimeGroup[E], t: int, n: int, *, refreshable: bool = False) -> None:
        """``refreshable``: whether the organism takes key refreshes (its partials must then
        know which shares they come from, as the beacon's rounds do)."""
        self.group, self.t, self.n, self.refreshable = group, t, n, refreshable
        self.counter = 0
        self.open: dict[int, Attempt] = {}
        self.done: dict[int, Attempt] = {}
        self.excluded: dict[int, set[int]] = {}
        self.faults: deque[RecoveryFault] = deque(maxlen=FAULTS)
        #: Completed refreshes, the result they moved the key generation's to, the open one and
        #: the last completed one (its deals are what each member adds to its share).
        self.refreshes = 0
        self.current: DkgResult | None = None
        self.refresh: Attempt | None = None
        self.refreshed: Attempt | None = None

    def apply(self, body: RecoveryCmd, result: DkgResult) -> str | None:
        """``None``: taken; ``""``: a harmless duplicate; otherwise the reason it is refused.
        The caller has checked that the key generation is done (``result``, before any
        refresh) and ``body.member`` is one."""
        if isinstance(body, RefreshStart | RefreshDealCmd):
            return self._refresh(body, result)
        if isinstance(body, RecoveryRequest):
            if len(body.encryption_key) != 32:
                return "an encryption key is 32 bytes"
            self.refresh = None  # a refresh needs every member's deal: this one has no share
            self._restart(body.member, body.encryption_key)
            for other in sorted(self.open.values(), key=lambda o: o.lost):
                if body.member in other.helpers:  # a member with no share helps nobody
                    self._restart(other.lost, other.key)
            return None
        lost = _lost_of(body)
        a = self.open.get(lost)
        if a is None or a.number != body.attempt:
            return "no such recovery attempt open"
        if isinstance(body, RecoveryOffer):
            return self._offer(a, body.member)
        if isinstance(body, RecoveryDealCmd):
            return self._deal(a, body.member, body.deal)
        if isinstance(body, RecoveryPartCmd):
            return self._part(a, body.member, body.part)
        if isinstance(body, RecoveryComplaint):
            if body.member not in (*a.helpers, a.lost) or body.culprit == body.member:
                return "only a helper or the lost member complains, about another"
            if body.culprit not in a.helpers:
                return f"member {body.culprit} is not a helper of this attempt"
            self._fault(a, body.culprit, body.member, body.reason[:MAX_REASON])
            return None
        if len(a.parts) < self.t:
            return "not every part is in"
        del self.open[lost]
        self.done[lost] = a
        self.excluded.pop(lost, None)
        return None

    def _refresh(self, body: RefreshStart | RefreshDealCmd, result: DkgResult) -> str | None:
        if isinstance(body, RefreshStart):
            return self.start_refresh()
        if not self.refreshable:
            return "this committee does not refresh its key"
        r, deal = self.refresh, body.deal
        if r is None or r.number != body.attempt:
            return "no such refresh open"
        if deal.dealer != body.member or deal.lost != 0:
            return "a member deals only as itself, at 0"
        if r.dealt(body.member):
            return ""
        why = check_deal(self.group, deal, self.t, r.helpers)
        want = self.group.scalar_len + _HPKE_OVERHEAD
        if why is None and any(len(s) != want for _, s in deal.shares):
            why = f"a sealed sub-share is not {want} bytes"
        if why is not None:
            self.faults.append(RecoveryFault(0, r.number, body.member, 0, why))
            self.refresh = None  # called off: start again
            return None
        r = _replace(r, deals=(*r.deals, deal))
        self.refresh = r
        if len(r.deals) == self.n:
            self.refresh = None
            try:
                self.current = refresh_result(self.group, self.current or result, r.deals)
            except RecoveryError as exc:  # every deal was checked: not expected, never raised
                self.faults.append(RecoveryFault(0, r.number, exc.dealer or 0, 0, str(exc)))
                return None
            self.refreshed = r
            self.refreshes += 1
        return None

    def start_refresh(self) -> str | None:
        """Open a key refresh (a member's ``RefreshStart``, or its operator's command): ``None``
        when opened, ``""`` when one is open already, otherwise why not."""
        if not self.refreshable:
            return "this committee does not refresh its key"
        if self.open:
            return "a share recovery is under way"
        if self.refresh is not None:
            return ""
        self.counter += 1
        self.refresh = Attempt(0, self.counter, b"", tuple(range(1, self.n + 1)))
        return None

    def _offer(self, a: Attempt, member: int) -> str | None:
        if member == a.lost or member in self.open:
            return "a member without its share cannot help"
        if member in self.excluded.get(a.lost, ()):
            return f"member {member} is excluded from this recovery"
        if member in a.helpers or len(a.helpers) >= self.t:
            return ""
        self.open[a.lost] = _replace(a, helpers=(*a.helpers, member))
        return None

    def _deal(self, a: Attempt, member: int, deal: RecoveryDeal) -> str | None:
        if len(a.helpers) < self.t or member not in a.helpers:
            return f"member {member} is not a helper of this attempt"
        if deal.dealer != member or deal.lost != a.lost:
            return "a helper deals only as itself, for the attempt's member"
        if a.dealt(member):
            return ""
        why = check_deal(self.group, deal, self.t, a.helpers)
        want = self.group.scalar_len + _HPKE_OVERHEAD
        if why is None and any(len(s) != want for _, s in deal.shares):
            why = f"a sealed sub-share is not {want} bytes"
        if why is not None:
            self._fault(a, member, 0, why)
            return None
        self.open[a.lost] = _replace(a, deals=(*a.deals, deal))
        return None

    def _part(self, a: Attempt, member: int, part: RecoveredPart) -> str | None:
        if len(a.deals) < self.t or member not in a.helpers:
            return "parts come from the attempt's helpers once every deal is in"
        if part.helper != member or part.lost != a.lost:
            return "a helper sends only its own part, for the attempt's member"
        if a.parted(member):
            return ""
        want = self.group.scalar_len + _HPKE_OVERHEAD
        if len(part.sealed) != want:
            self._fault(a, member, 0, f"a sealed part is not {want} bytes")
            return None
        self.open[a.lost] = _replace(a, parts=(*a.parts, part))
        return None

    def _fault(self, a: Attempt, culprit: int, accuser: int, reason: str) -> None:
        self.faults.append(RecoveryFault(a.lost, a.number, culprit, accuser, reason))
        self.excluded.setdefault(a.lost, set()).add(culprit)
        self._restart(a.lost, a.key)

    def _restart(self, lost: int, key: bytes) -> None:
        self.counter += 1
        self.open[lost] = Attempt(lost, self.counter, key)

    def image(self) -> RecoveryImage:
        return RecoveryImage(
            self.counter,
            tuple(self.open[k] for k in sorted(self.open)),
            tuple(self.done[k] for k in sorted(self.done)),
            tuple((k, tuple(sorted(v))) for k, v in sorted(self.excluded.items())),
            tuple(self.faults),
            self.refreshes,
            self.current,
            self.refresh,
            self.refreshed,
        )

    def restore(self, image: RecoveryImage) -> None:
        self.counter = image.counter
        self.open = {a.lost: a for a in image.open}
        self.done = {a.lost: a for a in image.done}
        self.excluded = {k: set(v) for k, v in image.excluded}
        self.faults.clear()
        self.faults.extend(image.faults)
        self.refreshes, self.current = image.refreshes, image.current
        self.refresh, self.refreshed = image.refresh, image.refreshed


def _lost_of(
    body: RecoveryOffer | RecoveryDealCmd | RecoveryPartCmd | RecoveryComplaint | RecoveryDone,
) -> int:
    if isinstance(body, RecoveryDone):
        return body.member
    if isinstance(body, RecoveryDealCmd):
        return body.deal.lost
    if isinstance(body, RecoveryPartCmd):
        return body.part.lost
    return body.lost


def _replace(a: Attempt, **changes: object) -> Attempt:
    return msgspec.structs.replace(a, **changes)


class RecoveryMember(Generic[E]):
    """One member's private side of recovery: asks for its own share back when it has none,
    and helps the others while it holds one. Pure: ``ask`` and ``help`` read the book (the
    member's replica) and return commands."""

    def __init__(
        self,
        group: PrimeGroup[E],
        index: int,
        *,
        encryption_key: X25519PrivateKey,
        masks: Entropy,
        stall_ms: int,
    ) -> None:
        self.group, self.index = group, index
        self._enc = encryption_key
        self.public_key = encryption_key.public_key().public_bytes_raw()
        self._masks = masks
        self._stall_ms = stall_ms
        self._helping: dict[int, RecoveryHelper[E]] = {}  # by attempt number (refreshes too)
        self._sent: set[tuple[str, int]] = set()  # (what, attempt number)
        self._seen: tuple[int, int] | None = None  # (own attempt number, since ms)
        self._replayed = False

    def ask(
        self, book: RecoveryBook[E], result: DkgResult, now_ms: int
    ) -> tuple[KeyShare | None, list[RecoveryCmd], str | None]:
        """The lost member's side: (its share once recovered, commands, an error if any)."""
        me = self.index
        record = book.done.get(me)
        if record is not None and record.key == self.public_key and not self._replayed:
            self._replayed = True  # a restart with the seed it recovered with: replay the parts
            try:
                share, _ = recover_share(
                    self.group, result, lost=me, key=self._enc, deals=record.deals,
                    parts=record.parts,
                )  # fmt: skip
                return share, [], None
            except RecoveryError as exc:
                return None, [], f"replaying the recovered share: {exc}"
        a = book.open.get(me)
        self._forget({a.number} if a is not None else set())
        if a is None or a.key != self.public_key:
            return None, self._once("request", a.number if a else 0), None
        if self._seen is None or self._seen[0] != a.number:
            self._seen = (a.number, now_ms)
        if len(a.parts) >= book.t and ("recover", a.number) not in self._sent:
            self._sent.add(("recover", a.number))
            try:
                share, _ = recover_share(
                    self.group, result, lost=me, key=self._enc, deals=a.deals, parts=a.parts
                )
            except RecoveryError as exc:
                if exc.dealer is None:
                    return None, self._once("request", a.number), str(exc)
                why = str(exc)[:MAX_REASON]
                return None, [RecoveryComplaint(me, me, a.number, exc.dealer, why)], None
            return share, [RecoveryDone(me, a.number)], None
        if now_ms - self._seen[1] >= self._stall_ms:
            return None, self._once("request", a.number), None  # stalled: a fresh attempt
        return None, [], None

    def _once(self, what: str, attempt: int) -> list[RecoveryCmd]:
        if (what, attempt) in self._sent:
            return []
        self._sent.add((what, attempt))
        return [RecoveryRequest(self.index, self.public_key)]

    def help(
        self, book: RecoveryBook[E], share: KeyShare, keys: Mapping[int, bytes]
    ) -> list[RecoveryCmd]:
        """A member holding ``share``: offer, deal and send parts for every open attempt.
        ``keys``: every member's registered encryption key."""
        me, t = self.index, book.t
        out: list[RecoveryCmd] = []
        r = book.refresh
        if r is not None and not r.dealt(me) and ("refresh", r.number) not in self._sent:
            self._sent.add(("refresh", r.number))
            dealer = RecoveryHelper(
                self.group, share, lost=0, helpers={h: keys[h] for h in r.helpers},
                lost_key=None, encryption_key=self._enc, entropy=self._masks,
            )  # fmt: skip
            self._helping[r.number] = dealer
            out.append(RefreshDealCmd(me, r.number, dealer.deal()))
        for lost, a in sorted(book.open.items()):
            if lost == me or me in book.excluded.get(lost, ()):
                continue
            n = a.number
            if me not in a.helpers:
                if len(a.helpers) < t and ("offer", n) not in self._sent:
                    self._sent.add(("offer", n))
                    out.append(RecoveryOffer(me, lost, n))
                continue
            if len(a.helpers) < t:
                continue
            helper = self._helping.get(n)
            if not a.dealt(me):
                if ("deal", n) not in self._sent:
                    self._sent.add(("deal", n))
                    helper = RecoveryHelper(
                        self.group, share, lost=lost,
                        helpers={h: keys[h] for h in a.helpers}, lost_key=a.key,
                        encryption_key=self._enc, entropy=self._masks,
                    )  # fmt: skip
                    self._helping[n] = helper
                    out.append(RecoveryDealCmd(me, n, helper.deal()))
                continue
            # a helper restarted after dealing has lost its mask: it stays silent and the lost
            # member, seeing the attempt stall, asks again
            if len(a.deals) < t or helper is None or ("part", n) in self._sent:
                continue
            self._sent.add(("part", n))
            try:
                out.append(RecoveryPartCmd(me, n, helper.part(a.deals)))
            except RecoveryError as exc:
                if exc.dealer is not None:
                    why = str(exc)[:MAX_REASON]
                    out.append(RecoveryComplaint(me, lost, n, exc.dealer, why))
        live = {a.number for a in book.open.values()}
        if r is not None:
            live.add(r.number)
        if book.refreshed is not None:
            live.add(book.refreshed.number)
        self._forget(live)
        return out

    def refreshed(self, book: RecoveryBook[E]) -> KeyShare | None:
        """This member's share after the last completed refresh, if it dealt in it (its own
        mask is needed); ``None`` otherwise (it then has to recover its share)."""
        r = book.refreshed
        helper = None if r is None else self._helping.get(r.number)
        if r is None or helper is None:
            return None
        try:
            return helper.refreshed(r.deals)
        except RecoveryError:
            return None

    def _forget(self, live: set[int]) -> None:
        """Drop what belongs to attempts no longer open (bounded memory)."""
        self._helping = {n: h for n, h in self._helping.items() if n in live}
        self._sent = {s for s in self._sent if s[1] in live or s == ("request", 0)}
