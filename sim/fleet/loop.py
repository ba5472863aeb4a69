"""One process of the contract fleet: its cabinets' MQTT clients (one each, MQTT 5, QoS 1) in one select loop
of paho's external-loop calls, so a few hundred cabinets cost one core at most. It writes rows for
`--seconds`, then waits until the cloud has acked every cabinet to its head (or `--drain-timeout`), and
prints one JSON line: per cabinet head and acked, the ack latencies, when the starting backlog was drained.

    python -m sim.fleet.loop --port 1883 --first 1 --count 250 --rate 0.5 --seconds 60
"""
import argparse
import hashlib
import json
import resource
import select
import sys
import time

import paho.mqtt.client as mqtt

from sim.fleet.cabinet import Cabinet

TICK_S = 0.05               # how often cabinets write due rows and send batches
MISC_S = 1.0                # paho's keep-alive housekeeping
RECONNECT_S = 1.0


def cabinet_name(number):
    return "FLEET-%04d" % number


def cabinet_key(name):
    """A fixed 32-byte command key per cabinet name: the fleet's own keys, registered in the hub by run.py."""
    return hashlib.sha256(("fleet-key-" + name).encode()).digest()


class Link:
    """A cabinet and its paho client."""

    def __init__(self, cabinet, host, port):
        self.cabinet = cabinet
        self.host, self.port = host, port
        self.up = False
        self.retry_at = 0.0
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cabinet.name, protocol=mqtt.MQTTv5)
        c.max_inflight_messages_set(64)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        self.client = c

    def connect(self, now):
        topic, will = self.cabinet.last_will()          # this connection's session and connect time
        self.client.will_set(topic, json.dumps(will), qos=1, retain=True)
        try:
            self.client.connect(self.host, self.port, keepalive=60, clean_start=True)
        except OSError:
            self.retry_at = now + RECONNECT_S

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            return
        root = self.cabinet.root
        client.subscribe([(root + "/ack", 1), (root + "/cmd", 1)])
        for topic, payload, retain in self.cabinet.connected(time.monotonic()):
            client.publish(topic, json.dumps(payload), qos=1, retain=retain)
        self.up = True

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self.up = False
        self.retry_at = time.monotonic() + RECONNECT_S

    def _on_message(self, client, userdata, message):
        self.cabinet.received(message.topic.rsplit("/", 1)[1], message.payload, time.monotonic())

    def pump(self, now):
        if not self.up:
            return
        for topic, payload, retain in self.cabinet.step(now):
            self.client.publish(topic, json.dumps(payload, separators=(",", ":")), qos=1, retain=retain)


def run(links, seconds, drain_timeout_s):
    """The select loop: until `seconds` of writing are over and every cabinet is acked (or the timeout)."""
    start = time.monotonic()
    for link in links:
        link.connect(start)
    writing_until = start + seconds
    give_up = writing_until + drain_timeout_s
    next_tick = next_misc = start
    writing = True
    while True:
        now = time.monotonic()
        if writing and now >= writing_until:
            writing = False
            for link in links:
                link.cabinet.stop_writing()
        if not writing and all(link.cabinet.done for link in links) or now >= give_up:
            break
        if now >= next_tick:
            for link in links:
                link.pump(now)
            next_tick = now + TICK_S
        if now >= next_misc:
            for link in links:
                if link.client.socket() is None and now >= link.retry_at:
                    link.connect(now)
                elif link.client.socket() is not None:
                    link.client.loop_misc()
            next_misc = now + MISC_S
        socks = {link.client.socket(): link for link in links if link.client.socket() is not None}
        writers = [s for s, link in socks.items() if link.client.want_write()]
        readable, writable, _ = select.select(list(socks), writers, [], max(0.0, next_tick - time.monotonic()))
        for s in readable:
            socks[s].client.loop_read()
        for s in writable:
            socks[s].client.loop_write()
    for link in links:
        link.client.disconnect()
    return start, time.monotonic() - start


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m sim.fleet.loop", description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--tenant", default="acme")
    ap.add_argument("--site", default="fleet")
    ap.add_argument("--first", type=int, required=True, help="the number of this process's first cabinet")
    ap.add_argument("--count", type=int, required=True, help="how many cabinets this process runs")
    ap.add_argument("--rate", type=float, required=True, help="rows per second each cabinet writes")
    ap.add_argument("--backlog", type=int, default=0, help="rows each cabinet holds unsent at the start")
    ap.add_argument("--seconds", type=float, required=True, help="how long the cabinets write rows")
    ap.add_argument("--drain-timeout", type=float, default=300.0)
    args = ap.parse_args(argv)
    links = []
    for n in range(args.first, args.first + args.count):
        name = cabinet_name(n)
        cab = Cabinet(name, args.tenant, args.site, cabinet_key(name), args.rate, args.backlog, clock_wall=time.time)
        links.append(Link(cab, args.host, args.port))
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    start, wall = run(links, args.seconds, args.drain_timeout)
    ru = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({
        "wall_s": round(wall, 3), "cpu_s": round(ru.ru_utime + ru.ru_stime - ru0.ru_utime - ru0.ru_stime, 3),
        "cabinets": [{"name": l.cabinet.name, "head": l.cabinet.head, "acked": l.cabinet.acked,
                      "batches": l.cabinet.batches, "resends": l.cabinet.resends,
                      "bad_ack_hashes": l.cabinet.bad_ack_hashes,
                      "drained_s": None if l.cabinet.drained_at is None else round(l.cabinet.drained_at - start, 3)} for l in links],
        "latencies": [round(x, 4) for link in links for x in link.cabinet.latencies]}))
    return 0 if all(link.cabinet.done for link in links) else 1


if __name__ == "__main__":
    sys.exit(main())
