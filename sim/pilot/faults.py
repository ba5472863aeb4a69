"""What goes wrong in a pilot, seeded: hung products, jammed spirals and cloud outages.

- Hung products: the lane model's hang_rate (an item hangs on a turn and drops on the next); the firmware's
  retry turn recovers them, so they cost time, not stock. Counted from the lane models.
- Jams: before a vend, with JAM_RATE, the spiral jams (the sim's per-lane `jammed` switch, as --jam-lane
  sets it). The firmware stops the motor and reports it, the agent raises a lane_jammed alert and refuses
  the lane until a supervisor frees the spiral and clears the lane through supervisor.clear_lane, at the
  next supervisor round (SUPERVISOR_ROUNDS).
- Cloud outages: windows with no connection to the cloud; the agent works on (offline-first) and the
  outbox backlog grows until the link is back (runner.py counts what queued and drained)."""
import math
import random

from sim.pilot.demand import DAY_MS, HOUR_MS, weekday

HANG_RATE = 0.01               # per spiral turn
JAM_RATE = 1 / 400             # per vend
OUTAGES_PER_WEEK = 1.5
OUTAGE_MEDIAN_H = 2.0          # log-normal: most are short, a few last most of a shift
OUTAGE_SIGMA = 1.0
OUTAGE_MAX_H = 16.0
# Hours a supervisor walks the floor (and clears jammed lanes): weekdays, and once on weekend days.
SUPERVISOR_ROUNDS = {"weekday": (7, 10, 13, 16, 19), "weekend": (9,)}


class FaultPlan:
    def __init__(self, seed, days, jam_rate=JAM_RATE, outages_per_week=OUTAGES_PER_WEEK):
        self.jam_rate = jam_rate
        self._jams = random.Random("jams-%d" % seed)
        rng = random.Random("outages-%d" % seed)
        self.outages = []                    # [(start ms, end ms)], not overlapping, in order
        t, end = 0, days * DAY_MS
        rate_per_ms = outages_per_week / (7 * DAY_MS)
        while rate_per_ms > 0:
            t += int(rng.expovariate(rate_per_ms))
            if t >= end:
                break
            hours = min(OUTAGE_MAX_H, math.exp(rng.gauss(math.log(OUTAGE_MEDIAN_H), OUTAGE_SIGMA)))
            stop = min(end, t + int(hours * HOUR_MS))
            self.outages.append((t, stop))
            t = stop

    def jams_now(self):
        """Does the spiral jam on this vend? (one draw per vend, in the order vends happen)"""
        return self._jams.random() < self.jam_rate

    def online(self, t_ms):
        return not any(a <= t_ms < b for a, b in self.outages)


def next_supervisor_round(t_ms):
    """The first supervisor round at or after t_ms."""
    day = t_ms // DAY_MS
    while True:
        hours = SUPERVISOR_ROUNDS["weekend" if weekday(day) >= 5 else "weekday"]
        for h in hours:
            at = day * DAY_MS + h * HOUR_MS
            if at >= t_ms:
                return at
        day += 1
