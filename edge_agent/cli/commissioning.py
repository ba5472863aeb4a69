"""`locker-agent commission --config FILE`: walk a new cabinet with the installer, unit by unit, and keep a
report of what passed and what failed and why (docs/commissioning.md).

- Every door: its latch is pulsed (Agent.test_door, the installer's UNLOCK) and its own reed switch must report it open,
  then closed again. Another door opening instead is a miswire and says which; no change at all names the
  solenoid wiring and the reed switch.
- Every lane: one turn, home switch to home switch (Agent.test_lane, a VEND). The firmware's HOME_CHECK only proves the
  switch reads home while the motor is selected: a stalled motor resting at home passes it, so only a turn
  finds a jam (docs/decisions/0013-commissioning.md). On an empty lane nothing is given; on a stocked one the
  item drops and is charged to the installer, as it really left the lane.
- Every weigh bin: a stable reading, tare (empty), calibrate with the reference weight, verify that it then
  reads the weight within the tolerance, and zero again with the weight off. Through the agent's own
  installer flows (Agent.read_bin, tare_bin, calibrate_bin), as the touchscreen's calibration wizard does.

It runs the agent's worker in-process (the agent service must be stopped: the port is opened exclusively),
so start-up recovery settles whatever an earlier run left pending before anything moves, and every
actuation is an intent and an outcome in the ledger like any other. The report goes to the ledger's
`commissioning_reports` (a trigger puts it in the cloud outbox), and to a JSON file and a readable
Markdown file beside it.
"""
import dataclasses
import datetime
import json
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from edge_agent.cli.arg_types import positive_number
from edge_agent.link.errors import LinkError
from firmware import messages as M

PASSED, FAILED = "passed", "failed"
PARTS = ("doors", "lanes", "bins")
READY_TIMEOUT_S = 30.0      # start-up recovery: HELLO and settling what an earlier run left pending
POLL_S = 0.1
SETTLE_S = 3.0              # a door's reed switch debounced after the installer closed it
EXIT_FAILED = 1
EXIT_USAGE = 2
UNIT_KIND = {"doors": "door", "lanes": "lane", "bins": "bin"}


class CommissioningError(Exception):
    """Commissioning cannot start or go on (no cabinet, port busy, no answer from the installer)."""


@dataclass
class Check:
    unit: str                         # door, lane or bin
    number: int                       # the firmware's unit number
    location: Optional[str]           # the layout's location id (None: not in the layout)
    status: str                       # passed or failed
    message: str                      # what was seen, and for a failure what to check
    counts_per_g: Optional[int] = None    # a bin's calibration factor, as the firmware computed it
    reading_mg: Optional[int] = None      # a bin's reading with the reference weight on


# -- the installer at the cabinet ----------------------------------------------------------------------------
class Console:
    """Prompts and progress for the installer. Every prompt ends in "press Enter." and waits for a line on
    stdin (a script may answer through a pipe); assume_yes: print each prompt and go on without waiting."""

    def __init__(self, out=None, inp=None, assume_yes=False):
        self.out = out or sys.stdout
        self.inp = inp or sys.stdin
        self.assume_yes = assume_yes

    def say(self, text):
        self.out.write(text + "\n")
        self.out.flush()

    def ask(self, text):
        if self.assume_yes:
            self.say(text + " [--yes: going on]")
            return
        self.out.write(text + " ")
        self.out.flush()
        if self.inp.readline() == "":
            raise CommissioningError("no answer from the installer (stdin closed); use --yes to run without prompts")


class DoorWatch:
    """The doors' open/close events, from the link's reader thread: which doors opened since a mark."""

    def __init__(self):
        self._cond = threading.Condition()
        self._opened = []            # door numbers, in the order they opened

    def on_event(self, event):
        if event.type == M.EV_DOOR_OPENED and event.fields:
            with self._cond:
                self._opened.append(event.fields["door"])
                self._cond.notify_all()

    def mark(self):
        with self._cond:
            return len(self._opened)

    def opened_since(self, mark):
        with self._cond:
            return list(dict.fromkeys(self._opened[mark:]))


