"""One cabinet of a supplier's pilot on the hub (a worker process of sim/pilot/hub_pilot.py): the pilot loop of
runner.py on its own ledger, the agent's real CloudSync publishing it to the broker, in lock-step with the
hub's virtual clock.

The parent grants virtual time a step at a time. Before its first event past the granted time the worker
waits until the hub has acked everything the ledger holds (and has an inventory snapshot of it), says so on
stdout and waits for the next grant on stdin. So when the parent runs the hub's scheduled jobs at time H, the
hub holds exactly what every cabinet wrote up to H, nothing later: the run is the same every time.

Protocol (one JSON object a line): the worker writes {"at": ms, "heads": {stream: seq}} when it has
done everything up to `ms` (-1 before its first event) and the hub holds it; the parent answers
{"until": ms} (go on to there) or {"end": true} (stop), and the worker writes its result line
{"result": {...}} before it exits. Anything else the pilot prints goes to stderr."""
import argparse
import json
import sys
import threading
import time
from pathlib import Path

ACK_TIMEOUT_S = 120


def open_sync_class():
    """CloudSync, plus an inventory snapshot sent when asked: the hub's snapshot at each step is exact (a real
    agent sends one hourly by its own wall clock)."""
    from edge_agent.cloud import sync as sync_module

    class PilotSync(sync_module.CloudSync):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.snapshot_wanted = threading.Event()

        def _pump(self):
            busy = super()._pump()
            if self.connected and self.snapshot_wanted.is_set():
                self.snapshot_wanted.clear()
                self.client.publish(self.topics.inventory, json.dumps(self.snapshot()), qos=1)
            return busy

        def snapshot(self):
            """The inventory message of docs/mqtt.md (the hub checks it against its schema)."""
            from edge_agent.cloud import outbox
            names = ("id", "kind", "sku", "on_hand", "min", "max", "quarantine", "capacity")
            rows = self.ledger.db.execute("SELECT %s FROM locations ORDER BY id" % ", ".join(names)).fetchall()
            wall, synced = self.ledger.clock.wall()
            return {"v": 1, "cabinet": self.config.cabinet_id, "session": self.session, "sent_wall": wall,
                    "clock_synced": bool(synced), "as_of_seq": outbox.head(self.ledger, "tx"),
                    "locations": [dict(zip(names, r)) for r in rows]}

    # A new ledger row is looked for every LOOP_S instead of every IDLE_LOOP_S: each step of the lock-step
    # waits for the hub's ack, and the idle pace would be most of a step's wall time.
    sync_module.IDLE_LOOP_S = sync_module.LOOP_S
    return PilotSync


class Gate:
    """The pilot's pace(t): before an event past the granted time, waits until the hub holds the whole ledger
    and asks advance(at, heads) for more: the next granted time, or None when the pilot is over."""

    def __init__(self, ledger, sync, advance):
        self.ledger = ledger
        self.sync = sync
        self.advance = advance
        self.until = -1
        self.ended = False
        self._snapshot_head = None

    def pace(self, t_ms):
        while t_ms > self.until and not self.ended:
            self.report()

    def report(self):
        granted = self.advance(self.until, self.synced())
        if granted is None:
            self.ended = True
        else:
            self.until = granted

    def drain(self):
        """After the pilot's last event: go on reporting until the pilot is over."""
        while not self.ended:
            self.report()

    def synced(self):
        from edge_agent.cloud import outbox
        tx_head = outbox.head(self.ledger, "tx")
        if tx_head != self._snapshot_head:      # the pilot wrote its last row of the step: snapshot it now
            self._snapshot_head = tx_head
            self.sync.snapshot_wanted.set()
        deadline = time.monotonic() + ACK_TIMEOUT_S
        while True:
            heads = {s: outbox.head(self.ledger, s) for s in outbox.STREAMS}
            if all(outbox.acked(self.ledger, s) >= heads[s] for s in heads):
                return heads
            if time.monotonic() > deadline:
                raise RuntimeError("the hub has not acked %s in %d s" % (heads, ACK_TIMEOUT_S))
            time.sleep(0.002)           # polling the ledger for the hub's ack, with a deadline


