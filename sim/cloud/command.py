"""`locker-sim cloud`: the hub (hub/service.py) in one process for trying cabinets by hand, on a throw-away
PostgreSQL unless --db is given, with the --key cabinets registered at --site. The same code as
`locker-hub serve`, which is what a supplier runs; this saves the three steps (a database, `locker-hub
migrate`, registering the cabinets) when all you want is a cloud for a cabinet on your desk."""
import argparse
import signal
import sys
import threading

from edge_agent.cli.arg_types import positive_number

EPILOG = """\
The hub (hub/, docs/hub.md) in one process: it takes locker/v1/+/+/+/<leaf> through an MQTT 5 shared
subscription, checks every message against docs/mqtt/schemas, stores it in PostgreSQL and sends each
cabinet signed acks (and resends when a seq is missing). It prints one line per thing stored or sent;
rejected messages say why. Only the --key cabinets are taken, at --site; a message from any other cabinet
is rejected (its acks could not be signed). Without --db the database is a throw-away PostgreSQL
(pg_virtualenv) that is gone when this stops. Stop with Ctrl-C or SIGTERM.

A supplier runs `locker-hub serve` (any number of workers, one PostgreSQL of their own) instead.

examples:
  locker-sim cloud --broker 127.0.0.1:1883 --key CAB-DEMO-1=@examples/site/cabinet.key --site acme/plant1
  locker-sim cloud --broker mqtt.example:1883 --key CAB-1=@CAB-1.key --key CAB-2=@CAB-2.key \\
      --db postgresql://hub@localhost/hub
"""


def host_port(text):
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError("expected HOST:PORT, got %r" % text)
    return host, int(port)


def cabinet_key(text):
    from edge_agent.cloud.envelope import KEY_BYTES, load_key
    cabinet, sep, value = text.partition("=")
    if not sep or not cabinet:
        raise argparse.ArgumentTypeError("expected CABINET=HEXKEY or CABINET=@KEYFILE, got %r" % text)
    if value.startswith("@"):
        try:
            return cabinet, load_key(value[1:])
        except (OSError, ValueError) as e:
            raise argparse.ArgumentTypeError(str(e))
    try:
        key = bytes.fromhex(value)
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise argparse.ArgumentTypeError("the key of %s must be %d bytes of hex" % (cabinet, KEY_BYTES))
    return cabinet, key


def tenant_site(text):
    tenant, sep, site = text.partition("/")
    if not sep or not tenant or not site or "/" in site:
        raise argparse.ArgumentTypeError("expected TENANT/SITE (as in the agent's [cloud] tenant and site), "
                                         "got %r" % text)
    return tenant, site


def dsn(text):
    # The SQLite receiver took --db FILE; a file name given now would reach libpq as a broken conninfo.
    if "=" not in text and "://" not in text:
        raise argparse.ArgumentTypeError(
            "%r is not a PostgreSQL DSN (e.g. postgresql://hub@localhost/hub or 'host=db1 dbname=hub'); the "
            "SQLite cloud database is gone: leave --db out for a throw-away PostgreSQL" % text)
    return text


def add_parser(sub):
    p = sub.add_parser(
        "cloud", help="the hub in one process, for cabinets by hand: store what they send over MQTT, ack it",
        description="Run the hub (the cloud side of docs/mqtt.md) in one process against a broker, on a "
                    "throw-away PostgreSQL unless --db is given.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--broker", required=True, type=host_port, metavar="HOST:PORT", help="the MQTT 5 broker")
    p.add_argument("--key", required=True, type=cabinet_key, action="append", metavar="CABINET=HEXKEY",
                   help="a cabinet and its 32-byte command key, as hex or @FILE (a key file: keeps the key out "
                        "of the process list); repeatable")
    p.add_argument("--site", type=tenant_site, default=("acme", "plant1"), metavar="TENANT/SITE",
                   help="where the --key cabinets are registered: their agents' [cloud] tenant and site "
                        "(default acme/plant1, as examples/site/agent.toml)")
    p.add_argument("--db", type=dsn, default=None, metavar="DSN",
                   help="the hub's PostgreSQL (migrated here); default: a throw-away one, gone at the end")
    p.add_argument("--schemas", default=None, metavar="DIR",
                   help="the JSON Schemas of the contract (default: docs/mqtt/schemas of this checkout)")
    p.add_argument("--grace", type=positive_number, default=2.0, metavar="SECONDS",
                   help="how long a missing seq may stay missing before a resend is asked for (default 2)")
    p.add_argument("--worker-id", "--client-id", dest="worker_id", default="locker-sim-cloud", metavar="ID",
                   help="MQTT client id (default locker-sim-cloud); the broker keeps this id's session a while")
    p.set_defaults(run=run)


def run(args):
    from hub.contract import ContractError
    from hub.db import describe
    from hub.service import Hub
    from sim.cloud.hub_db import hub_database

    def report(line):
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    host, port = args.broker
    keys = dict(args.key)
    tenant, site = args.site
    done = threading.Event()
    signal.signal(signal.SIGINT, lambda signum, frame: done.set())
    signal.signal(signal.SIGTERM, lambda signum, frame: done.set())
    try:
        with hub_database(args.db) as dsn:
            # A group of its own: a `locker-hub serve` on the same broker is not handed this one's messages.
            hub = Hub(dsn, host, port, grace_s=args.grace, worker_id=args.worker_id, group=args.worker_id,
                      report=report, trace=report, schemas_dir=args.schemas)
            for cabinet, key in sorted(keys.items()):
                hub.register(cabinet, key, tenant=tenant, site=site)
            report("hub for %s at %s/%s on %s:%d, database %s%s" % (
                ", ".join(sorted(keys)), tenant, site, host, port, describe(dsn),
                "" if args.db else " (throw-away: gone when this stops)"))
            report("connecting to the broker at %s:%d (retried until it answers; a line says when)" % (host, port))
            hub.start(timeout=None)     # paho keeps trying while the broker is not there yet
            try:
                done.wait()
            finally:
                hub.stop()
                s = hub.stats
                report("stopped: %d received, %d stored, %d duplicate, %d rejected, %d acks, %d resends"
                       % (s.received, s.stored, s.duplicates, s.rejected, s.acks, s.resends))
    except (ContractError, RuntimeError, ValueError) as e:
        sys.stderr.write("locker-sim: error: %s\n" % e)
        return 2
    return 0
