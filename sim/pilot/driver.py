"""The route driver: scheduled visits (twice a week by default) and emergency visits when a critical item is
out, each working the open refill tasks through the agent's refill flow (edge_agent/flows/refill.py):

- the pick list is refill.pick_list (only this supplier's open tasks, what brings each location to max);
- a locker door is opened through the flow (intent 'refill', UNLOCK, outcome), as agent.open_for_refill does;
- lanes, doors and scan-only bins: the units go in physically, then refill.confirm_refill with the driver's
  count of what is there now (the ledger corrects itself with a count row if it disagrees);
- a weigh bin: WeighBins.refill_bin, pieces go in, the scale's stable change is the refill row.
An emergency visit brings only the critical locations' lines."""
from dataclasses import dataclass, field

from edge_agent.rules.access import Person
from edge_agent.flows.refill import confirm_refill, open_for_refill, pick_list, weighed_in
from edge_agent.flows.refill_visits import close_visit
from edge_agent.rules.refusal import Refusal
from edge_agent.flows.weighing import Counted, NotStable
from sim.pilot.demand import DAY_MS, HOUR_MS, weekday
from sim.pilot.site import DRIVER

VISIT_DAYS = (1, 4)            # Tuesday and Friday
VISIT_HOUR = 9
EMERGENCY_RESPONSE_MS = 4 * HOUR_MS


def driver_person():
    return Person(DRIVER[0], DRIVER[1], DRIVER[2], None, None, DRIVER[3])


def visit_times(days, visit_days=VISIT_DAYS, hour=VISIT_HOUR):
    return [d * DAY_MS + hour * HOUR_MS for d in range(days) if weekday(d) in visit_days]


@dataclass
class Visit:
    emergency: bool
    lines: int = 0
    units: int = 0
    corrections: int = 0       # counts that disagreed with the ledger
    skipped: list = field(default_factory=list)


class RouteDriver:
    def __init__(self, station, ledger, site):
        self.station = station
        self.ledger = ledger
        self.site = site
        self.person = driver_person()

    def visit(self, emergency=False):
        visit = Visit(emergency)
        for line in pick_list(self.ledger, self.person):
            loc = self.site.location(line.location)
            if emergency and not loc.critical:
                continue
            added = self._refill(loc, line.quantity, visit)
            if added:
                visit.lines += 1
                visit.units += added
        close_visit(self.ledger, self.person.user_id)     # its summary goes to the cloud (refill_visit)
        return visit

    def _refill(self, loc, quantity, visit):
        st = self.station
        if loc.kind == "bin":
            try:
                take = st.bins.refill_bin(self.person, loc.id)
            except Refusal as refused:
                visit.skipped.append((loc.id, refused.reason))
                return 0
            st.bin_put(loc.unit, quantity)
            for _ in range(3):
                try:
                    counted = take.finish()
                    break
                except NotStable:
                    continue
            else:
                # The driver moves on: the refill is finished for them now, or settled when next weighed.
                late = st.bins.release().get(loc.id)
                if isinstance(late, Counted) and late.action == "refill":
                    return late.quantity
                visit.skipped.append((loc.id, "not_stable"))
                return 0
            weighed_in(self.ledger, self.person, counted)
            return counted.quantity if isinstance(counted, Counted) and counted.action == "refill" else 0
        if loc.kind == "door":
            try:
                result = open_for_refill(self.ledger, st.cabinet, self.person, loc.id)
            except Refusal as refused:
                visit.skipped.append((loc.id, refused.reason))
                return 0
            if result.outcomes != ["opened"]:
                visit.skipped.append((loc.id, result.outcomes[-1] if result.outcomes else "not_opened"))
                return 0
            st.held[loc.id] += quantity
            st.close_door(loc.unit)
        elif loc.kind == "lane":
            st.load_lane(loc.unit, quantity)
        else:
            st.held[loc.id] += quantity
        try:
            done = confirm_refill(self.ledger, self.person, loc.id, quantity, counted=st.physical(loc))
        except Refusal as refused:
            visit.skipped.append((loc.id, refused.reason))
            return 0
        if done.corrected_from is not None:
            visit.corrections += 1
        return quantity
