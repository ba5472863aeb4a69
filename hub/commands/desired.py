"""`locker-hub desired import|show|publish`: run a site from the hub (docs/hub.md "Running a site from the
hub"). import reads the CSV files an admin imports on the Pi into a new desired version for a cabinet or each
cabinet of a site; publish sends the newest versions signed and retained; show says what each cabinet has
applied or refused."""
import json
import threading

import paho.mqtt.client as mqtt

from edge_agent.ledger.errors import ImportRefused
from hub import db, desired
from hub.commands.serve import host_port

CONNECT_TIMEOUT_S = 10


def add_parser(sub):
    p = sub.add_parser("desired", help="desired state (users, catalog) made from the Pi's CSV files",
                       description=__doc__)
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, words in (("import", "store a new version from a folder of CSV files"),
                        ("show", "the newest versions and what the cabinets reported"),
                        ("publish", "publish the newest versions, signed and retained")):
        a = actions.add_parser(name, help=words)
        which = a.add_mutually_exclusive_group(required=True)
        which.add_argument("--cabinet", metavar="ID")
        which.add_argument("--site", metavar="TENANT/SITE", help="every cabinet of the site")
        if name == "import":
            a.add_argument("folder", help="users.csv, skus.csv [allows.csv limits.csv charge_lists.csv], and "
                                          "<cabinet>/locations.csv (or locations.csv for one cabinet)")
        if name == "publish":
            a.add_argument("--broker", required=True, metavar="HOST:PORT", type=host_port)
        a.set_defaults(run=run)


def run(args, out):
    with db.connect(args.dsn, autocommit=True) as conn:     # each publication committed before it is sent
        try:
            cabinets = desired.cabinets_of(conn, args.cabinet, args.site)
            if args.action == "import":
                for cabinet, (users, catalog) in desired.import_folder(conn, args.folder, cabinets).items():
                    out("%s: users version %d, catalog version %d" % (cabinet, users, catalog))
                return 0
        except (desired.DesiredError, ImportRefused) as e:
            out("nothing imported: %s" % e)
            return 2
        if args.action == "show":
            for cabinet in cabinets:
                for row in desired.overview(conn, cabinet):
                    refused = row["refused"]
                    out("%s %s: version %s%s, applied %s%s" % (
                        cabinet, row["what"], row["version"],
                        " published %s" % row["published_at"].isoformat() if row["published_at"] else " not published",
                        row["applied"], "; refused %s (%s): %s" % (refused["version"], refused["reason"],
                                                                   refused["detail"]) if refused else ""))
            return 0
        return _publish(conn, cabinets, args.broker, out)


def _publish(conn, cabinets, broker, out):
    """A short-lived MQTT 5 client of its own (not a worker: it subscribes to nothing)."""
    connected = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="locker-hub-desired", protocol=mqtt.MQTTv5)
    client.on_connect = lambda *a: connected.set()
    client.connect(*broker)
    client.loop_start()
    try:
        if not connected.wait(CONNECT_TIMEOUT_S):
            out("the broker %s:%d did not answer" % broker)
            return 1
        sent = []

        def send(topic, env):
            sent.append(client.publish(topic, json.dumps(env), qos=1, retain=True))
        for cabinet in cabinets:
            done = desired.publish(conn, send, cabinet)
            out("%s: published %s" % (cabinet, ", ".join("%s version %d" % d for d in done) or "nothing (import first)"))
        for info in sent:
            info.wait_for_publish(CONNECT_TIMEOUT_S)
        return 0
    finally:
        client.loop_stop()
        client.disconnect()
