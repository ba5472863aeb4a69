"""`locker-sim pilot`: the command line of the pilot simulation (sim/cli.py adds it)."""
import sys

EPILOG = """\
Runs the edge agent's real flows and the real cabinet firmware on a simulated cabinet for DAYS of virtual
time: technicians taking parts (weekday and shift patterns, a shutdown week, rare critical spares), a route
driver visiting on a schedule (default Tuesdays and Fridays 09:00; within 4 hours when a critical part is
out), jammed lanes a supervisor clears, hung products, shrinkage, MCU resets mid-vend, cloud outages. The
same demand is also served by two baselines without the cabinet: the same number of visits on the pilot's
schedule, and a fixed weekly visit (default Mondays 08:00). Then it writes into --out:
  ledger.db                 the pilot's ledger (locker-agent --db DIR/ledger.db stock | verify | report)
  report.html, *.csv        the customer's report for the period (edge_agent/reports)
  comparison.html/.csv      the pilot against both baselines: what each arm did and what it cost
  accuracy.csv              the pilot's stock and charge accuracy against the physical truth
  site/*.csv                the catalog, layout, people and rules it started from
Same seed, same files and the same summary; a progress bar goes to stderr. docs/pilot.md says more.

examples:
  locker-sim pilot --days 30 --seed 1 --out pilot-out
  locker-sim pilot --days 90 --locations 60 --seed 7 --out pilot-90
  locker-sim pilot --config examples/cabinet.toml --locations 24 --days 14 --out small
  locker-sim pilot --pilot-visits mon,wed,fri@7 --baseline-visits thu@8 --visit-cost 60
  locker-sim pilot --days 30 --hub --out pilot-hub     # and what the supplier saw on the hub: DIR/hub/

A pilot config (TOML, --pilot-config) holds the same settings; options given on the command line win:
  [schedule]
  pilot = "tue,fri@9"
  baseline = "mon@8"
  [costs]
  visit = 45.00
  emergency_visit = 120.00
  emergency_order = 80.00
  carrying_rate_pct = 20
"""


