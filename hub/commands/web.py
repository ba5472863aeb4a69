"""`locker-hub web`: the hub's web app for the supplier's office, its route drivers and its customers
(docs/hub/web.md). Run it behind a TLS-terminating reverse proxy and give the address people use with
--public-origin; run as many as needed: they share nothing but the database."""
import signal
import threading
import time

from hub import db, migrate
from hub.commands.serve import host_port
from hub.web.app import build_app
from hub.web.server import WebServer


def add_parser(sub):
    p = sub.add_parser("web", help="serve the web app (sign-in, fleet, routes, orders, alerts, min/max, reports)",
                       description=__doc__)
    p.add_argument("--listen", type=host_port, default=("127.0.0.1", 8080), metavar="HOST:PORT",
                   help="where to listen (default 127.0.0.1:8080)")
    p.add_argument("--public-origin", action="append", default=[], metavar="URL",
                   help="the scheme://host[:port] people open, e.g. https://hub.example.com (repeatable); requests "
                        "for any other host are refused, and https makes the session cookie Secure")
    p.add_argument("--pool-size", type=int, default=8, metavar="N", help="database connections (default 8)")
    p.set_defaults(run=run)


def run(args, out):
    with db.connect(args.dsn) as conn:
        todo = migrate.pending(conn)
    if todo:
        out("the database is not migrated (%d pending): run locker-hub migrate first" % len(todo))
        return 2
    pool = db.open_pool(args.dsn, max_size=args.pool_size, name="hub-web")
    try:
        host, port = args.listen
        try:
            server = WebServer(lambda h, p: build_app(pool, h, p, clock=time.time,
                                                      public_origins=args.public_origin), host, port)
        except ValueError as e:
            out("locker-hub web: %s" % e)
            return 2
        except OSError as e:
            out("locker-hub web: cannot listen on %s:%d: %s" % (host, port, e.strerror))
            return 2
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        out("hub web app at %s (database %s)" % (server.url, db.describe(args.dsn)))
        server.run_forever(stop)
        return 0
    finally:
        pool.close()
