"""`locker-hub serve`: one hub worker. Run as many as the load needs, on one machine or several, against the
same broker and database: they share the cabinets' messages through an MQTT 5 shared subscription."""
import signal
import socket
import threading

from hub import broker_login, db, migrate
from hub.service import Hub


def add_parser(sub):
    p = sub.add_parser("serve", help="run one hub worker: store, check and acknowledge what cabinets send",
                       description=__doc__)
    p.add_argument("--broker", required=True, metavar="HOST:PORT", type=host_port, help="the MQTT 5 broker")
    p.add_argument("--worker-id", default="hub-%s" % socket.gethostname(), metavar="ID",
                   help="this worker's MQTT client id, stable across restarts so its session (and the messages "
                        "in flight to it) survives one (default hub-HOSTNAME)")
    p.add_argument("--group", default="hub", metavar="NAME", help="the shared subscription group (default hub)")
    p.add_argument("--grace", type=float, default=2.0, metavar="SECONDS",
                   help="how long a hole in a cabinet's stream may last before a resend is asked (default 2)")
    p.add_argument("--pool-size", type=int, default=4, metavar="N", help="database connections (default 4)")
    p.add_argument("--leave", action="store_true",
                   help="on SIGTERM end this worker's MQTT session too (it is being taken away for good); "
                        "without it a worker restarted within 5 minutes gets the messages given to it meanwhile")
    p.add_argument("--schemas", default=None, metavar="DIR",
                   help="the contract's JSON Schemas (default: docs/mqtt/schemas of this installation)")
    p.add_argument("--verbose", action="store_true", help="print a line per message stored and ack sent")
    broker_login.add_arguments(p)
    p.set_defaults(run=run)


def host_port(text):
    import argparse
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError("%r: give HOST:PORT, e.g. 127.0.0.1:1883" % text)
    return host, int(port)


def run(args, out):
    try:
        login = broker_login.client_setup(args)
    except ValueError as e:
        out("locker-hub serve: %s" % e)
        return 2
    with db.connect(args.dsn) as conn:
        todo = migrate.pending(conn)
    if todo:
        out("the database is not migrated (%d pending, from %04d_%s): run locker-hub migrate first"
            % (len(todo), todo[0].version, todo[0].name))
        return 2
    host, port = args.broker
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    hub = Hub(args.dsn, host, port, grace_s=args.grace, worker_id=args.worker_id, group=args.group, report=out,
              trace=out if args.verbose else None, pool_size=args.pool_size, schemas_dir=args.schemas)
    hub.client_setup = login
    out("hub worker %s: broker %s:%d, database %s, group %s" % (args.worker_id, host, port, db.describe(args.dsn),
                                                                 args.group))
    hub.start(timeout=None)     # a broker not up yet is waited for, as one that goes away later is
    stop.wait()
    hub.stop(leave=args.leave)
    s = hub.stats
    out("stopped: %d messages, %d stored, %d duplicates, %d rejected, %d acks, %d resends"
        % (s.received, s.stored, s.duplicates, s.rejected, s.acks, s.resends))
    return 0
