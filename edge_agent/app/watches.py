"""Two small things the agent keeps an eye on between jobs: whether the cabinet answers (the state's
`cabinet_link`), and whose refill visit is open in this session (closed when their session ends)."""
from edge_agent.flows import refill, refill_visits
from edge_agent.rules.roles import REFILLERS

LINK_CHECK_S = 1      # how often the cabinet link's last frame is looked at
LINK_QUIET_S = 5      # nothing heard from the firmware for this long (it answers a PING every 0.5 s): not answering


class CabinetLinkWatch:
    """"up", "not_answering" or "starting" (not ready yet: recovery has not settled), for the screen. A
    value that only changes when the link does: the state is compared on every worker pass."""

    def __init__(self, cabinet, clock):
        self.cabinet = cabinet
        self.clock = clock
        self.quiet = False

    def check(self, ready):
        """Every LINK_CHECK_S: a closed serial link, or one silent past LINK_QUIET_S, is not answering."""
        heard = getattr(self.cabinet, "last_heard", None)   # the serial link's; the simulated one has none
        if ready:
            self.quiet = bool(getattr(self.cabinet, "closed", False)) or (
                heard is not None and self.clock() - heard > LINK_QUIET_S)

    def state(self, ready):
        return "not_answering" if self.quiet else "up" if ready else "starting"


class VisitWatch:
    """The user whose refill visit is open in this session: the visit closes when the session ends (logout,
    idle, another badge) or at the next start (a restart ended every session)."""

    def __init__(self):
        self.user_id = None

    def touched(self, ledger, person, open_now=False):
        """The person worked their pick list (open_now: opens their visit if none is open)."""
        if person.role in REFILLERS:
            if open_now:
                refill_visits.open_visit(ledger, person.user_id)
            self.user_id = person.user_id

    def weighed_in(self, ledger, person, counted):
        """A weigh bin's refill as the scale counted it: a line of the person's visit."""
        refill.weighed_in(ledger, person, counted)
        self.touched(ledger, person)

    def check(self, ledger, session):
        if self.user_id and (session is None or session.person.user_id != self.user_id):
            refill_visits.close_visit(ledger, self.user_id)
            self.user_id = None

    def finish(self, ledger, person):
        """The person finished their visit: its summary (with visit_id), or None when none was open."""
        self.user_id = None
        return refill_visits.close_visit(ledger, person.user_id)

    @staticmethod
    def close_left_open(ledger):
        for user_id in refill_visits.open_visitors(ledger):
            refill_visits.close_visit(ledger, user_id)
