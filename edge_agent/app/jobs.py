"""The agent's job plumbing: `@job` declares what a person's job needs (the locker ready, someone logged in,
a role gate), and `NotReady` is the locker still reconciling with the cabinet, or closed until an outcome
that could not be known or written is settled."""
import functools

from edge_agent.rules.refusal import Refusal
from edge_agent.rules.roles import area_refusal


class NotReady(Exception):
    """The locker is still reconciling with the cabinet: nobody can log in yet."""


def job(area=None, moves=False):
    """A job for the person logged in for the caller: the locker ready, someone logged in, and (area) their
    role allowed in that screen area (roles.AREAS). The method gets the Person first. moves: it may actuate,
    so an outcome that could not be known closes the locker, and a refusal asking for a supervisor's
    approval makes the next supervisor's tap an approval."""
    def wrap(method):
        @functools.wraps(method)
        def run(self, *args, **kwargs):
            self.require_ready()
            person = self.sessions.person()
            refusal = area_refusal(person, area) if area else None
            if refusal:
                raise refusal
            session = self.sessions.session
            try:
                result = method(self, person, *args, **kwargs)
            except Refusal as refused:
                session.awaiting_approval = refused.reason == "needs_approval"
                raise
            if moves:
                session.awaiting_approval = False
                if getattr(result, "unknown", False):
                    self.ready = False
            session.last_active = self.clock()
            return result
        run.area = area
        return run
    return wrap
