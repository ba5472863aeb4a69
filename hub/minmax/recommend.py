"""Min/max recommendations per cabinet location, computed on the hub from the cabinet's history (tx_rows) by
the agent's own report code: hub/history.py reads the hub's copy as a report source, build_report replays it
and location_planning/planning compute the recommendations (capped by the capacity the catalog or the
inventory snapshot says). Nothing is computed here: a cabinet's figures are the ones `locker-agent report`
prints for the same rows."""
import dataclasses
import datetime
from typing import Optional

from edge_agent.reports.build import build_report
from hub import history

DEFAULT_DAYS = 90


@dataclasses.dataclass
class Line:
    """One stocked location of a cabinet: its min/max now and what the history recommends (None: keep them:
    already right, or too little history)."""
    cabinet: str
    location: str
    sku: Optional[str]
    description: str
    capacity: Optional[int]
    current_min: int
    current_max: int
    recommended_min: Optional[int]
    recommended_max: Optional[int]
    reason: Optional[str]

    @property
    def changes(self):
        return self.recommended_min is not None and (self.recommended_min, self.recommended_max) != (
            self.current_min, self.current_max)


def period(now, days=DEFAULT_DAYS):
    """[now - days, now): the history a recommendation is computed from."""
    if days <= 0:
        raise ValueError("the period must be at least one day (got %s)" % days)
    return now - datetime.timedelta(days=days), now


def lines_of(source, start, end, now):
    """(lines, notes) of one cabinet's report source (hub.history.HubCabinet): a Line per stocked location in
    cabinet order, and where its catalog came from (the method notes: the inventory snapshot alone when the
    site is not run from the hub)."""
    report = build_report(source, start, end, now)
    recommended = {r.location: r for r in report.recommendations}
    lines = []
    for loc in source.catalog.stocked_locations():
        row = source.catalog.locations[loc]
        rec = recommended.get(loc)
        lines.append(Line(source.cabinet_id, loc, row["sku"], source.catalog.description(row["sku"]),
                          row.get("capacity"), row["min"], row["max"], rec.min if rec else None,
                          rec.max if rec else None, rec.reason if rec else None))
    return lines, list(source.notes)


def for_cabinets(conn, cabinets, start, end, now):
    """(lines, notes) of the cabinets, each computed on its own (its own report), one after the other;
    notes are (cabinet, heading, text)."""
    lines, notes = [], []
    for source in history.cabinet_sources(conn, list(cabinets)):
        own, said = lines_of(source, start, end, now)
        lines += own
        notes += [(source.cabinet_id, heading, text) for heading, text in said]
    return lines, notes
