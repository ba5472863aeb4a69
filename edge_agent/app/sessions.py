"""Who is logged in at the cabinet, and for which screen.

A session starts with a badge (a PIN after it for the roles a site says), or a PIN alone; it ends on
logout, after `session_idle_s` with nothing done, or when a new badge is tapped. While an issue waits for a
supervisor's approval, a supervisor's tap approves it instead of logging in.

Each session belongs to the API client that started it (its token), or, for a tap on a device reader, to
the client showing the cabinet's screen (the kiosk); another client neither sees nor acts on it. An
in-process caller (a reader, the cloud, a test: client None) sees everything. Access (rules/access.py)
decides who gets in and raises the Refusal when nobody does."""
import dataclasses
import logging
from typing import Optional

from edge_agent.rules.access import NeedPin, Person
from edge_agent.rules.refusal import Refusal
from edge_agent.rules.roles import UNRESTRICTED

log = logging.getLogger(__name__)


class NoSession(Exception):
    """Nobody is logged in (for this client)."""


@dataclasses.dataclass
class Session:
    person: Person
    via: str                  # "badge", "pin", "badge+pin", or what a tool named (commissioning)
    last_active: float
    approver: Optional[Person] = None   # a supervisor who badged to approve the next issue
    take: Optional[object] = None       # an open weigh-bin take (weighing.Take)
    awaiting_approval: bool = False     # the last issue needs a supervisor: their tap approves, not logs in
    approver_pin_for: Optional[str] = None   # an approver whose badge needs their PIN next
    owner: Optional[str] = None         # the API client it belongs to (its token); None: in-process only


@dataclasses.dataclass(frozen=True)
class Approved:
    """A supervisor's badge, tapped while an issue waited for approval: it approves the next issue."""
    approver: Person


class Sessions:
    def __init__(self, access, clock, idle_s, caller):
        """caller(): the API client the running job is for (None: in-process)."""
        self.access = access
        self.clock = clock
        self.idle_s = idle_s
        self.caller = caller
        self.session = None
        self.pending_pin = None   # (user id, since, client) of a good badge whose role must add a PIN
        self.kiosk_client = None  # the client showing the cabinet's screen: a reader's tap logs in for it

    # -- whose session ------------------------------------------------------------------------------------
    def owner(self):
        """Whom a login now belongs to: the asking client, or for a reader's tap the kiosk's client."""
        client = self.caller()
        return client if client is not None else self.kiosk_client

    def mine(self, owner):
        client = self.caller()
        return client is None or owner == client

    def visible(self):
        """The session, when the caller may see it: its own client's, or any for an in-process caller."""
        return self.session if self.session is not None and self.mine(self.session.owner) else None

    def person(self):
        """The person logged in for the caller (their session's clock restarts); raises NoSession."""
        if self.visible() is None:
            raise NoSession("Nobody is logged in. Tap your badge.")
        self.session.last_active = self.clock()
        return self.session.person

    def begin(self, person, via):
        """A session for `person`, ending any other (a tool that logs its own user in says how: via)."""
        self.session = Session(person, via, self.clock(), owner=self.owner())
        self.pending_pin = None
        log.info("login: %s (%s) by %s", person.user_id, person.role, via)
        return person

    def expire_idle(self):
        if self.session and self.clock() - self.session.last_active > self.idle_s:
            log.info("logout: %s idle for %d s", self.session.person.user_id, self.idle_s)
            self.session = None
        if self.pending_pin and self.clock() - self.pending_pin[1] > self.idle_s:
            self.pending_pin = None

    # -- logging in and out ---------------------------------------------------------------------------------
    def tap(self, badge_id):
        """A badge read by any reader: a new session (ending the current one) or NeedPin; or, while an issue
        waits for a supervisor, that supervisor's approval (Approved). Raises the Refusal."""
        session = self.visible()
        try:
            answer = self.access.by_badge(badge_id)
        except Refusal:
            self.session = None
            raise
        if (session and session.awaiting_approval and isinstance(answer, Person)
                and answer.role in UNRESTRICTED and answer.user_id != session.person.user_id):
            session.approver, session.awaiting_approval = answer, False
            session.last_active = self.clock()
            log.info("approval: %s approves %s's next issue", answer.user_id, session.person.user_id)
            return Approved(answer)
        self.session = None
        if isinstance(answer, NeedPin):
            self.pending_pin = (answer.user_id, self.clock(), self.owner())
            return answer
        return self.begin(answer, "badge")

    def pin(self, user_id, pin):
        """A PIN typed for a user, alone or after a badge that needs one; raises the Refusal."""
        pending = self.pending_pin
        after_badge = pending is not None and pending[0] == user_id and self.mine(pending[2])
        if pending is not None and not after_badge and self.mine(pending[2]):
            self.pending_pin = None
        person = self.access.by_pin(user_id, pin, after_badge=after_badge)
        return self.begin(person, "badge+pin" if after_badge else "pin")

    def logout(self):
        """Ends the caller's session (another client's stays: it is not theirs to end)."""
        if self.visible() is not None:
            self.session = None
        if self.pending_pin is not None and self.mine(self.pending_pin[2]):
            self.pending_pin = None

    def approve(self, badge=None, user_id=None, pin=None):
        """A supervisor badges (or types their PIN) on the same screen to approve the next issue: the
        approver, or NeedPin; raises the Refusal."""
        person = self.person()
        if badge is None:
            after_badge = user_id is not None and self.session.approver_pin_for == user_id
            answer = self.access.by_pin(user_id, pin, after_badge=after_badge)
        else:
            answer = self.access.by_badge(badge)
        self.session.approver_pin_for = None
        if isinstance(answer, NeedPin):
            self.session.approver_pin_for = answer.user_id     # their PIN next, on this session's screen
            return answer
        if answer.role not in UNRESTRICTED or answer.user_id == person.user_id:
            raise Refusal("not_an_approver", "%s cannot approve this." % answer.name)
        self.session.approver = answer
        return answer

    def take_approver(self):
        """The approver badged for the next issue (an approval is for one issue), or None."""
        approver, self.session.approver = self.session.approver, None
        return approver

    def view(self):
        """The sessions' part of the state, for everyone, with whose they are (_session_owner, _pin_owner)."""
        session = self.session
        return {
            "_session_owner": session.owner if session else None,
            "_pin_owner": self.pending_pin[2] if self.pending_pin else None,
            "approver": session.approver.name if session and session.approver else None,
            "session": dataclasses.asdict(session.person) if session else None,
            "need_pin_for": self.pending_pin[0] if self.pending_pin else None,
        }


def client_view(snapshot, client):
    """The state as one client sees it (Agent.snapshot): the session, its approver and its open take, and a
    PIN awaited after a badge, only for the client they belong to. client None: in-process, sees all."""
    view = {k: v for k, v in snapshot.items() if not k.startswith("_")}
    if client is not None and snapshot["_session_owner"] != client:
        view.update(session=None, approver=None, take=None, may=[])
    if client is not None and snapshot["_pin_owner"] != client:
        view["need_pin_for"] = None
    return view
