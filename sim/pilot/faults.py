"""What goes wrong in a pilot, seeded: hung products, jammed spirals, cloud outages, stock that goes missing
(a lane physically emptier than the ledger thinks) and MCU resets in the middle of a vend.

- Hung products: the lane model's hang_rate (an item hangs on a turn and drops on the next); the firmware's
  retry turn recovers them, so they cost time, not stock. Counted from the lane models.
- Jams: before a vend, with JAM_RATE, the spiral jams (the sim's per-lane `jammed` switch, as --jam-lane
  sets it). The firmware stops the motor and reports it, the agent raises a lane_jammed alert and refuses
  the lane until a supervisor frees the spiral and clears the lane through supervisor.clear_lane, at the
  next supervisor round (SUPERVISOR_ROUNDS).
- Cloud outages: windows with no connection to the cloud; the agent works on (offline-first) and the
  outbox backlog grows until the link is back (runner.py counts what queued and drained).
- Shrinkage: SHRINKAGE_PER_WEEK times a week a spiral lane physically loses items the ledger still counts
  (taken without a vend, a miscounted load): half the time the whole lane, else 1-3 items. Nothing in the
  cabinet reports it; a vend that finds the lane empty ends as no_drop, a count finds the difference.
- MCU resets mid-vend: with RESET_RATE a vend's microcontroller resets while the motor turns, anywhere from
  the start of the turn to just after the item would fall (RESET_WINDOW_MS). The vend's answer is lost; the
  agent's recovery settles the intent from the firmware (EV_DROP seen: charged) or records it unknown."""
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
SHRINKAGE_PER_WEEK = 1.0
RESET_RATE = 1 / 300           # per vend
RESET_WINDOW_MS = (0, 2600)    # after the motor starts: a turn is ~2 s, then the item falls through the beam


class FaultPlan:
    def __init__(self, seed, days, jam_rate=JAM_RATE, outages_per_week=OUTAGES_PER_WEEK,
                 shrinkage_per_week=SHRINKAGE_PER_WEEK, reset_rate=RESET_RATE, resets=None):
        """resets: {lane take number (1 = the pilot's first lane take that finds stock): ms after the motor
        starts} instead of reset_rate: tests inject a known reset."""
        self.jam_rate = jam_rate
        self.reset_rate = reset_rate
        self._resets_at = None if resets is None else dict(resets)
        self._vends = 0
        self._jams = random.Random("jams-%d" % seed)
        self._resets = random.Random("resets-%d" % seed)
        shrink = random.Random("shrinkage-%d" % seed)
        # [(t ms, pick, n)]: pick (0..1) chooses among the lanes that hold something then; n items go
        # (None: the whole lane).
        self.shrinkage = []
        t, end = 0, days * DAY_MS
        while shrinkage_per_week > 0:
            t += int(shrink.expovariate(shrinkage_per_week / (7 * DAY_MS)))
            if t >= end:
                break
            self.shrinkage.append((t, shrink.random(), None if shrink.random() < 0.5 else shrink.randint(1, 3)))
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

    def reset_now(self):
        """Does the MCU reset during this lane take's vend, and how many ms after its motor starts? (None:
        no reset.) One draw per lane take that finds stock, in the order they happen."""
        self._vends += 1
        draw, delay = self._resets.random(), self._resets.randint(*RESET_WINDOW_MS)
        if self._resets_at is not None:
            return self._resets_at.get(self._vends)
        return delay if draw < self.reset_rate else None

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
