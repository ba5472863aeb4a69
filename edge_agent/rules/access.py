"""Who is at the cabinet: badge, PIN, or badge plus PIN for the roles a site configures so.

Every refusal is written to the ledger as a `refusal` transaction with its reason (never the PIN typed), and
comes back as a `Refused` whose `message` is what the screen shows. Wrong PINs count per user; after
`max_tries` in a row the user is locked out for `lockout_s`, and that survives an agent restart because it
lives in the ledger. Validity windows (contractors) and lockouts are judged on the ledger clock's wall time:
a Pi that boots with a wrong clock judges them wrongly until it is synchronised (the refusal rows say whether
the clock was synchronised, as every row does)."""
import datetime
from dataclasses import dataclass
from typing import Optional

from edge_agent.rules import pin_hashing
from edge_agent.badge.ids import BadBadgeId, normalize_badge_id

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


@dataclass(frozen=True)
class Refused:
    reason: str
    user_id: Optional[str] = None
    tries_left: Optional[int] = None

    @property
    def message(self):
        text = MESSAGES[self.reason]
        if self.reason == "wrong_pin" and self.tries_left is not None:
            text += " %d %s left." % (self.tries_left, "try" if self.tries_left == 1 else "tries")
        return text


def _instant(text, end_of_day=False):
    """An ISO date or time as an aware datetime (UTC when it has no zone); a bare date ends at midnight."""
    value = datetime.datetime.fromisoformat(text)
    if len(text) == 10 and end_of_day:
        value += datetime.timedelta(days=1)
    return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)


class Access:
    def __init__(self, ledger, max_tries=5, lockout_s=300, pin_roles=()):
        self.ledger = ledger
        self.max_tries = max_tries
        self.lockout_s = lockout_s
        self.pin_roles = frozenset(pin_roles)

    def _now(self):
        return _instant(self.ledger.clock.wall()[0])

    def _refuse(self, reason, user_id=None, badge_id=None, tries_left=None):
        self.ledger.append("refusal", user_id=user_id, badge_id=badge_id, reason=reason)
        return Refused(reason, user_id, tries_left)

    def _user(self, user_id):
        rows = list(self.ledger.db.query("SELECT * FROM users WHERE id = ?", [user_id]))
        return rows[0] if rows else None

    def _window_refusal(self, user):
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
        """A tap: a Person, NeedPin for roles that must add a PIN, or Refused."""
        try:
            badge_id = normalize_badge_id(badge_id)
        except BadBadgeId:
            return self._refuse("unknown_badge")
        row = self.ledger.db.execute("SELECT user_id FROM badges WHERE badge_id = ?", [badge_id]).fetchone()
        if row is None:
            return self._refuse("unknown_badge", badge_id=badge_id)
        user = self._user(row[0])
        reason = self._window_refusal(user)
        if reason:
            return self._refuse(reason, user["id"], badge_id)
        if user["role"] in self.pin_roles:
            return NeedPin(user["id"])
        return self._person(user)

    def by_pin(self, user_id, pin):
        """A PIN typed for a user (alone, or after a NeedPin): a Person or Refused."""
        user = self._user(user_id)
        if user is None:
            return self._refuse("unknown_user")
        reason = self._window_refusal(user)
        if reason:
            return self._refuse(reason, user_id)
        if not user["pin_hash"]:
            return self._refuse("no_pin", user_id)
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
                return self._refuse("locked_out", user_id)
            self.ledger.db.execute("UPDATE users SET failed_pins = ? WHERE id = ?", [failed, user_id])
            return self._refuse("wrong_pin", user_id, tries_left=self.max_tries - failed)
