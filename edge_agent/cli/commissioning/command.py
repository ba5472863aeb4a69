"""`locker-agent commission`: its options, the cabinet link opened exclusively, the agent's worker started on
it, the walk, and the report kept (docs/commissioning.md)."""
import dataclasses
import json
import logging
import os
import sys

from edge_agent.cli.arg_types import positive_number
from edge_agent.cli.commissioning.checks import PARTS, PASSED, CommissioningError
from edge_agent.cli.commissioning.console import Console
from edge_agent.cli.commissioning.report import build_report, default_report_path, record_report, write_files
from edge_agent.cli.commissioning.walk import READY_TIMEOUT_S, Commissioning, DoorWatch, wait_until
from edge_agent.link.errors import LinkError, WrongLineRate

EXIT_FAILED = 1
EXIT_USAGE = 2


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
    """The agent's worker on this link, once start-up recovery has run (nothing moves before). Returns the
    agent and the ledger this command opened for it: the report is recorded there, on the agent's worker
    (its SQLite connection belongs to that thread)."""
    from edge_agent.app.agent import Agent
    from edge_agent.ledger import SystemClock, open_ledger
    clock = clock or SystemClock(config.timesync_flag)
    opened = []

    def open_agent_ledger():
        opened.append(open_ledger(config.ledger, clock, cabinet_id=config.cabinet_id))
        return opened[-1]
    # The installer may take minutes over a bin: their session must not time out under them.
    agent = Agent(open_agent_ledger, link, dataclasses.replace(config, session_idle_s=10 ** 9))
    try:
        link.hello()                # first, so a silent port is said at once rather than after READY_TIMEOUT_S
    except LinkError as e:          # WrongLineRate says itself what was heard and which end to change
        hint = "" if isinstance(e, WrongLineRate) else ": is it powered and flashed, is this its port?"
        raise CommissioningError("the cabinet does not answer on %s (%s)%s" % (config.cabinet_port, e, hint)) from None
    agent.start()
    if not wait_until(lambda: agent.ready, READY_TIMEOUT_S):
        agent.stop()
        raise CommissioningError("commands an earlier run left pending cannot be settled with the cabinet: start "
                                 "the agent once (it keeps trying) and look at its log")
    return agent, opened[-1]


def commission(config, console, parts=PARTS, *, installer="installer", weight_mg=500000, tolerance_mg=None,
               door_close_s=60.0, report_path=None, clock=None):
    """Walk the cabinet; returns (report, json path, markdown path). Raises CommissioningError."""
    from edge_agent.ledger import SystemClock
    tolerance_mg = tolerance_mg or max(1000, weight_mg // 200)
    clock = clock or SystemClock(config.timesync_flag)
    watch = DoorWatch()
    link = open_link(config, watch.on_event)
    try:
        agent, ledger = start_agent(config, link, clock)
        try:
            hello = agent.hello
            started = clock.wall()[0]
            console.say("cabinet %s on %s: firmware %s, %d doors, %d lanes, %d bins" % (
                config.cabinet_id, config.cabinet_port, hello.firmware, hello.doors, hello.lanes, hello.bins))
            walk = Commissioning(agent, watch, console, installer=installer, weight_mg=weight_mg,
                                 tolerance_mg=tolerance_mg, door_close_s=door_close_s)
            walk.log_in()
            checks = walk.run(parts)
            finished = clock.wall()[0]
            report = build_report(config.cabinet_id, hello, installer, [p for p in PARTS if p in parts], weight_mg,
                                  tolerance_mg, started, finished, checks)
            report["report_id"] = agent.call(record_report, ledger, report)
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
