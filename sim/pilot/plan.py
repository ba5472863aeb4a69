"""How the pilot is set up to be compared fairly: each arm's visit schedule and what visits, emergencies and
stock cost. From the command line (`--pilot-visits`, `--baseline-visits`, `--visit-cost`, ...) or from a
pilot config file (TOML, `--pilot-config`):

    [schedule]
    pilot = "tue,fri@9"        # the route driver's scheduled visits: weekdays @ hour
    baseline = "mon@8"         # the weekly baseline's visit
    [costs]                    # in the report's currency
    visit = 45.00              # one scheduled visit (driver's time and travel)
    emergency_visit = 120.00   # one emergency visit (a call-out)
    emergency_order = 80.00    # one emergency order (a critical part rushed in)
    carrying_rate_pct = 20     # stock carrying cost a year, % of the average stock value (0: not costed)

The equal-visits baseline always runs on the pilot's schedule (the same weekdays and hour), so it has
exactly as many visits as the pilot has scheduled ones."""
import tomllib
from dataclasses import dataclass, field

from sim.pilot.demand import DAY_MS, HOUR_MS, weekday

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_PILOT = "tue,fri@9"
DEFAULT_BASELINE = "mon@8"
DEFAULT_COSTS = {"visit": 45.0, "emergency_visit": 120.0, "emergency_order": 80.0, "carrying_rate_pct": 20.0}
OPTIONS = {"visit": "--visit-cost", "emergency_visit": "--emergency-visit-cost",
           "emergency_order": "--emergency-order-cost", "carrying_rate_pct": "--carrying-rate"}


class PlanError(ValueError):
    pass


@dataclass(frozen=True)
class Schedule:
    days: tuple                # weekday numbers, Monday 0
    hour: int

    def times(self, days):
        """Visit times (ms from the pilot's start) within `days` days."""
        return [d * DAY_MS + self.hour * HOUR_MS for d in range(days) if weekday(d) in self.days]

    def longest_gap_days(self):
        """The longest time between two visits, in days (7 for one a week)."""
        ds = sorted(self.days)
        return max(((ds[(i + 1) % len(ds)] - d) % 7) or 7 for i, d in enumerate(ds))

    def __str__(self):
        return "%s@%d" % (",".join(DAY_NAMES[d] for d in sorted(self.days)), self.hour)

    def words(self):
        names = [DAY_NAMES[d].capitalize() for d in sorted(self.days)]
        return "%s %02d:00" % (", ".join(names), self.hour)


def parse_schedule(text, what="schedule"):
    """'tue,fri@9' -> Schedule((1, 4), 9). Refused in words when it is not that shape."""
    shape = "%s must look like tue,fri@9 (weekdays mon..sun, comma-separated, @ an hour 0-23), got %r" % (
        what, text)
    if not isinstance(text, str) or text.count("@") != 1:
        raise PlanError(shape)
    days_text, hour_text = text.split("@")
    try:
        hour = int(hour_text)
    except ValueError:
        raise PlanError(shape) from None
    names = [d.strip().lower()[:3] for d in days_text.split(",") if d.strip()]
    if not names or any(n not in DAY_NAMES for n in names) or not 0 <= hour <= 23:
        raise PlanError(shape)
    return Schedule(tuple(sorted({DAY_NAMES.index(n) for n in names})), hour)


@dataclass(frozen=True)
class Costs:
    visit: float = DEFAULT_COSTS["visit"]
    emergency_visit: float = DEFAULT_COSTS["emergency_visit"]
    emergency_order: float = DEFAULT_COSTS["emergency_order"]
    carrying_rate_pct: float = DEFAULT_COSTS["carrying_rate_pct"]

    def of(self, visits, emergency_visits, emergency_orders, avg_stock_value, days):
        """{part: cost} of one arm, in the currency; carrying: the yearly rate on the average stock value,
        for the days of the period."""
        out = {"visits_cost": visits * self.visit,
               "emergency_visits_cost": emergency_visits * self.emergency_visit,
               "emergency_orders_cost": emergency_orders * self.emergency_order,
               "carrying_cost": avg_stock_value * self.carrying_rate_pct / 100 * days / 365}
        out = {k: round(v, 2) for k, v in out.items()}
        out["total_cost"] = round(sum(out.values()), 2)
        return out


@dataclass(frozen=True)
class PilotPlan:
    pilot: Schedule = field(default_factory=lambda: parse_schedule(DEFAULT_PILOT))
    baseline: Schedule = field(default_factory=lambda: parse_schedule(DEFAULT_BASELINE))
    costs: Costs = field(default_factory=Costs)


def _cost(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise PlanError("%s must be a number, 0 or more, got %r" % (name, value))
    return float(value)


def load_plan(path=None, pilot_visits=None, baseline_visits=None, **costs):
    """The plan from the defaults, then the config file (if any), then the command line's options (any
    that are not None)."""
    schedule, cost_values = {}, dict(DEFAULT_COSTS)
    if path:
        try:
            with open(path, "rb") as f:
                raw = tomllib.load(f)
        except OSError as e:
            raise PlanError("cannot read the pilot config %s: %s" % (path, e.strerror or e)) from None
        except tomllib.TOMLDecodeError as e:
            raise PlanError("the pilot config %s is not valid TOML: %s" % (path, e)) from None
        unknown = set(raw) - {"schedule", "costs"}
        unknown |= {"schedule." + k for k in raw.get("schedule", {})} - {"schedule.pilot", "schedule.baseline"}
        unknown |= {"costs." + k for k in raw.get("costs", {})} - {"costs." + k for k in DEFAULT_COSTS}
        if unknown:
            raise PlanError("the pilot config %s has no key %s" % (path, ", ".join(sorted(unknown))))
        schedule.update(raw.get("schedule", {}))
        for k, v in raw.get("costs", {}).items():
            cost_values[k] = _cost(v, "[costs] " + k)
    if pilot_visits is not None:
        schedule["pilot"] = pilot_visits
    if baseline_visits is not None:
        schedule["baseline"] = baseline_visits
    for k, v in costs.items():
        if v is not None:
            cost_values[k] = _cost(v, OPTIONS[k])
    return PilotPlan(parse_schedule(schedule.get("pilot", DEFAULT_PILOT), "the pilot's visits"),
                     parse_schedule(schedule.get("baseline", DEFAULT_BASELINE), "the baseline's visits"),
                     Costs(**cost_values))
