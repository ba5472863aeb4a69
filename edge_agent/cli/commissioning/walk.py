"""One walk of the cabinet, unit by unit, through the Agent's installer jobs (docs/commissioning.md): every
door pulsed, every lane turned, every weigh bin tared and calibrated; a Check for each."""
import threading
import time

from edge_agent.cli.commissioning.checks import FAILED, PARTS, PASSED, Check, CommissioningError, grams
from edge_agent.flows.weighing import NotStable
from edge_agent.link.codes import BinFailure, DoorState, Event, Jam, LaneState
from edge_agent.link.errors import LinkError
from edge_agent.rules.access import Person
from edge_agent.rules.refusal import Refusal

READY_TIMEOUT_S = 30.0      # start-up recovery: HELLO and settling what an earlier run left pending
POLL_S = 0.1
SETTLE_S = 3.0              # a door's reed switch debounced after the installer closed it
UNIT_KIND = {"doors": "door", "lanes": "lane", "bins": "bin"}
INSTALLER_ROLE = "supplier_admin"       # one of roles.INSTALLERS: the Agent's installer jobs need one


class DoorWatch:
    """The doors' open/close events, from the link's reader thread: which doors opened since a mark."""

    def __init__(self):
        self._cond = threading.Condition()
        self._opened = []            # door numbers, in the order they opened

    def on_event(self, event):
        if event.type == Event.DOOR_OPENED and event.fields:
            with self._cond:
                self._opened.append(event.fields["door"])
                self._cond.notify_all()

    def mark(self):
        with self._cond:
            return len(self._opened)

    def opened_since(self, mark):
        with self._cond:
            return list(dict.fromkeys(self._opened[mark:]))


def wait_until(predicate, timeout_s):
    """Poll predicate every POLL_S until it is true (True) or timeout_s passes (False)."""
    end = time.monotonic() + timeout_s
    while True:
        if predicate():
            return True
        if time.monotonic() >= end:
            return False
        threading.Event().wait(POLL_S)


def _listing(numbers, unit="door"):
    return " and ".join("%s %d" % (unit, n) for n in numbers)


def _detail(result):
    """The firmware's detail for the command an IssueResult ended with (ms to open, turns, why), or None."""
    return result.details[-1] if result.details else None


