"""Who is at the cabinet: badge, PIN, or badge plus PIN for the roles a site configures so (`pin_roles`).

Every refusal is written to the ledger as a `refusal` transaction with its reason (never the PIN typed), and
is raised as a `Refusal` whose `words` are what the screen shows.

- A PIN typed alone (a user id and a PIN) that fails gets one answer whatever the cause: no such user, no
  PIN set, a wrong PIN, a locked PIN, dates, or a role that must tap its badge first. Each of these costs one
  PIN hash (a dummy one when there is no hash to check), so neither the answer nor the time taken tells
  which ids exist. The ledger row keeps the real reason for the admin. After a badge the person is known,
  and the answer says what went wrong (tries left, locked).
- `max_tries` wrong PINs in a row lock the PIN for `lockout_s` of running time, measured on the monotonic
  clock (ledger/lockouts.py): across restarts, and whatever the wall clock does. The badge is not locked:
  a role that needs no PIN still gets in with its badge, so guessing someone's PIN remotely cannot lock
  them out of the cabinet.
- Validity windows (contractors) are judged on the wall clock only while it is synchronised: with an
  unsynchronised clock (never set since boot, or set by hand) a user with dates is refused, as commands
  that depend on the time are (cloud/envelope.py), since a clock set back would re-admit an expired one."""
import datetime
from dataclasses import dataclass
from typing import Optional

from edge_agent.badge.ids import BadBadgeId, normalize_badge_id
from edge_agent.ledger import lockouts
from edge_agent.ledger.clock import instant
from edge_agent.rules import pin_hashing
from edge_agent.rules.refusal import Refusal

MESSAGES = {
    "unknown_badge": "This badge is not registered here. Ask your supervisor.",
    "unknown_user": "No such user here.",
    "not_yet_valid": "Your access has not started yet.",
    "expired": "Your access has expired. Ask your supervisor.",
    "locked_out": "Too many wrong PINs. Try again later or ask your supervisor.",
    "wrong_pin": "Wrong PIN.",
    "no_pin": "No PIN is set for you. Use your badge or ask your supervisor.",
    "badge_needed": "Your role signs in with badge and PIN: tap your badge first.",
    "clock_unsynced": "This cabinet's clock is not set yet, and your access has dates. Ask your supervisor.",
    "login_failed": "User ID or PIN not accepted. Some roles must tap their badge first; after %d wrong PINs "
                    "a PIN is locked for a while.",
}


# The [access] settings' ranges, for the config file (app/config.py) and for the ones the cloud pushes
# (cloud/commands.py): a lockout of more than a day is a mistake, not a policy (and past ~10^11 s it
# no longer fits a time at all).
RANGES = {"max_pin_tries": (1, 20), "lockout_s": (1, 86400), "session_idle_s": (5, 3600)}


@dataclass(frozen=True)
class Person:
    user_id: str
    name: str
    role: str
    department: Optional[str]
    cost_center: Optional[str]
    supplier: Optional[str]


@dataclass(frozen=True)
class NeedPin:
    """The badge is good, and this user's role must also type a PIN."""
    user_id: str


def refusal(reason, user_id=None, tries_left=None):
    """The Refusal for a login refused for `reason` (its words say how many PIN tries are left)."""
    words = MESSAGES[reason]
    if reason == "wrong_pin" and tries_left is not None:
        words += " %d %s left." % (tries_left, "try" if tries_left == 1 else "tries")
    return Refusal(reason, words, user_id=user_id, tries_left=tries_left)


def _instant(text, end_of_day=False):
    """An ISO date or time as an aware datetime (UTC when it has no zone); a bare date ends at midnight."""
    value = instant(text)
    return value + datetime.timedelta(days=1) if len(text) == 10 and end_of_day else value


