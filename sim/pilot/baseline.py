"""The baseline arm: the same takes (same seed, same stream) served the way many sites are served without a
smart cabinet: a fixed weekly visit that tops every location up to a par level, no alerts, no emergency
visits. It is a pure inventory replay (no cabinet, no ledger, no faults): a take gets what is there, up to
what was asked. The par level covers the demand until the next visit (a week for the weekly visit) plus
safety stock, within what the location holds (site.par_for). The visits follow a schedule (plan.Schedule):
the weekly one, or the pilot's own (the equal-visits baseline). A critical take that finds nothing is an
emergency order, as in the pilot arm."""
from dataclasses import dataclass, field

from sim.pilot.plan import DEFAULT_BASELINE, parse_schedule
from sim.pilot.site import par_for


@dataclass
class DemandStats:
    takes: int = 0
    units_asked: int = 0
    units_given: int = 0
    unmet_takes: int = 0           # takes that got less than asked
    emergency_orders: int = 0      # critical takes that got less than asked: the part is rushed in

    @property
    def unmet_units(self):
        return self.units_asked - self.units_given

    @property
    def fill_rate(self):
        return self.units_given / self.units_asked if self.units_asked else 1.0

    def count(self, loc, asked, given):
        self.takes += 1
        self.units_asked += asked
        self.units_given += given
        if given < asked:
            self.unmet_takes += 1
            if loc.critical:
                self.emergency_orders += 1


@dataclass
class BaselineResult:
    timelines: dict                # {location: [(t_ms, on_hand)]}
    demand: DemandStats
    visits: int = 0
    refill_units: int = 0
    emergency_visits: int = 0
    notes: list = field(default_factory=list)


def run_baseline(site, takes, days, schedule=None):
    """The replay with visits on `schedule` (default: Mondays 08:00), each topping up to par_for."""
    schedule = schedule or parse_schedule(DEFAULT_BASELINE)
    gap = schedule.longest_gap_days()
    par = {loc.id: par_for(loc, gap) for loc in site.locations}
    on_hand = dict(par)
    timelines = {loc.id: [(0, par[loc.id])] for loc in site.locations}
    result = BaselineResult(timelines, DemandStats())
    visits = schedule.times(days)
    # A visit at the same millisecond as a take comes first, as it does in the pilot arm.
    events = sorted([(t, 0, None) for t in visits] + [(take.t_ms, 1, take) for take in takes],
                    key=lambda e: (e[0], e[1]))
    for t, kind, take in events:
        if kind == 0:
            result.visits += 1
            for loc in site.locations:
                add = par[loc.id] - on_hand[loc.id]
                if add > 0:
                    on_hand[loc.id] += add
                    result.refill_units += add
                    timelines[loc.id].append((t, on_hand[loc.id]))
            continue
        loc = site.location(take.location)
        given = min(take.quantity, on_hand[loc.id])
        result.demand.count(loc, take.quantity, given)
        if given:
            on_hand[loc.id] -= given
            timelines[loc.id].append((t, on_hand[loc.id]))
    return result