def add_parser(sub):
    import argparse
    from sim.pilot import plan
    p = sub.add_parser(
        "pilot", help="a 60-90 day customer pilot in simulation: reports and a comparison with weekly refill",
        description="Simulate a customer pilot of one cabinet on the real agent and firmware, in virtual time.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--days", type=int, default=60, metavar="N", help="days of virtual time (default 60)")
    p.add_argument("--seed", type=int, default=1, metavar="N",
                   help="seed for the site, the demand, the faults and the physics (default 1)")
    p.add_argument("--locations", type=int, default=60, metavar="N",
                   help="locations in the cabinet, 4 to 1000 (default 60: 40 lanes, 3 doors, 2 weigh bins, 15 "
                        "scan-only; beyond, more scan-only)")
    p.add_argument("--out", default="pilot-out", metavar="DIR", help="where everything goes (default pilot-out)")
    p.add_argument("--config", metavar="FILE",
                   help="a cabinet config (TOML) to use instead of the generated cabinet; scan-only bins fill "
                        "up to --locations")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--pilot-config", metavar="FILE", help="schedules and costs (TOML; see below)")
    p.add_argument("--pilot-visits", metavar="DAYS@H",
                   help="the route driver's scheduled visits, e.g. tue,fri@9 (default %s); the same-visits "
                        "baseline visits on the same schedule" % plan.DEFAULT_PILOT)
    p.add_argument("--baseline-visits", metavar="DAYS@H",
                   help="the weekly baseline's visits (default %s)" % plan.DEFAULT_BASELINE)
    for name, key, words in (("--visit-cost", "visit", "a scheduled visit"),
                             ("--emergency-visit-cost", "emergency_visit", "an emergency visit"),
                             ("--emergency-order-cost", "emergency_order", "an emergency order (a part rushed in)")):
        p.add_argument(name, type=float, metavar="X", dest=key,
                       help="cost of %s (default %.2f)" % (words, plan.DEFAULT_COSTS[key]))
    p.add_argument("--hub", nargs="?", const="", default=None, metavar="DSN",
                   help="run the pilot arm on the hub too, in lock-step with the hub's jobs on virtual time (a "
                        "supplier's set-up for this one cabinet: its route on --pilot-visits, alert e-mails to an "
                        "SMTP server on loopback, orders, min/max, the customer's report) into DIR/hub; DSN: a "
                        "pilot's own hub database (default: a throw-away one). The hub acks: no outages then")
    p.add_argument("--step", type=int, default=60, metavar="MINUTES",
                   help="with --hub: virtual minutes between two runs of the hub's jobs (default 60)")
    p.add_argument("--carrying-rate", type=float, metavar="PCT", dest="carrying_rate_pct",
                   help="stock carrying cost, %%%% a year of the average stock value (default %g; 0: none)"
                        % plan.DEFAULT_COSTS["carrying_rate_pct"])
    p.set_defaults(run=run)
    f = sub.add_parser(
        "fleet", help="many cabinets against one Mosquitto and the hub (pilot cabinets, or 1,000s of light ones)",
        description="Run many cabinets against one Mosquitto on a free loopback port and the hub (hub/, on a "
                    "throw-away PostgreSQL unless --db is given). --model pilot (the default): pilot cabinets, "
                    "each its own process with the agent's real cloud sync; report CPU and memory per cabinet "
                    "and messages per second at the broker. --model contract: light cabinets written from "
                    "docs/mqtt.md alone, hundreds to a process, against --workers locker-hub serve processes; "
                    "report rows stored per hub CPU second, ack latency and bytes per cabinet-year.",
        epilog=EPILOG_FLEET, formatter_class=argparse.RawDescriptionHelpFormatter)
    f.add_argument("--model", choices=("pilot", "contract"), default="pilot",
                   help="pilot cabinets (default) or contract cabinets (sim/fleet/)")
    f.add_argument("--cabinets", type=int, default=4, metavar="N", help="cabinets (default 4)")
    f.add_argument("--days", type=int, default=2, metavar="N", help="pilot: days of virtual time each (default 2)")
    f.add_argument("--locations", type=int, default=20, metavar="N",
                   help="pilot: locations per cabinet (default 20)")
    f.add_argument("--speed", type=float, default=2000.0, metavar="X",
                   help="pilot: virtual time runs X times faster than wall time (default 2000: a day in 43 s)")
    f.add_argument("--seed", type=int, default=1, metavar="N", help="pilot: first cabinet's seed; the next add 1")
    f.add_argument("--workers", type=int, default=1, metavar="N",
                   help="contract: locker-hub serve processes sharing the load (default 1)")
    f.add_argument("--rate", type=float, default=0.5, metavar="ROWS",
                   help="contract: rows a second each cabinet writes (default 0.5: the pilot's day in 7 min)")
    f.add_argument("--seconds", type=float, default=30.0, metavar="S",
                   help="contract: how long the cabinets write (default 30); then every cabinet must be acked")
    f.add_argument("--backlog", type=int, default=0, metavar="ROWS",
                   help="contract: rows each cabinet holds unsent at the start (a fleet back from an outage)")
    f.add_argument("--db", default=None, metavar="DSN",
                   help="the hub's PostgreSQL (migrated here); default: a throw-away one for the run")
    f.add_argument("--hub", nargs="?", const="", default=None, metavar="DSN",
                   help="pilot: run as a supplier's pilot on the hub (docs/pilot.md \"On the hub\"): --customers "
                        "customers' sites, routes and alert rules, the cabinets in lock-step with the hub's jobs on "
                        "virtual time; then van loads, orders, alert e-mails and one report per customer in --out. "
                        "DSN: a pilot's own hub database (default: a throw-away one); --speed does not apply")
    f.add_argument("--customers", type=int, default=3, metavar="N",
                   help="with --hub: customers the cabinets are shared among (default 3)")
    f.add_argument("--step", type=int, default=60, metavar="MINUTES",
                   help="with --hub: virtual minutes between two runs of the hub's jobs (default 60)")
    f.add_argument("--json", action="store_true", help="print the figures as one JSON line too")
    f.add_argument("--out", default="fleet-out", metavar="DIR",
                   help="ledgers, the broker's log and the hub workers' logs (default fleet-out)")
    f.set_defaults(run=run_fleet_command)
    return p