class Pipe:
    """advance() over stdin/stdout, for a worker process (the parent is hub_pilot.Workers)."""

    def __init__(self, proto_in, proto_out):
        self.proto_in = proto_in
        self.proto_out = proto_out

    def advance(self, at, heads):
        self.write({"at": at, "heads": heads})
        message = json.loads(self.proto_in.readline() or '{"end": true}')
        return None if message.get("end") else int(message["until"])

    def write(self, message):
        self.proto_out.write(json.dumps(message) + "\n")
        self.proto_out.flush()


def start_sync(pilot, cabinet, tenant, site, port, key_file):
    """The agent's CloudSync (PilotSync) on the pilot's ledger, started."""
    from edge_agent.app.config import AgentConfig, CloudConfig
    from edge_agent.ledger import open_ledger
    cloud = CloudConfig(host="127.0.0.1", port=port, tenant=tenant, site=site, key_file=key_file)
    config = AgentConfig(cabinet_id=cabinet, ledger=pilot.ledger_path, cabinet_port="none", cloud=cloud)
    # The sync thread reads the pilot's virtual clock: what it writes (desired state applied) is dated in the
    # pilot's time. Acks and desired state are taken at any age (envelope.NEEDS_CLOCK), so the hub's wall
    # clock on what it signs does not matter.
    sync = open_sync_class()(lambda: open_ledger(pilot.ledger_path, clock=pilot.clock, count_boot=False),
                             config, cloud)
    sync.start()
    return sync


def result_of(cabinet, result):
    """What the hub pilot's summary takes from a cabinet's runner.PilotResult."""
    return {"cabinet": cabinet, "takes": result.demand.takes, "visits": result.visits,
            "emergency_visits": result.emergency_visits, "refill_lines": result.refill_lines,
            "refill_units": result.refill_units, "jams": result.jams, "unknown_outcomes": result.unknown_outcomes,
            "units_asked": result.demand.units_asked, "units_given": result.demand.units_given,
            "emergency_orders": result.demand.emergency_orders}


def worker(args, proto_in, proto_out):
    from sim.pilot.fleet import cabinet_key
    from sim.pilot.plan import PilotPlan, parse_schedule
    from sim.pilot.runner import Pilot
    from sim.pilot.site import build_site
    from sim.pilot.station import STEP_MS

    folder = Path(args.dir) / args.cabinet
    folder.mkdir(parents=True, exist_ok=True)
    key_file = folder / "cabinet.key"
    key_file.write_text(cabinet_key(args.cabinet).hex())
    plan = PilotPlan(pilot=parse_schedule(args.visits, "--visits"))
    site = build_site(args.seed, args.locations, gap_days=plan.pilot.longest_gap_days())
    gate = None
    pilot = Pilot(site, args.seed, args.days, folder, step_ms=STEP_MS, live_cloud=True,
                  pace=lambda t: gate.pace(t), cabinet_id=args.cabinet, plan=plan)
    pipe = Pipe(proto_in, proto_out)
    sync = start_sync(pilot, args.cabinet, args.tenant, args.site, args.port, key_file)
    gate = Gate(pilot.ledger, sync, pipe.advance)
    try:
        result = pilot.run()
        gate.drain()
    finally:
        sync.stop()
        pilot.close()
    pipe.write({"result": result_of(args.cabinet, result)})
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m sim.pilot.lockstep", description="one cabinet of a hub pilot")
    for name in ("--cabinet", "--tenant", "--site", "--dir", "--visits"):
        ap.add_argument(name, required=True)
    for name in ("--seed", "--days", "--locations", "--port"):
        ap.add_argument(name, type=int, required=True)
    args = ap.parse_args(argv)
    proto_out, sys.stdout = sys.stdout, sys.stderr       # stdout is the protocol's alone
    return worker(args, sys.stdin, proto_out)


if __name__ == "__main__":
    sys.exit(main())
