"""Technicians' demand: who takes what, when. Generated up front from the seed, independent of what the
cabinet does, so the pilot and the baseline see the very same stream.

Per location and day the number of takes is Poisson with mean
    rate (weekday takes) x weekday factor x day-to-day variability (gamma, mean 1) x burst factor
and each take happens at an hour drawn from the shift profile (most on the day shift, little at night), by a
technician on that shift, for a number of units drawn from the location's take range. A burst is a planned
shutdown / outage week: maintenance demand runs at BURST_FACTOR for BURST_DAYS working days. Critical spares
are rare by their rate (site.RATES["critical"]). See docs/decisions (the pilot note)."""
import math
import random
from dataclasses import dataclass
from typing import Optional

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
# Monday .. Sunday.
WEEKDAY_FACTORS = (1.1, 1.05, 1.0, 1.0, 0.85, 0.25, 0.15)
# Share of a day's takes per hour: the day shift (06-14) takes most, the late shift (14-22) less, the
# night (22-06) little; peaks at the start of each shift when people prepare their jobs.
HOUR_WEIGHTS = (0.4, 0.3, 0.3, 0.3, 0.3, 0.5, 9.0, 8.0, 7.0, 6.5, 6.0, 5.0, 5.5, 4.0,
                6.0, 5.0, 4.5, 4.0, 3.5, 3.0, 2.5, 1.5, 0.8, 0.5)
SHIFT_OF_HOUR = tuple("night" if h < 6 or h >= 22 else ("day" if h < 14 else "late") for h in range(24))
GAMMA_SHAPE = 4.0              # day-to-day variability: coefficient of variation 1/sqrt(4) = 0.5
BURST_FACTOR = 2.5
BURST_DAYS = 5
WORK_ORDER_SHARE = 0.6         # takes that name a work order when the SKU does not require one


@dataclass(frozen=True)
class Take:
    t_ms: int                  # from the pilot's start (a Monday 00:00)
    user_id: str
    location: str
    quantity: int
    work_order: Optional[str]
    burst: bool = False


def weekday(day):
    """0 = Monday: the pilot starts on a Monday."""
    return day % 7


def burst_window(days, rng):
    """(first day, last day) of the shutdown week, or None when the run is too short for one: it starts on a
    Monday after the first week and before the last one."""
    mondays = [d for d in range(7, days - 7 + 1) if weekday(d) == 0]
    if not mondays:
        return None
    start = rng.choice(mondays)
    return start, start + BURST_DAYS - 1


def poisson(rng, mean):
    """Knuth's method for small means, a rounded normal above 30 (plenty for a cabinet's daily takes)."""
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, int(round(rng.gauss(mean, math.sqrt(mean)))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


class DemandModel:
    def __init__(self, site, seed, days):
        if days < 1:
            raise ValueError("days must be at least 1")
        self.site = site
        self.seed = seed
        self.days = days
        self.burst = burst_window(days, random.Random("burst-%d" % seed))
        self.shifts = {}
        for person in site.people:
            self.shifts.setdefault(person[5], []).append(person[0])

    def day_factor(self, day):
        factor = WEEKDAY_FACTORS[weekday(day)]
        if self.burst and self.burst[0] <= day <= self.burst[1]:
            factor *= BURST_FACTOR
        return factor

    def takes(self):
        """Every take of the run, in time order (ties in draw order); the same list on every call."""
        rng = random.Random("demand-%d" % self.seed)
        hours = list(range(24))
        out = []
        work_orders = 0
        for day in range(self.days):
            factor = self.day_factor(day)
            in_burst = bool(self.burst and self.burst[0] <= day <= self.burst[1])
            for loc in self.site.locations:
                variability = rng.gammavariate(GAMMA_SHAPE, 1 / GAMMA_SHAPE)
                for _ in range(poisson(rng, loc.rate * factor * variability)):
                    hour = rng.choices(hours, HOUR_WEIGHTS)[0]
                    t = day * DAY_MS + hour * HOUR_MS + rng.randrange(HOUR_MS // 1000) * 1000
                    user = rng.choice(self.shifts[SHIFT_OF_HOUR[hour]])
                    quantity = rng.randint(*loc.take)
                    work_order = None
                    if loc.needs_work_order or rng.random() < WORK_ORDER_SHARE:
                        work_orders += 1
                        work_order = "WO-%06d" % (100000 + work_orders)
                    out.append(Take(t, user, loc.id, quantity, work_order, in_burst))
        out.sort(key=lambda take: take.t_ms)      # stable: same-time takes keep their draw order
        return out
