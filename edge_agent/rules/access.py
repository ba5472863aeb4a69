"""Who is at the cabinet: badge, PIN, or badge plus PIN for the roles a site configures so.

Every refusal is written to the ledger as a `refusal` transaction with its reason (never the PIN typed), and
is raised as a `Refusal` whose `words` are what the screen shows. Wrong PINs count per user; after
`max_tries` in a row the user is locked out for `lockout_s`, and that survives an agent restart because it
lives in the ledger. Validity windows (contractors) and lockouts are judged on the ledger clock's wall time:
a Pi that boots with a wrong clock judges them wrongly until it is synchronised (the refusal rows say whether
the clock was synchronised, as every row does)."""
import datetime
from dataclasses import dataclass
from typing import Optional

from edge_agent.badge.ids import BadBadgeId, normalize_badge_id
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
}


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

    def _now(self):
        return _instant(self.ledger.clock.wall()[0])

    def _refuse(self, reason, user_id=None, badge_id=None, tries_left=None):
        """The Refusal, on record (never with the PIN typed)."""
        return refusal(reason, user_id, tries_left).record(self.ledger, user_id=user_id, badge_id=badge_id)

    def _user(self, user_id):
        rows = list(self.ledger.db.query("SELECT * FROM users WHERE id = ?", [user_id]))
        return rows[0] if rows else None

    def window_refusal(self, user):
        now = self._now()
        if user["valid_from"] and now < _instant(user["valid_from"]):
            return "not_yet_valid"
        if user["valid_to"] and now >= _instant(user["valid_to"], end_of_day=True):
            return "expired"
        if user["locked_until"] and now < _instant(user["locked_until"]):
            return "locked_out"
        return None

    @staticmethod
    def _person(user):
        return Person(user["id"], user["name"], user["role"], user["department"], user["cost_center"],
                      user["supplier"])

    def by_badge(self, badge_id):
        """A tap: a Person, or NeedPin for roles that must add a PIN; raises the Refusal."""
        try:
            badge_id = normalize_badge_id(badge_id)
        except BadBadgeId:
            raise self._refuse("unknown_badge") from None
        row = self.ledger.db.execute("SELECT user_id FROM badges WHERE badge_id = ?", [badge_id]).fetchone()
        if row is None:
            raise self._refuse("unknown_badge", badge_id=badge_id)
        user = self._user(row[0])
        reason = self.window_refusal(user)
        if reason:
            raise self._refuse(reason, user["id"], badge_id)
        if user["role"] in self.pin_roles:
            return NeedPin(user["id"])
        return self._person(user)

    def by_pin(self, user_id, pin):
        """A PIN typed for a user (alone, or after a NeedPin): the Person; raises the Refusal."""
        user = self._user(user_id)
        if user is None:
            raise self._refuse("unknown_user")
        reason = self.window_refusal(user)
        if reason:
            raise self._refuse(reason, user_id)
        if not user["pin_hash"]:
            raise self._refuse("no_pin", user_id)
        if pin_hashing.verify_pin(pin, user["pin_hash"]):
            self.ledger.db.execute("UPDATE users SET failed_pins = 0, locked_until = NULL WHERE id = ?", [user_id])
            return self._person(user)
        with self.ledger.transaction():      # the count and its refusal row land together
            failed = user["failed_pins"] + 1
            if failed >= self.max_tries:
                until = (self._now() + datetime.timedelta(seconds=self.lockout_s)).isoformat()
                self.ledger.db.execute("UPDATE users SET failed_pins = 0, locked_until = ? WHERE id = ?",
                                       [until, user_id])
                self._refuse("wrong_pin", user_id, tries_left=0)
                refused = self._refuse("locked_out", user_id)
            else:
                self.ledger.db.execute("UPDATE users SET failed_pins = ? WHERE id = ?", [failed, user_id])
                refused = self._refuse("wrong_pin", user_id, tries_left=self.max_tries - failed)
        raise refused           # after the transaction: the count and the refusal rows are kept
