"""Contactless badge readers through PC/SC: pcscd and pyscard's low-level `smartcard.scard` API.

The reader waits in SCardGetStatusChange (blocking, at most poll_s at a time: no busy loop) for the
reader's state to change; when a card is newly present it connects, sends GET UID (`FF CA 00 00 00`, the
PC/SC part 3 command contactless readers answer with the card's UID) and reports one tap. A failure that
may pass (the card swapped or half in the field) is tried again a few times; a refusal (a status word other
than 90 00) is not, and is no tap.

One tap per presentation: pcsc-lite counts card insertions and removals in the high 16 bits of the event
state; a presentation is handled once, so a card held on the reader is one tap, and a card removed and
presented again is a new tap even if both happened between two of our polls (as long as pcscd saw them). A card already on the reader when it (re)appears,
at start or after pcscd restarts, counts as a tap.

Nothing here raises to the agent: pcscd stopped or restarting, no reader, a reader unplugged, a card that
will not give its UID are logged (a lasting problem once) and retried every retry_s.
"""
import logging
import time

from smartcard import scard as S

from edge_agent.badge import SOURCE_PCSC, BadBadgeId, BadgeTap, badge_id_from_bytes

log = logging.getLogger(__name__)

GET_UID = [0xFF, 0xCA, 0x00, 0x00, 0x00]
POLL_S = 0.25      # longest single wait for a state change (events wake it at once)
RETRY_S = 1.0      # how often an absent pcscd or reader is looked for again
READ_ATTEMPTS = 5  # tries to read one card's UID when the failure may pass (card swapped, half in field)
READ_RETRY_S = 0.1

# Results meaning the context is no good any more (pcscd stopped or restarted): start over.
_CONTEXT_LOST = {S.SCARD_E_NO_SERVICE, S.SCARD_E_SERVICE_STOPPED, S.SCARD_E_INVALID_HANDLE,
                 S.SCARD_F_COMM_ERROR}
# Reader states meaning the reader has gone: choose a reader again.
_READER_GONE = S.SCARD_STATE_UNKNOWN | S.SCARD_STATE_UNAVAILABLE | S.SCARD_STATE_IGNORE
_PCI = {S.SCARD_PROTOCOL_T0: S.SCARD_PCI_T0, S.SCARD_PROTOCOL_T1: S.SCARD_PCI_T1}


def _error(hr):
    return f"{S.SCardGetErrorMessage(hr).strip()} (0x{hr & 0xFFFFFFFF:08X})"