EPILOG_FLEET = """\
Needs Mosquitto and PostgreSQL (scripts/setup installs both). Pilot model: each cabinet runs the pilot loop
paced at --speed with the agent's CloudSync thread publishing its ledger to the broker; the hub acks
everything (docs/pilot.md explains the figures). Contract model: decision 0039, docs/scaling.md. At the end
every cabinet's rows must be in the hub, seq for seq, and acked; exit 1 when not.

examples:
  locker-sim fleet --cabinets 4 --days 2
  locker-sim fleet --hub --customers 3 --cabinets 10 --days 30 --out supplier-pilot
  locker-sim fleet --model contract --cabinets 1000 --workers 2 --rate 0.5 --seconds 60
  locker-sim fleet --model contract --cabinets 200 --backlog 500 --rate 0 --db postgresql://hub@db/hub
"""


def run_fleet_command(args):
    if args.model == "contract":
        from sim.fleet.run import command
        return command(args)
    if args.hub is not None:
        return run_hub_pilot_command(args)
    from sim.pilot.fleet import run_fleet, summary_lines
    from sim.pilot.progress import Progress
    try:
        result = run_fleet(args.out, cabinets=args.cabinets, days=args.days, locations=args.locations,
                           speed=args.speed, seed=args.seed, progress=Progress("fleet: cabinets done"),
                           dsn=getattr(args, "db", None))       # --db: the parser's, with --model contract
    except (ValueError, RuntimeError) as e:
        sys.stderr.write("locker-sim: error: %s\n" % e)
        return 2
    for line in summary_lines(result):
        sys.stdout.write(line + "\n")
    return 0


def run_hub_pilot_command(args):
    import time
    from sim.pilot.hub_pilot import run_hub_pilot
    from sim.pilot.progress import Progress
    t0 = time.monotonic()
    try:
        result = run_hub_pilot(args.out, customers=args.customers, cabinets=args.cabinets, days=args.days,
                               locations=args.locations, seed=args.seed, dsn=args.hub or args.db,
                               step_minutes=args.step, progress=Progress("pilot on the hub: days"))
    except (ValueError, RuntimeError) as e:
        sys.stderr.write("locker-sim: error: %s\n" % e)
        return 2
    for line in result.summary:
        sys.stdout.write(line + "\n")
    sys.stdout.write("written to %s: summary.txt, summary.json and the files above (%.0f s)\n"
                     % (args.out, time.monotonic() - t0))
    if args.json:
        import json
        sys.stdout.write(json.dumps(json.loads((result.out_dir / "summary.json").read_text())) + "\n")
    return 0


def run(args):
    from firmware.config import ConfigError
    from sim.pilot.progress import Progress
    from sim.pilot.plan import load_plan
    from sim.pilot.run import run_pilot
    raw = None
    try:
        plan = load_plan(args.pilot_config, args.pilot_visits, args.baseline_visits, visit=args.visit,
                         emergency_visit=args.emergency_visit, emergency_order=args.emergency_order,
                         carrying_rate_pct=args.carrying_rate_pct)
        if args.config:
            from sim.cabinet import load_raw_config
            raw = load_raw_config(args.config)
        outcome = run_pilot(args.out, days=args.days, seed=args.seed, locations=args.locations, raw_config=raw,
                            progress=None if args.quiet else Progress("pilot"), plan=plan, hub=args.hub,
                            hub_step_minutes=args.step)
    except (ConfigError, ValueError, RuntimeError) as e:
        sys.stderr.write("locker-sim: error: %s\n" % e)
        return 2
    except OSError as e:
        sys.stderr.write("locker-sim: error: %s\n" % (e.strerror and "%s: %s" % (e.filename, e.strerror) or e))
        return 2
    for line in outcome.summary:
        sys.stdout.write(line + "\n")
    sys.stdout.write("written to %s: report.html, comparison.html, comparison.csv, accuracy.csv, ledger.db\n"
                     % args.out)
    return 0