class Commissioning:
    """One walk of the cabinet through a started Agent: each step is one of its public jobs, run on its
    worker (Agent.call), as the installer logged in (log_in)."""

    def __init__(self, agent, watch, console, *, installer, weight_mg, tolerance_mg, door_close_s):
        self.agent = agent
        self.watch = watch
        self.console = console
        self.installer = installer
        self.user_id = "installer:%s" % installer
        self.weight_mg = weight_mg
        self.tolerance_mg = tolerance_mg
        self.door_close_s = door_close_s
        self.checks = []

    def _call(self, job, *args, **kwargs):
        return self.agent.call(job, *args, **kwargs)

    def log_in(self):
        """The installer's session on the agent: its installer jobs (self-tests, tare, calibrate) need one."""
        person = Person(self.user_id, self.installer, INSTALLER_ROLE, None, None, None)
        self._call(self.agent.begin_session, person, "commissioning")

    def run(self, parts):
        hello = self.agent.hello
        counts = {"doors": hello.doors, "lanes": hello.lanes, "bins": hello.bins}
        layout = self._call(self.agent.layout)          # {(kind, unit): location id}
        for part in PARTS:
            if part not in parts:
                continue
            kind = UNIT_KIND[part]
            if counts[part] == 0:
                self.console.say("%s: the firmware has none" % part)
            for n in range(1, counts[part] + 1):
                location = layout.get((kind, n))
                if location is None:
                    self._record(Check(kind, n, None, FAILED, "%s %d is in the cabinet's firmware config but not in "
                                       "the layout: import a locations.csv row of kind %s, unit %d, then run "
                                       "this again" % (kind, n, kind, n)))
                    continue
                self._ready()
                self._record(getattr(self, "_" + kind)(n, location))
            for (k, n), location in sorted(layout.items(), key=lambda item: item[1]):
                if k == kind and n > counts[part]:
                    self._record(Check(kind, n, location, FAILED, "%s names %s %d but the firmware has %d %s: "
                                       "fix the layout or the cabinet config" % (location, kind, n, counts[part], part)))
        return self.checks

    def _ready(self):
        """An outcome that could not be known closes the agent until recovery settles it (it retries every
        second): wait for that rather than fail every unit after it."""
        if not wait_until(lambda: self.agent.ready, READY_TIMEOUT_S):
            raise CommissioningError("the cabinet stopped answering: an outcome is unknown and cannot be settled; "
                                     "check the serial link and run this again")

    def _record(self, check):
        self.checks.append(check)
        label = "%s %d" % (check.unit, check.number)
        text = check.message if check.message.startswith(label) else "%s: %s" % (label, check.message)
        self.console.say("  %s %-6s %s" % ("ok  " if check.status == PASSED else "FAIL", check.location or "-", text))

    def _status(self):
        return self._call(self.agent.cabinet_status)

    @staticmethod
    def _not_done(result):
        """What to say of an actuation that stopped part way, or whose outcome is unknown or unexpected."""
        if result.refused is not None:
            return result.refused.words
        if result.unknown:
            return ("the cabinet's answer was lost (outcome unknown; the agent settles it at its next start): "
                    "check the serial link and run this again")
        return "the cabinet answered %s" % (", ".join(result.outcomes) or "nothing")

    # -- doors ----------------------------------------------------------------------------------------------------
    def _door_closed(self, n):
        return self._status().doors[n - 1] == DoorState.CLOSED

    def _door(self, n, location):
        if not self._door_closed(n):
            self.console.ask("Door %d reads open. Close it and press Enter." % n)
            if not wait_until(lambda: self._door_closed(n), SETTLE_S):
                return Check("door", n, location, FAILED, "door %d: reads open while it should be shut: check its "
                             "reed switch (stuck, misaligned, or its sensor input wired to another door's)" % n)
        self.console.ask("Door %d: its latch is pulsed next and the door should spring open; stand clear and "
                         "press Enter." % n)
        mark = self.watch.mark()
        try:
            result = self._call(self.agent.test_door, location)
        except Refusal as refused:
            return Check("door", n, location, FAILED, "door %d: %s" % (n, refused.words))
        detail = _detail(result)
        others = [d for d in self.watch.opened_since(mark) if d != n]
        opened = result.outcomes == ["opened"]
        if result.refused is not None or result.unknown:
            return Check("door", n, location, FAILED, self._not_done(result))
        to_close = ([n] if opened else []) + others
        if to_close:
            self.console.ask("%s open: close %s and press Enter." % (_listing(to_close).capitalize(),
                                                                     "it" if len(to_close) == 1 else "them"))
        closed = wait_until(lambda: all(self._door_closed(d) for d in to_close), self.door_close_s)
        if others and opened:
            return Check("door", n, location, FAILED, "door %d: the latch pulse opened %s too: door %d's latch output "
                         "also drives the solenoid of %s; check the solenoid wiring" % (n, _listing(others), n,
                                                                                         _listing(others)))
        if others:
            return Check("door", n, location, FAILED, "door %d: the latch pulse opened %s instead, and door %d stayed "
                         "shut: door %d's latch output drives the solenoid of %s; check the solenoid wiring of %s"
                         % (n, _listing(others), n, n, _listing(others), _listing([n] + others)))
        if not opened:
            return Check("door", n, location, FAILED, "door %d: latch pulsed but the door sensor never changed; check "
                         "door %d's solenoid wiring (does the latch click?) and its reed switch (magnet lined up, "
                         "sensor wire on door %d's input); a latch that clicks on a door that stays shut is stuck "
                         "or binding" % (n, n, n))
        if not closed:
            return Check("door", n, location, FAILED, "door %d: opened, but its sensor never read closed again within "
                         "%g s: check the reed switch and its magnet" % (n, self.door_close_s))
        return Check("door", n, location, PASSED, "latch opened the door%s; its sensor read open, then closed"
                     % (" in %d ms" % detail if detail else ""))

    # -- lanes ----------------------------------------------------------------------------------------------------
    def _lane(self, n, location):
        disabled = self._status().lanes[n - 1] == LaneState.DISABLED
        jam_alert = self._call(self.agent.lane_jammed, location)
        self.console.ask("Lane %d: it turns once next (on a stocked lane an item drops into the chute); press Enter."
                         % n)
        note = ""
        if disabled or jam_alert:
            # A re-run after the installer freed a jam: the test turn is the proof it is free.
            try:
                result = self._call(self.agent.reenable_lane, location)
            except Refusal as refused:
                return Check("lane", n, location, FAILED, refused.words)
            if result.outcomes != ["cleared"]:
                return Check("lane", n, location, FAILED, self._not_done(result))
            note = " (it was disabled by an earlier jam: re-enabled for this test)"
        try:
            result = self._call(self.agent.test_lane, location)
        except Refusal as refused:
            return Check("lane", n, location, FAILED, "lane %d: %s" % (n, refused.words))
        detail = _detail(result)
        outcome = result.outcomes[-1] if result.outcomes else None
        if outcome == "no_drop":
            return Check("lane", n, location, PASSED, "turned home to home (%s turns), nothing dropped: the lane is "
                         "empty%s" % (detail if detail is not None else "?", note))
        if outcome == "vended":
            return Check("lane", n, location, PASSED, "turned home to home and an item dropped through the beam: take "
                         "it from the chute (recorded as taken by %s)%s" % (self.user_id, note))
        if outcome == "jammed":
            where = ("the motor was driven but the spiral never left home: the spiral is jammed, the lane's motor "
                     "is not connected (its row and column outputs), or its home switch is stuck closed"
                     if detail == Jam.NEVER_LEFT_HOME else
                     "the spiral left home but never came back in time: it is jammed mid-turn, or the home switch "
                     "or the home-sense wire is open")
            return Check("lane", n, location, FAILED, "lane %d: jammed, %s. The lane is disabled until it is cleared: "
                         "free it and run `commission --only lanes` again" % (n, where))
        return Check("lane", n, location, FAILED, self._not_done(result))

    # -- weigh bins -----------------------------------------------------------------------------------------------
    def _read(self, location):
        """(reading dict, None) or (None, why not)."""
        try:
            return self._call(self.agent.read_bin, location), None
        except NotStable:
            return None, "no stable reading: check the load cell and HX711 wiring (DOUT, SCK) and that nothing touches the bin"
        except LinkError as e:
            return None, "the cabinet did not answer (%s)" % e
        except Refusal as refused:
            return None, refused.words

    def _calibration_failed(self, n, detail, otherwise):
        why = {BinFailure.NO_CHANGE: "the reference weight made no measurable change: is it on bin %d? Is the load "
                                     "cell's signal wired to bin %d's HX711?" % (n, n),
               BinFailure.UNSTABLE: "the reading never settled: keep hands off and check the load cell mounting"}
        return "calibration failed: " + why.get(detail, otherwise)

    def _bin(self, n, location):
        fail = lambda message, **kw: Check("bin", n, location, FAILED, "bin %d: %s" % (n, message), **kw)  # noqa: E731
        weight = grams(self.weight_mg)
        self.console.ask("Bin %d: take everything out of it (leave the empty container on) and press Enter." % n)
        _, why = self._read(location)
        if why:
            return fail(why)
        try:
            tared = self._call(self.agent.tare_bin, location)
        except Refusal as refused:
            return fail("tare failed: " + refused.words)
        if not tared.ok:
            return fail("tare failed: " + self._not_done(tared))
        self.console.ask("Place the %s reference weight on bin %d and press Enter." % (weight, n))
        try:
            result = self._call(self.agent.calibrate_bin, location, self.weight_mg)
        except Refusal as refused:
            # A calibration the firmware answered FAILED: its detail says why, when the refusal carries it.
            return fail(self._calibration_failed(n, refused.details.get("detail"), refused.words))
        if not result.ok:
            return fail(self._calibration_failed(n, _detail(result), self._not_done(result)))
        counts = _detail(result) if result.outcomes == ["done"] else None
        on, why = self._read(location)
        if why:
            return fail("after calibration: " + why, counts_per_g=counts)
        if abs(on["weight_mg"] - self.weight_mg) > self.tolerance_mg:
            return fail("reads %s with the %s weight on (tolerance %s): calibrate again, the weight must lie still"
                        % (grams(on["weight_mg"]), weight, grams(self.tolerance_mg)), counts_per_g=counts,
                        reading_mg=on["weight_mg"])
        self.console.ask("Take the reference weight off bin %d and press Enter." % n)
        off, why = self._read(location)
        if why:
            return fail("with the weight off: " + why, counts_per_g=counts, reading_mg=on["weight_mg"])
        if abs(off["weight_mg"]) > self.tolerance_mg:
            return fail("reads %s empty after calibration (tolerance %s): was the bin empty at the tare? Run this again"
                        % (grams(off["weight_mg"]), grams(self.tolerance_mg)), counts_per_g=counts,
                        reading_mg=on["weight_mg"])
        return Check("bin", n, location, PASSED, "tared and calibrated (%s counts/g); reads %s with the %s weight "
                     "and %s empty" % (counts, grams(on["weight_mg"]), weight, grams(off["weight_mg"])),
                     counts_per_g=counts, reading_mg=on["weight_mg"])