class Access:
    def __init__(self, ledger, max_tries=5, lockout_s=300, pin_roles=()):
        self.ledger = ledger
        self.max_tries = max_tries
        self.lockout_s = lockout_s
        self.pin_roles = frozenset(pin_roles)

    def _refuse(self, reason, user_id=None, badge_id=None, tries_left=None):
        """The Refusal, on record (never with the PIN typed)."""
        return refusal(reason, user_id, tries_left).record(self.ledger, user_id=user_id, badge_id=badge_id)

    def _user(self, user_id):
        return self.ledger.one("SELECT * FROM users WHERE id = ?", (user_id,))

    def window_refusal(self, user):
        """Why `user` may not come in now by their dates (None: they may): judged on a synchronised clock."""
        if not (user["valid_from"] or user["valid_to"]):
            return None
        wall, synced = self.ledger.clock.wall()
        if not synced:
            return "clock_unsynced"
        now = instant(wall)
        if user["valid_from"] and now < _instant(user["valid_from"]):
            return "not_yet_valid"
        if user["valid_to"] and now >= _instant(user["valid_to"], end_of_day=True):
            return "expired"
        return None

    def locked_for_s(self, user_id):
        """Seconds left of `user_id`'s PIN lockout (0: not locked)."""
        return -(-lockouts.left_ms(self.ledger, user_id) // 1000)

    @staticmethod
    def _person(user):
        return Person(user["id"], user["name"], user["role"], user["department"], user["cost_center"],
                      user["supplier"])

    def by_badge(self, badge_id):
        """A tap: a Person, or NeedPin for roles that must add a PIN; raises the Refusal. A locked PIN does not
        stop a badge."""
        try:
            badge_id = normalize_badge_id(badge_id)
        except BadBadgeId:
            raise self._refuse("unknown_badge") from None
        # The badge's user in one read (a badge belongs to a user: the foreign key deletes it with them).
        user = self.ledger.one("SELECT u.* FROM badges b JOIN users u ON u.id = b.user_id WHERE b.badge_id = ?",
                               (badge_id,))
        if user is None:
            raise self._refuse("unknown_badge", badge_id=badge_id)
        reason = self.window_refusal(user)
        if reason:
            raise self._refuse(reason, user["id"], badge_id)
        if user["role"] in self.pin_roles:
            return NeedPin(user["id"])
        return self._person(user)

    def _before_pin(self, user, after_badge):
        """Why a PIN for `user` is refused before it is looked at (None: check it)."""
        if user is None:
            return "unknown_user"
        if not after_badge and user["role"] in self.pin_roles:
            return "badge_needed"
        if lockouts.left_ms(self.ledger, user["id"]):
            return "locked_out"
        return self.window_refusal(user) or (None if user["pin_hash"] else "no_pin")

    def _failed(self, reason, user_id, after_badge, tries_left=None):
        """The refusal on record with its real reason; the answer: that reason after a badge, else one
        answer for every failed PIN login."""
        refused = self._refuse(reason, user_id, tries_left=tries_left)
        return refused if after_badge else Refusal("login_failed", MESSAGES["login_failed"] % self.max_tries)

    def by_pin(self, user_id, pin, after_badge=False):
        """A PIN typed for a user, alone or (after_badge) after their badge answered NeedPin: the Person;
        raises the Refusal. Every call checks exactly one PIN hash, whatever the outcome."""
        user = self._user(user_id)
        reason = self._before_pin(user, after_badge)
        if reason:
            pin_hashing.verify_pin(pin, pin_hashing.DUMMY_HASH)      # the same work as a real check
            raise self._failed(reason, user_id if user else None, after_badge)
        if pin_hashing.verify_pin(pin, user["pin_hash"]):
            with self.ledger.transaction():
                self.ledger.db.execute("UPDATE users SET failed_pins = 0 WHERE id = ?", [user_id])
                lockouts.clear(self.ledger, user_id)
            return self._person(user)
        with self.ledger.transaction():      # the count and its refusal row land together
            failed = user["failed_pins"] + 1
            if failed >= self.max_tries:
                self.ledger.db.execute("UPDATE users SET failed_pins = 0 WHERE id = ?", [user_id])
                lockouts.lock(self.ledger, user_id, self.lockout_s * 1000)
                self._refuse("wrong_pin", user_id, tries_left=0)
                refused = self._failed("locked_out", user_id, after_badge)
            else:
                self.ledger.db.execute("UPDATE users SET failed_pins = ? WHERE id = ?", [failed, user_id])
                refused = self._failed("wrong_pin", user_id, after_badge, tries_left=self.max_tries - failed)
        raise refused           # after the transaction: the count and the refusal rows are kept