def _wait_until(predicate, timeout_s):
    """Poll predicate every POLL_S until it is true (True) or timeout_s passes (False)."""
    end = time.monotonic() + timeout_s
    while True:
        if predicate():
            return True
        if time.monotonic() >= end:
            return False
        threading.Event().wait(POLL_S)


def _g(mg):
    return "%.1f g" % (mg / 1000)


def _listing(numbers, unit="door"):
    return " and ".join("%s %d" % (unit, n) for n in numbers)


# -- the walk ------------------------------------------------------------------------------------------------
class Commissioning:
    """One walk of the cabinet through a started Agent (every ledger and cabinet call runs on its worker)."""

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

    def _call(self, fn, *args, **kwargs):
        return self.agent.call(fn, *args, **kwargs)

    def log_in(self):
        """The installer's session on the agent: the installer flows (tare, calibrate) need one."""
        from edge_agent.rules.access import Person
        from edge_agent.app.agent import Session
        person = Person(self.user_id, self.installer, "supplier_admin", None, None, None)

        def begin():
            self.agent.session = Session(person, "commissioning", self.agent.clock())
        self._call(begin)

    def run(self, parts):
        hello = self.agent.hello
        counts = {"doors": hello.doors, "lanes": hello.lanes, "bins": hello.bins}
        layout = self._call(lambda: {(r["kind"], r["unit"]): dict(r) for r in self.agent.ledger.db.query(
            "SELECT id, kind, unit FROM locations WHERE kind IN ('door', 'lane', 'bin') ORDER BY id")})
        for part in PARTS:
            if part not in parts:
                continue
            kind = UNIT_KIND[part]
            if counts[part] == 0:
                self.console.say("%s: the firmware has none" % part)
            for n in range(1, counts[part] + 1):
                loc = layout.get((kind, n))
                if loc is None:
                    self._record(Check(kind, n, None, FAILED, "%s %d is in the cabinet's firmware config but not in "
                                       "the layout: import a locations.csv row of kind %s, unit %d, then run "
                                       "this again" % (kind, n, kind, n)))
                    continue
                self._ready()
                self._record(getattr(self, "_" + kind)(n, loc))
            for (k, n), loc in sorted(layout.items(), key=lambda item: item[1]["id"]):
                if k == kind and n > counts[part]:
                    self._record(Check(kind, n, loc["id"], FAILED, "%s names %s %d but the firmware has %d %s: "
                                       "fix the layout or the cabinet config" % (loc["id"], kind, n, counts[part], part)))
        return self.checks

    def _ready(self):
        """An outcome that could not be known closes the agent until recovery settles it (it retries every
        second): wait for that rather than fail every unit after it."""
        if not _wait_until(lambda: self.agent.ready, READY_TIMEOUT_S):
            raise CommissioningError("the cabinet stopped answering: an outcome is unknown and cannot be settled; "
                                     "check the serial link and run this again")

    def _record(self, check):
        self.checks.append(check)
        label = "%s %d" % (check.unit, check.number)
        text = check.message if check.message.startswith(label) else "%s: %s" % (label, check.message)
        self.console.say("  %s %-6s %s" % ("ok  " if check.status == PASSED else "FAIL", check.location or "-", text))

    # -- actuations: intent, command, outcome, through the agent's flows ----------------------------------------
    def _actuate(self, loc, quantity, reason, action):
        """An actuation with no Agent flow for an installer (clearing a jammed lane is a supervisor's): through
        Vending as every flow. (IssueResult, the firmware's detail for the command or None)."""
        from edge_agent.flows.vending import IssueResult

        def job():
            cmd_id = self.agent.ledger.cabinet()["next_seq"]        # the intent's seq is its command id
            result = IssueResult(loc["id"], quantity or 0)
            self.agent.vending._actuate(loc, quantity, result, dict(user_id=self.user_id, reason=reason),
                                        action=action)
            return result, cmd_id
        result, cmd_id = self._call(job)
        return result, self._detail(cmd_id) if result.outcomes else None

    def _self_test(self, test, loc):
        """Agent.test_door / test_lane (the installer's pulse or turn, an intent and outcome like any actuation)
        on the worker: (its result, the firmware's detail for the command or None)."""
        def job():
            cmd_id = self.agent.ledger.cabinet()["next_seq"]        # the intent's seq is its command id
            return test(loc["id"]), cmd_id
        result, cmd_id = self._call(job)
        return result, self._detail(cmd_id) if getattr(result, "outcomes", None) else None

    def _detail(self, cmd_id):
        try:
            return self._call(self.agent.cabinet.query, cmd_id).detail
        except LinkError:
            return None

    def _status(self):
        return self._call(self.agent.cabinet.status)

    @staticmethod
    def _not_done(result):
        """What to say of an actuation that was refused, or whose outcome is unknown or unexpected."""
        if result.refused is not None:
            return result.refused.message
        if result.unknown:
            return ("the cabinet's answer was lost (outcome unknown; the agent settles it at its next start): "
                    "check the serial link and run this again")
        return "the cabinet answered %s" % (", ".join(result.outcomes) or "nothing")

    # -- doors ----------------------------------------------------------------------------------------------------
    def _door_closed(self, n):
        return self._status().doors[n - 1] == M.DOOR_CLOSED

    def _door(self, n, loc):
        if not self._door_closed(n):
            self.console.ask("Door %d reads open. Close it and press Enter." % n)
            if not _wait_until(lambda: self._door_closed(n), SETTLE_S):
                return Check("door", n, loc["id"], FAILED, "door %d: reads open while it should be shut: check its "
                             "reed switch (stuck, misaligned, or its sensor input wired to another door's)" % n)
        self.console.ask("Door %d: its latch is pulsed next and the door should spring open; stand clear and "
                         "press Enter." % n)
        mark = self.watch.mark()
        result, detail = self._self_test(self.agent.test_door, loc)
        if not hasattr(result, "outcomes"):           # the agent refused (a Decision)
            return Check("door", n, loc["id"], FAILED, "door %d: %s" % (n, result.message))
        others = [d for d in self.watch.opened_since(mark) if d != n]
        opened = result.outcomes == ["opened"]
        if result.refused is not None or result.unknown:
            return Check("door", n, loc["id"], FAILED, self._not_done(result))
        to_close = ([n] if opened else []) + others
        if to_close:
            self.console.ask("%s open: close %s and press Enter." % (_listing(to_close).capitalize(),
                                                                     "it" if len(to_close) == 1 else "them"))
        closed = _wait_until(lambda: all(self._door_closed(d) for d in to_close), self.door_close_s)
        if others and opened:
            return Check("door", n, loc["id"], FAILED, "door %d: the latch pulse opened %s too: door %d's latch output "
                         "also drives the solenoid of %s; check the solenoid wiring" % (n, _listing(others), n,
                                                                                         _listing(others)))
        if others:
            return Check("door", n, loc["id"], FAILED, "door %d: the latch pulse opened %s instead, and door %d stayed "
                         "shut: door %d's latch output drives the solenoid of %s; check the solenoid wiring of %s"
                         % (n, _listing(others), n, n, _listing(others), _listing([n] + others)))
        if not opened:
            return Check("door", n, loc["id"], FAILED, "door %d: latch pulsed but the door sensor never changed; check "
                         "door %d's solenoid wiring (does the latch click?) and its reed switch (magnet lined up, "
                         "sensor wire on door %d's input); a latch that clicks on a door that stays shut is stuck "
                         "or binding" % (n, n, n))
        if not closed:
            return Check("door", n, loc["id"], FAILED, "door %d: opened, but its sensor never read closed again within "
                         "%g s: check the reed switch and its magnet" % (n, self.door_close_s))
        return Check("door", n, loc["id"], PASSED, "latch opened the door%s; its sensor read open, then closed"
                     % (" in %d ms" % detail if detail else ""))

    # -- lanes ----------------------------------------------------------------------------------------------------
    def _lane(self, n, loc):
        disabled = self._status().lanes[n - 1] == M.LANE_DISABLED
        jam_alert = self._call(lambda: self.agent.ledger.db.execute(
            "SELECT 1 FROM alerts WHERE location = ? AND kind = 'lane_jammed' AND cleared_wall IS NULL",
            [loc["id"]]).fetchone() is not None)
        self.console.ask("Lane %d: it turns once next (on a stocked lane an item drops into the chute); press Enter."
                         % n)
        note = ""
        if disabled or jam_alert:
            # A re-run after the installer freed a jam: the test turn is the proof it is free.
            result, _ = self._actuate(loc, None, "commissioning: re-enable lane %d for its test turn" % n,
                                      action="clear_lane")
            if result.outcomes != ["cleared"]:
                return Check("lane", n, loc["id"], FAILED, self._not_done(result))
            note = " (it was disabled by an earlier jam: re-enabled for this test)"
        result, detail = self._self_test(self.agent.test_lane, loc)
        if not hasattr(result, "outcomes"):
            return Check("lane", n, loc["id"], FAILED, "lane %d: %s" % (n, result.message))
        outcome = result.outcomes[-1] if result.outcomes else None
        if outcome == "no_drop":
            return Check("lane", n, loc["id"], PASSED, "turned home to home (%s turns), nothing dropped: the lane is "
                         "empty%s" % (detail if detail is not None else "?", note))
        if outcome == "vended":
            return Check("lane", n, loc["id"], PASSED, "turned home to home and an item dropped through the beam: take "
                         "it from the chute (recorded as taken by %s)%s" % (self.user_id, note))
        if outcome == "jammed":
            where = ("the motor was driven but the spiral never left home: the spiral is jammed, the lane's motor "
                     "is not connected (its row and column outputs), or its home switch is stuck closed"
                     if detail == M.JAM_NEVER_LEFT_HOME else
                     "the spiral left home but never came back in time: it is jammed mid-turn, or the home switch "
                     "or the home-sense wire is open")
            return Check("lane", n, loc["id"], FAILED, "lane %d: jammed, %s. The lane is disabled until it is cleared: "
                         "free it and run `commission --only lanes` again" % (n, where))
        return Check("lane", n, loc["id"], FAILED, self._not_done(result))

    # -- weigh bins -----------------------------------------------------------------------------------------------
    def _read(self, loc):
        """(reading dict, None) or (None, why not)."""
        from edge_agent.flows.weighing import NotStable
        try:
            reading = self._call(self.agent.read_bin, loc["id"])
        except NotStable:
            return None, "no stable reading: check the load cell and HX711 wiring (DOUT, SCK) and that nothing touches the bin"
        except LinkError as e:
            return None, "the cabinet did not answer (%s)" % e
        if not isinstance(reading, dict):
            return None, reading.message
        return reading, None

    def _bin(self, n, loc):
        fail = lambda message, **kw: Check("bin", n, loc["id"], FAILED, "bin %d: %s" % (n, message), **kw)  # noqa: E731
        weight = _g(self.weight_mg)
        self.console.ask("Bin %d: take everything out of it (leave the empty container on) and press Enter." % n)
        _, why = self._read(loc)
        if why:
            return fail(why)
        tared = self._call(self.agent.tare_bin, loc["id"])
        if not tared.ok:
            return fail("tare failed: " + self._not_done(tared))
        self.console.ask("Place the %s reference weight on bin %d and press Enter." % (weight, n))
        result, cmd_id = self._call(self._calibrate, loc)
        counts = self._detail(cmd_id) if result.outcomes == ["done"] else None
        if not result.ok:
            detail = self._detail(cmd_id) if result.outcomes else None
            why = {M.FAIL_NO_CHANGE: "the reference weight made no measurable change: is it on bin %d? Is the load "
                                     "cell's signal wired to bin %d's HX711?" % (n, n),
                   M.FAIL_UNSTABLE: "the reading never settled: keep hands off and check the load cell mounting"}
            return fail("calibration failed: " + why.get(detail, self._not_done(result)))
        on, why = self._read(loc)
        if why:
            return fail("after calibration: " + why, counts_per_g=counts)
        if abs(on["weight_mg"] - self.weight_mg) > self.tolerance_mg:
            return fail("reads %s with the %s weight on (tolerance %s): calibrate again, the weight must lie still"
                        % (_g(on["weight_mg"]), weight, _g(self.tolerance_mg)), counts_per_g=counts,
                        reading_mg=on["weight_mg"])
        self.console.ask("Take the reference weight off bin %d and press Enter." % n)
        off, why = self._read(loc)
        if why:
            return fail("with the weight off: " + why, counts_per_g=counts, reading_mg=on["weight_mg"])
        if abs(off["weight_mg"]) > self.tolerance_mg:
            return fail("reads %s empty after calibration (tolerance %s): was the bin empty at the tare? Run this again"
                        % (_g(off["weight_mg"]), _g(self.tolerance_mg)), counts_per_g=counts, reading_mg=on["weight_mg"])
        return Check("bin", n, loc["id"], PASSED, "tared and calibrated (%s counts/g); reads %s with the %s weight "
                     "and %s empty" % (counts, _g(on["weight_mg"]), weight, _g(off["weight_mg"])),
                     counts_per_g=counts, reading_mg=on["weight_mg"])

    def _calibrate(self, loc):
        """On the worker: Agent.calibrate_bin and the command id it used (for the firmware's counts per gram)."""
        cmd_id = self.agent.ledger.cabinet()["next_seq"]
        return self.agent.calibrate_bin(loc["id"], self.weight_mg), cmd_id


