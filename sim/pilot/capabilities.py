"""What a supplier's pilot asks of the hub, each capability behind a small adapter (adapters.py):
its set-up (routes, alert rules, order rules), what it does after each step on the virtual clock, and
what a supplier would have seen at the end (a Section: lines for the summary, files in the output folder).
A capability whose hub module is not there says "not available" rather than being faked.

The hub's scheduled jobs (hub.jobs.run_all) run after every step at the step's virtual time."""
from dataclasses import dataclass, field
from typing import List

from sim.pilot import hub_clock


@dataclass
class Section:
    name: str
    available: bool = True
    lines: List[str] = field(default_factory=list)
    files: List[str] = field(default_factory=list)      # relative to the output folder
    figures: dict = field(default_factory=dict)         # for summary.json

    @classmethod
    def missing(cls, name, why):
        return cls(name, False, ["not available (%s)" % why])


def _available(ctx):
    return [a for a in ctx.adapters if a.available()]


def install(conn, ctx):
    """Before the hub starts: the receipt clock on virtual time, then each capability's set-up (the run's own
    adapters, in ctx.adapters)."""
    from sim.pilot import adapters
    ctx.adapters = [kind() for kind in adapters.ALL]
    hub_clock.install(conn, ctx.start)
    for adapter in _available(ctx):
        adapter.install(conn, ctx)


def start(conn, ctx):
    """Once the hub and the cabinets are up, before virtual time moves (e.g. desired state published)."""
    for adapter in _available(ctx):
        adapter.start(conn, ctx)


def before_step(conn, ctx, until):
    """The receipt clock at the end of the step about to be granted."""
    hub_clock.set_time(conn, until)


def before_jobs(conn, ctx, now):
    for adapter in _available(ctx):
        adapter.before_jobs(conn, ctx, now)


def close(ctx):
    for adapter in _available(ctx):
        adapter.close(ctx)


def run_jobs(conn, now):
    """hub.jobs.run_all at `now`: {job: things done}. {} while hub/jobs.py is not on main yet."""
    try:
        from hub import jobs
    except ImportError:
        return {}
    done = jobs.run_all(conn, now)
    if conn.info.transaction_status:       # a job that left a transaction open: its work is committed here
        conn.commit()
    return done if isinstance(done, dict) else {"jobs": int(done or 0)}


def after_step(conn, ctx, now):
    for adapter in _available(ctx):
        adapter.after_step(conn, ctx, now)


def collect(conn, ctx):
    sections = []
    for adapter in ctx.adapters:
        if not adapter.available():
            sections.append(Section.missing(adapter.name, adapter.missing))
            continue
        sections.append(adapter.collect(conn, ctx))
    return sections
