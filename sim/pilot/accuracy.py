"""Stock and charge accuracy, measured against the physical truth only a simulation knows.

- Stock accuracy: at every visit of the driver (on arrival, before anything is counted or loaded) and at
  the end, each location's ledger on hand against the units physically in it: the share of
  location-checks that match and the total absolute difference. A difference found at a visit is
  "flagged" when an alert that is not a plain stock level (not low_stock, not stockout) or a count task was
  open for that location at that moment: someone had been told to look.
- Charge accuracy: every time units physically leave through the cabinet's hardware (a lane's drops during
  one take, including its recovery after an MCU reset; pieces a hand lifts from a weigh bin; drops while a
  supervisor clears a lane) against what the ledger charged for it: units charged exactly once, units out
  and not charged, units charged with nothing out. Doors and scan-only bins are charged what the person
  takes by construction (the pilot's hand takes what the agent gave), so they are not measured here.
- The end check stays meaningful: a location whose ledger differs from the physical truth at the end is
  "explained" when an injected fault touched it since it was last counted (shrinkage, an uncharged or
  unknown vend); any other difference is unexplained and is a defect of the agent."""
from dataclasses import dataclass, field

NOT_A_FLAG = ("low_stock", "stockout")


@dataclass
class LocationAccuracy:
    checks: int = 0            # visits at which the location was checked
    matched: int = 0
    abs_diff: int = 0
    differences: int = 0       # checks that did not match
    flagged: int = 0           # of those, flagged by an open alert or count task before the visit
    out_units: int = 0         # units physically out through the hardware
    charged_once: int = 0
    not_charged: int = 0
    charged_no_out: int = 0
    end_ledger: int = 0
    end_physical: int = 0


@dataclass
class Accuracy:
    per: dict = field(default_factory=dict)          # location -> LocationAccuracy
    faulted: dict = field(default_factory=dict)      # location -> what touched it since its last count
    measured: tuple = ()                             # locations charge accuracy is measured for

    @classmethod
    def of(cls, site):
        return cls({loc.id: LocationAccuracy() for loc in site.locations},
                   measured=tuple(l.id for l in site.locations if l.kind in ("lane", "bin")))

    def flagged_now(self, ledger):
        rows = ledger.db.execute(
            "SELECT location FROM alerts WHERE cleared_wall IS NULL AND location IS NOT NULL AND kind NOT IN "
            "(%s) UNION SELECT location FROM count_tasks WHERE closed_wall IS NULL"
            % ",".join("?" * len(NOT_A_FLAG)), NOT_A_FLAG).fetchall()
        return {r[0] for r in rows}

    def check_visit(self, ledger, station, site):
        """Every location's ledger on hand against what is physically there, on the driver's arrival."""
        flagged = self.flagged_now(ledger)
        for loc in site.locations:
            a = self.per[loc.id]
            diff = abs(ledger.on_hand(loc.id) - station.physical(loc))
            a.checks += 1
            a.abs_diff += diff
            if diff == 0:
                a.matched += 1
            else:
                a.differences += 1
                a.flagged += loc.id in flagged

    def charge(self, location, out, charged):
        """Units physically out in one take (or clear) and what the ledger charged for it."""
        a = self.per[location]
        a.out_units += out
        a.charged_once += min(out, charged)
        a.not_charged += max(0, out - charged)
        a.charged_no_out += max(0, charged - out)
        if out != charged:
            self.fault(location, "charge")

    def fault(self, location, why):
        self.faulted.setdefault(location, set()).add(why)

    def counted(self, location):
        self.faulted.pop(location, None)

    def finish(self, ledger, station, site):
        """The end check: (all differences, unexplained differences) as [(location, ledger, physical)]."""
        all_, unexplained = [], []
        for loc in site.locations:
            a = self.per[loc.id]
            a.end_ledger, a.end_physical = ledger.on_hand(loc.id), station.physical(loc)
            if a.end_ledger != a.end_physical:
                all_.append((loc.id, a.end_ledger, a.end_physical))
                if loc.id not in self.faulted:
                    unexplained.append((loc.id, a.end_ledger, a.end_physical))
        return all_, unexplained

    def figures(self, locations=None):
        """The figures over `locations` (default all), as {figure: value}: the site row of accuracy.csv."""
        ids = list(self.per) if locations is None else list(locations)
        rows = [self.per[i] for i in ids]
        charged = [self.per[i] for i in ids if i in self.measured]
        checks = sum(a.checks for a in rows)
        diffs = sum(a.differences for a in rows)
        end_match = sum(1 for a in rows if a.end_ledger == a.end_physical)
        out = sum(a.out_units for a in charged)
        return {
            "visit_checks": checks,
            "visit_checks_matched": sum(a.matched for a in rows),
            "stock_accuracy_at_visits_pct": _pct(sum(a.matched for a in rows), checks),
            "abs_difference_at_visits": sum(a.abs_diff for a in rows),
            "differences_at_visits": diffs,
            "differences_flagged_before_visit": sum(a.flagged for a in rows),
            "differences_flagged_pct": _pct(sum(a.flagged for a in rows), diffs),
            "locations_matching_at_end": end_match,
            "stock_accuracy_at_end_pct": _pct(end_match, len(rows)),
            "abs_difference_at_end": sum(abs(a.end_ledger - a.end_physical) for a in rows),
            "units_out_through_hardware": out,
            "charged_exactly_once": sum(a.charged_once for a in charged),
            "out_not_charged": sum(a.not_charged for a in charged),
            "charged_with_nothing_out": sum(a.charged_no_out for a in charged),
            "charge_accuracy_pct": _pct(sum(a.charged_once for a in charged),
                                        out + sum(a.charged_no_out for a in charged)),
        }


def _pct(part, whole):
    return round(100 * part / whole, 2) if whole else 100.0