# -- the report ------------------------------------------------------------------------------------------------
def build_report(cabinet_id, hello, installer, parts, weight_mg, tolerance_mg, started, finished, checks):
    return {
        "cabinet": cabinet_id, "started": started, "finished": finished,
        "firmware": hello.firmware if hello else None, "firmware_boot": hello.boot_id if hello else None,
        "installer": installer, "parts": list(parts),
        "reference_weight_mg": weight_mg, "tolerance_mg": tolerance_mg,
        "passed": bool(checks) and all(c.status == PASSED for c in checks),
        "checks": [dataclasses.asdict(c) for c in checks],
    }


def record_report(ledger, report):
    """The report in the ledger; the schema_v4 trigger puts its event in the cloud outbox. Returns its id."""
    wall, synced = ledger.clock.wall()
    with ledger.transaction():
        return ledger.db.execute(
            "INSERT INTO commissioning_reports (wall, clock_synced, cabinet_id, installer, firmware, passed, report) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", [wall, int(bool(synced)), report["cabinet"], report["installer"],
                                             report["firmware"], int(report["passed"]),
                                             json.dumps(report, sort_keys=True)]).lastrowid


def markdown(report):
    failed = [c for c in report["checks"] if c["status"] != PASSED]
    lines = ["# Commissioning report: cabinet %s" % report["cabinet"], "",
             "- result: **%s**%s" % ("PASSED" if report["passed"] else "FAILED",
                                     " (%d of %d checks failed)" % (len(failed), len(report["checks"])) if failed else
                                     " (%d checks)" % len(report["checks"])),
             "- started %s, finished %s" % (report["started"], report["finished"]),
             "- firmware %s (boot %s); installer %s; checked: %s" % (report["firmware"], report["firmware_boot"],
                                                                   report["installer"], ", ".join(report["parts"])),
             "- reference weight %s, tolerance %s" % (_g(report["reference_weight_mg"]), _g(report["tolerance_mg"])),
             "", "| unit | location | result | counts/g | what was seen |", "|---|---|---|---|---|"]
    for c in report["checks"]:
        lines.append("| %s %d | %s | %s | %s | %s |" % (c["unit"], c["number"], c["location"] or "-", c["status"],
                                                      "" if c["counts_per_g"] is None else c["counts_per_g"],
                                                      c["message"].replace("|", "/")))
    return "\n".join(lines) + "\n"