class PcscBadgeReader:
    """read(timeout) -> BadgeTap | None from one PC/SC reader (the BadgeReader interface).

    reader_name: use the first reader whose name contains it; None: the first reader pcscd lists.
    """

    def __init__(self, reader_name=None, poll_s=POLL_S, retry_s=RETRY_S):
        self.reader_name = reader_name
        self.poll_s = poll_s
        self.retry_s = retry_s
        self.unreadable_cards = 0     # presentations that gave no UID
        self._ctx = None
        self._reader = None           # the reader in use
        self._known_state = S.SCARD_STATE_UNAWARE
        self._handled = None          # event count of the presentation already handled, None: none
        self._attempting = None       # the presentation being read, and how many tries so far
        self._attempts = 0
        self._trouble = None          # the problem last logged, so a lasting one is logged once
        self._next_try = 0.0          # monotonic time before which pcscd or the reader is not looked for

    def read(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait_s = self.poll_s if deadline is None else min(self.poll_s, deadline - time.monotonic())
            if wait_s <= 0:
                return None
            if self._ready(wait_s):
                tap = self._wait_for_card(wait_s)
                if tap is not None:
                    return tap

    def close(self):
        self._drop_context()

    # -- finding pcscd and the reader --

    def _ready(self, wait_s):
        """True when there is a context and a reader; otherwise log why and sleep (at most wait_s)."""
        if self._ctx is None or self._reader is None:
            if time.monotonic() < self._next_try:
                time.sleep(min(wait_s, self._next_try - time.monotonic()))
                return False
        if self._ctx is None:
            hr, ctx = S.SCardEstablishContext(S.SCARD_SCOPE_USER)
            if hr != S.SCARD_S_SUCCESS:
                return self._pause(f"pcscd is not available: {_error(hr)}", wait_s)
            self._ctx = ctx
        if self._reader is None:
            hr, names = S.SCardListReaders(self._ctx, [])
            if hr in _CONTEXT_LOST:
                self._drop_context()
                return self._pause(f"pcscd went away: {_error(hr)}", wait_s)
            names = names if hr == S.SCARD_S_SUCCESS else []
            match = [n for n in names if self.reader_name is None or self.reader_name in n]
            if not match:
                wanted = "any reader" if self.reader_name is None else f"a reader named *{self.reader_name}*"
                return self._pause(f"no PC/SC reader: waiting for {wanted} (have {names})", wait_s)
            self._reader = match[0]
            self._known_state = S.SCARD_STATE_UNAWARE
            self._handled, self._attempts = None, 0
        if self._trouble is not None:
            log.info("PC/SC badge reader ready: %s", self._reader)
            self._trouble = None
        return True

    def _pause(self, problem, wait_s):
        if problem != self._trouble:
            log.warning("%s; retrying every %.1f s", problem, self.retry_s)
            self._trouble = problem
        self._next_try = time.monotonic() + self.retry_s
        time.sleep(min(self.retry_s, wait_s))
        return False

    def _drop_context(self):
        if self._ctx is not None:
            S.SCardReleaseContext(self._ctx)   # fails harmlessly when pcscd has gone
        self._ctx = None
        self._reader = None

    # -- cards --

    def _wait_for_card(self, wait_s):
        timeout_ms = int(wait_s * 1000)
        if self._attempts:            # a read failed on a card still there: look again shortly
            time.sleep(min(READ_RETRY_S, wait_s))
            timeout_ms = 0
        hr, states = S.SCardGetStatusChange(self._ctx, timeout_ms, [(self._reader, self._known_state)])
        if hr == S.SCARD_E_TIMEOUT and not self._attempts:
            return None
        if hr not in (S.SCARD_S_SUCCESS, S.SCARD_E_TIMEOUT):
            lost = hr in _CONTEXT_LOST
            log.warning("PC/SC reader %s: %s; %s", self._reader, _error(hr),
                        "reconnecting to pcscd" if lost else "choosing the reader again")
            self._trouble = _error(hr)
            if lost:
                self._drop_context()
            else:
                self._reader = None
            return None
        event = states[0][1] if hr == S.SCARD_S_SUCCESS else self._known_state
        self._known_state = event & ~S.SCARD_STATE_CHANGED
        if event & _READER_GONE:
            log.warning("PC/SC reader %s has gone; choosing the reader again", self._reader)
            self._trouble = "reader gone"
            self._reader = None
            return None
        if not event & S.SCARD_STATE_PRESENT:
            self._handled, self._attempts = None, 0
            return None
        presentation = event >> 16
        if self._handled == presentation:
            return None               # the same card still on the reader (or its in-use flag changed)
        if self._attempts and presentation != self._attempting:
            self._attempts = 0        # a different presentation: its own tries
        self._attempting = presentation
        self._attempts += 1
        tap, final = self._read_uid()
        if final or self._attempts >= READ_ATTEMPTS:
            if not final:
                self._unreadable(f"gave up after {self._attempts} tries")
            self._handled, self._attempts = presentation, 0
        return tap

    def _read_uid(self):
        """(tap or None, final): final is False for failures worth another try on the same card."""
        at = time.monotonic()
        hr, hcard, protocol = S.SCardConnect(self._ctx, self._reader, S.SCARD_SHARE_SHARED,
                                             S.SCARD_PROTOCOL_T0 | S.SCARD_PROTOCOL_T1)
        if hr != S.SCARD_S_SUCCESS:
            log.info("PC/SC reader %s: cannot connect to the card (try %d): %s", self._reader, self._attempts,
                     _error(hr))
            return None, False
        try:
            hr, response = S.SCardTransmit(hcard, _PCI.get(protocol, S.SCARD_PCI_T1), GET_UID)
        finally:
            S.SCardDisconnect(hcard, S.SCARD_LEAVE_CARD)
        if hr != S.SCARD_S_SUCCESS:
            log.info("PC/SC reader %s: GET UID failed (try %d): %s", self._reader, self._attempts, _error(hr))
            return None, False
        if len(response) < 2 or response[-2:] != [0x90, 0x00]:
            # the card answered and said no: asking again will not change its mind
            return self._unreadable(f"GET UID refused with status {bytes(response[-2:]).hex(' ').upper()}"), True
        try:
            badge_id = badge_id_from_bytes(response[:-2])
        except BadBadgeId as e:
            return self._unreadable(f"GET UID gave no usable UID: {e}"), True
        return BadgeTap(badge_id, self._reader, SOURCE_PCSC, at=at), True

    def _unreadable(self, why):
        # A card the reader cannot identify is not a tap; the user sees nothing happen and tries again.
        self.unreadable_cards += 1
        log.warning("PC/SC reader %s: card not read: %s", self._reader, why)
        return None
