"""The route driver: scheduled visits (on the plan's schedule, Tuesday and Friday 09:00 by default) and
emergency visits when a critical item is out, each working the open refill tasks through the agent's refill
flow (edge_agent/flows/refill.py):

- the pick list is refill.pick_list (only this supplier's open tasks, what brings each location to max in
  whole packs); when whole packs would leave the location below its min (a pack larger than the gap to
  max), the driver brings what fills it to max instead (by what is physically there): a refill never
  leaves a location below min; and never past max;
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
from sim.pilot.demand import HOUR_MS
from sim.pilot.site import DRIVER

EMERGENCY_RESPONSE_MS = 4 * HOUR_MS


def driver_person():
    return Person(DRIVER[0], DRIVER[1], DRIVER[2], None, None, DRIVER[3])


def bring(line, loc, physical):
    """Units the driver puts in for a pick line: the task's whole packs, or up to max when whole packs
    would leave the location below min by what the driver sees in it; never more than fits up to max."""
    quantity = line.quantity
    if physical + quantity < loc.minimum:
        quantity = line.maximum - physical
    return max(0, min(quantity, line.maximum - physical))


@dataclass
class Visit:
    emergency: bool
    lines: int = 0
    units: int = 0
    corrections: int = 0       # counts that disagreed with the ledger
    below_min: int = 0         # refills that left the location below its min
    skipped: list = field(default_factory=list)
    counted: list = field(default_factory=list)   # locations whose count set the ledger to what is there


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
            added = self._refill(loc, bring(line, loc, self.station.physical(loc)), visit)
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
        visit.counted.append(loc.id)
        if done.corrected_from is not None:
            visit.corrections += 1
        if done.on_hand < loc.minimum:
            visit.below_min += 1
        return quantity
