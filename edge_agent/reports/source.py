"""Where a report's rows come from: one cabinet's ledger, the hub's copy of a cabinet (hub/history.py), or
several cabinets read as one (a customer's report). build_report reads only through this interface, so the
figures of every report come from one implementation whatever holds the rows.

A source has:
    cabinet_id        the cabinet's id (None for several)
    cabinets          the cabinet ids it covers
    catalog           a catalog.Catalog (skus, locations, users, tool locations)
    notes             [(heading, text)] the method section adds (e.g. where the catalog came from)
    movements()       every stock movement, history.replay'ed per cabinet from seq 1 (history.Movement)
    rows_near(lo, hi) every transaction row whose wall_time text is in [lo, hi) (ISO dates), as dicts with
                      seq, wall_time, clock_synced, kind, action, user_id, outcome, quantity
    refill_tasks()    dicts location, sku, quantity, opened_wall, closed_wall (None while open), in id order
    alerts()          dicts location, kind, detail, raised_wall, cleared_wall (None while open), in id order
    default_now()     the time to judge figures at when the caller gives none (a ledger's clock), or None
    cabinet_of(loc)   the cabinet a location belongs to (a refill visit is one person at one cabinet)
"""
import dataclasses

from edge_agent.reports.catalog import Catalog
from edge_agent.reports.history import MOVEMENT_QUERY, replay
from edge_agent.reports.period import parse_time

ROW_COLUMNS = ("seq", "wall_time", "clock_synced", "kind", "action", "user_id", "outcome", "quantity")


class LedgerSource:
    """One cabinet's own ledger (an open edge_agent.ledger Ledger): what `locker-agent report` reads."""

    def __init__(self, ledger):
        self.ledger = ledger
        self.cabinet_id = ledger.cabinet()["cabinet_id"]
        self.cabinets = [self.cabinet_id]
        self.catalog = Catalog(ledger.db)
        self.notes = []

    def movements(self):
        return replay(self.ledger.db.execute(MOVEMENT_QUERY), self.cabinet_id)

    def rows_near(self, lo, hi):
        cursor = self.ledger.db.execute("SELECT %s FROM transactions WHERE wall_time >= ? AND wall_time < ?"
                                        % ", ".join(ROW_COLUMNS), [lo, hi])
        return [dict(zip(ROW_COLUMNS, row)) for row in cursor]

    def refill_tasks(self):
        return self.ledger.db.query("SELECT location, sku, quantity, opened_wall, closed_wall FROM refill_tasks "
                                    "ORDER BY id")

    def alerts(self):
        return self.ledger.db.query("SELECT location, kind, detail, raised_wall, cleared_wall FROM alerts "
                                    "ORDER BY id")

    def default_now(self):
        return parse_time(self.ledger.clock.wall()[0])

    def cabinet_of(self, location):
        return self.cabinet_id


class Combined:
    """Several cabinets' sources read as one report. Their location ids are qualified with the cabinet
    ("CAB-1/L3": two cabinets both have an L3); SKUs are one catalog (the first cabinet's row of a part
    number wins: unit costs recorded on each transaction still price it); users are people, merged by id."""

    SEPARATOR = "/"

    def __init__(self, sources):
        if not sources:
            raise ValueError("a report needs at least one cabinet")
        self.sources = list(sources)
        self.cabinet_id = None
        self.cabinets = [c for s in self.sources for c in s.cabinets]
        skus, locations, users, tools = {}, {}, {}, set()
        for s in self.sources:
            for k, row in s.catalog.skus.items():
                skus.setdefault(k, row)
            for k, row in s.catalog.users.items():
                users.setdefault(k, row)
            for k, row in s.catalog.locations.items():
                q = self.qualify(s, k)
                locations[q] = dict(row, id=q)
            tools |= {self.qualify(s, k) for k in s.catalog.tool_locations}
        self.catalog = Catalog.from_rows(skus, locations, users, tools)
        self.notes = [n for s in self.sources for n in s.notes]
        self._owner = {self.qualify(s, k): s.cabinet_id for s in self.sources for k in s.catalog.locations}

    def qualify(self, source, location):
        return None if location is None else "%s%s%s" % (source.cabinet_id, self.SEPARATOR, location)

    def movements(self):
        return [dataclasses.replace(m, location=self.qualify(s, m.location))
                for s in self.sources for m in s.movements()]

    def rows_near(self, lo, hi):
        return [r for s in self.sources for r in s.rows_near(lo, hi)]

    def _qualified(self, what):
        return [dict(r, location=self.qualify(s, r["location"])) for s in self.sources for r in getattr(s, what)()]

    def refill_tasks(self):
        return self._qualified("refill_tasks")

    def alerts(self):
        return self._qualified("alerts")

    def default_now(self):
        times = [t for t in (s.default_now() for s in self.sources) if t is not None]
        return max(times) if times else None

    def cabinet_of(self, location):
        return self._owner.get(location)


def combine(sources):
    """One source for the cabinets: the source itself when there is one (its ids unchanged), else Combined."""
    sources = list(sources)
    return sources[0] if len(sources) == 1 else Combined(sources)