def write_files(report, path):
    """The JSON report at path and the Markdown beside it (same name, .md). Returns both paths."""
    path = Path(path)
    if path.suffix == ".md":
        path = path.with_suffix(".json")
    path.parent.mkdir(parents=True, exist_ok=True)
    md = path.with_suffix(".md")
    path.write_text(json.dumps(report, indent=2) + "\n")
    md.write_text(markdown(report))
    return path, md


def default_report_path(config, started):
    stamp = datetime.datetime.fromisoformat(started).astimezone(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return Path(config.ledger).parent / "commissioning" / ("%s-%s.json" % (config.cabinet_id, stamp))


# -- the command ------------------------------------------------------------------------------------------------
def add_arguments(p):
    p.add_argument("--config", required=True, metavar="FILE", help="the agent's config file (docs/agent-config.md)")
    p.add_argument("--only", choices=PARTS, action="append", metavar="PART",
                   help="check only doors, lanes or bins (repeatable; default: all three)")
    p.add_argument("--yes", action="store_true",
                   help="no prompts: print each step and go on (for scripts; bins then need their weights "
                        "handled by whatever drives the script)")
    p.add_argument("--weight-g", type=positive_number, default=500.0, metavar="G",
                   help="the reference weight for the bins, in grams (default 500)")
    p.add_argument("--tolerance-g", type=positive_number, default=None, metavar="G",
                   help="how far a calibrated bin may read from the weight (default: 0.5%% of it, at least 1 g)")
    p.add_argument("--door-close-s", type=positive_number, default=60.0, metavar="S",
                   help="how long an opened door may take to read closed again (default 60)")
    p.add_argument("--installer", default=os.environ.get("SUDO_USER") or os.environ.get("USER") or "installer",
                   metavar="NAME", help="who commissions (default: the login name); actuations are recorded as "
                                        "user installer:NAME")
    p.add_argument("--report", metavar="FILE", help="where to write the JSON report (a .md beside it); default: "
                                                    "commissioning/CABINET-TIME.json next to the ledger")
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout (progress goes to stderr)")


def open_link(config, on_event):
    """The cabinet link, opened exclusively: a running agent holds the port, and two hosts on one line would
    each take the other's answers."""
    import serial

    from edge_agent.link.serial import CabinetLink
    try:
        return CabinetLink(config.cabinet_port, config.baud, on_event=on_event, exclusive=True)
    except serial.SerialException as e:
        if "exclusively lock" in str(e):
            raise CommissioningError("the cabinet port %s is busy: the agent (or another program) has it open. Stop "
                                     "the agent first (sudo systemctl stop locker-agent) and run this again"
                                     % config.cabinet_port) from None
        raise CommissioningError("cannot open the cabinet port %s: %s" % (config.cabinet_port, e)) from None
    except OSError as e:
        raise CommissioningError("cannot open the cabinet port %s: %s" % (config.cabinet_port, e)) from None


def start_agent(config, link, clock=None):
    """The agent's worker on this link, once start-up recovery has run (nothing moves before)."""
    from edge_agent.app.agent import Agent
    from edge_agent.ledger import SystemClock, open_ledger
    clock = clock or SystemClock(config.timesync_flag)
    # The installer may take minutes over a bin: their session must not time out under them.
    agent = Agent(lambda: open_ledger(config.ledger, clock, cabinet_id=config.cabinet_id), link,
                  dataclasses.replace(config, session_idle_s=10 ** 9))
    try:
        link.hello()                # first, so a silent port is said at once rather than after READY_TIMEOUT_S
    except LinkError as e:
        raise CommissioningError("the cabinet does not answer on %s (%s): is it powered and flashed, is this its "
                                 "port?" % (config.cabinet_port, e)) from None
    agent.start()
    if not _wait_until(lambda: agent.ready, READY_TIMEOUT_S):
        agent.stop()
        raise CommissioningError("commands an earlier run left pending cannot be settled with the cabinet: start "
                                 "the agent once (it keeps trying) and look at its log")
    return agent


def commission(config, console, parts=PARTS, *, installer="installer", weight_mg=500000, tolerance_mg=None,
               door_close_s=60.0, report_path=None, clock=None):
    """Walk the cabinet; returns (report, json path, markdown path). Raises CommissioningError."""
    tolerance_mg = tolerance_mg or max(1000, weight_mg // 200)
    watch = DoorWatch()
    link = open_link(config, watch.on_event)
    try:
        agent = start_agent(config, link, clock)
        try:
            hello = agent.hello
            started = agent.call(lambda: agent.ledger.clock.wall()[0])
            console.say("cabinet %s on %s: firmware %s, %d doors, %d lanes, %d bins" % (
                config.cabinet_id, config.cabinet_port, hello.firmware, hello.doors, hello.lanes, hello.bins))
            walk = Commissioning(agent, watch, console, installer=installer, weight_mg=weight_mg,
                                 tolerance_mg=tolerance_mg, door_close_s=door_close_s)
            walk.log_in()
            checks = walk.run(parts)
            finished = agent.call(lambda: agent.ledger.clock.wall()[0])
            report = build_report(config.cabinet_id, hello, installer, [p for p in PARTS if p in parts], weight_mg,
                                  tolerance_mg, started, finished, checks)
            report["report_id"] = agent.call(record_report, agent.ledger, report)
        finally:
            agent.call(agent.logout)
            agent.stop()
    finally:
        link.close()
    paths = write_files(report, report_path or default_report_path(config, report["started"]))
    return report, paths[0], paths[1]


def main(args):
    """`locker-agent commission`: exit 0 all passed, 1 something failed (the report is written), 2 could not run."""
    from edge_agent.app.config import AgentConfigError, load_agent_config
    from edge_agent.ledger import LedgerError
    try:
        config = load_agent_config(args.config)
    except AgentConfigError as e:
        return _error(str(e))
    console = Console(out=sys.stderr if args.json else sys.stdout, assume_yes=args.yes)
    # The agent's own warnings (a bin not calibrated yet at start-up) are expected here: errors only.
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr, format="locker-agent: %(message)s")
    try:
        report, json_path, md_path = commission(
            config, console, tuple(args.only or PARTS), installer=args.installer,
            weight_mg=int(round(args.weight_g * 1000)),
            tolerance_mg=None if args.tolerance_g is None else int(round(args.tolerance_g * 1000)),
            door_close_s=args.door_close_s, report_path=args.report)
    except (CommissioningError, LedgerError, OSError) as e:
        return _error(str(e))
    except LinkError as e:          # the link died mid-walk: nothing is reported as checked that was not
        return _error("the cabinet link failed during commissioning (%s); no report was written: check the "
                      "cable and run this again" % e)
    failed = [c for c in report["checks"] if c["status"] != PASSED]
    console.say("%s: %d checks, %d failed; report %s (and %s), ledger report %d, queued for the cloud"
                % ("PASSED" if report["passed"] else "FAILED", len(report["checks"]), len(failed), json_path,
                   md_path.name, report["report_id"]))
    if args.json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    return 0 if report["passed"] else EXIT_FAILED


def _error(message):
    sys.stderr.write("locker-agent: error: %s\n" % message)
    return EXIT_USAGE
