"""Fleet mode (`locker-sim fleet`): many pilot cabinets against one real Mosquitto and the hub (hub/service.py
on PostgreSQL: a throw-away one unless a DSN is given), to see what a fleet costs.

Each cabinet is its own process (`python -m sim.pilot.fleet` with worker arguments): the pilot loop of
runner.py on its own ledger, paced so that virtual time runs `speed` times faster than wall time, and the
agent's real CloudSync thread (edge_agent/cloud/sync.py) publishing that ledger's outbox to the broker; the
hub stores, checks and acks it (nothing counts as synced before its ack). In fleet mode the pilot
simulates no outages and acks nothing itself. At the end each worker waits until the cloud has acked its
whole outbox and prints one JSON line: CPU seconds (the whole process and the sync thread apart, from
/proc), peak RSS, rows and events written.

The parent reports per-cabinet CPU and memory, messages per second at the broker (counted at the
hub: up messages received, acks and resends sent), and cabinets per core at a realistic rate: the
pilot's own demand in real time, i.e. the pilot loop's CPU per virtual day spread over a real day plus the
sync thread's CPU per wall second (its 20 ms network loop is the floor a real agent pays)."""
import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
TENANT, SITE = "acme", "fleet"
DRAIN_TIMEOUT_S = 120
WORKER_TIMEOUT_S = 3600


def cabinet_key(cabinet):
    """A fixed 32-byte command key per cabinet name (a fleet run's own keys, never a real one)."""
    return hashlib.sha256(("fleet-key-" + cabinet).encode()).digest()


def thread_cpu_s(native_id):
    """user + system CPU seconds of one thread of this process (Linux /proc)."""
    try:
        with open("/proc/self/task/%d/stat" % native_id) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- one cabinet (the worker process) -----------------------------------------------------------------------
def worker(args):
    from edge_agent.app.config import AgentConfig, CloudConfig
    from edge_agent.cloud import outbox
    from edge_agent.cloud.sync import CloudSync
    from edge_agent.ledger import open_ledger
    from sim.pilot.run import STEP_MS
    from sim.pilot.runner import Pilot
    from sim.pilot.site import build_site

    folder = Path(args.dir) / args.cabinet
    folder.mkdir(parents=True, exist_ok=True)
    key_file = folder / "cabinet.key"
    key_file.write_text(cabinet_key(args.cabinet).hex())
    ru0 = resource.getrusage(resource.RUSAGE_SELF)     # after the imports: those are not the cabinet's cost
    wall0 = time.monotonic()

    def pace(t_ms):
        ahead = wall0 + t_ms / 1000 / args.speed - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)           # not synchronisation: this is the pace of virtual time itself

    site = build_site(args.seed, args.locations)
    pilot = Pilot(site, args.seed, args.days, folder, step_ms=STEP_MS, live_cloud=True, pace=pace,
                  cabinet_id=args.cabinet)
    cloud = CloudConfig(host="127.0.0.1", port=args.port, tenant=TENANT, site=SITE, key_file=key_file)
    config = AgentConfig(cabinet_id=args.cabinet, ledger=pilot.ledger_path, cabinet_port="none", cloud=cloud)
    sync = CloudSync(lambda: open_ledger(pilot.ledger_path, count_boot=False), config, cloud)
    sync.start()
    result = pilot.run()
    run_wall = time.monotonic() - wall0
    heads = {s: outbox.head(pilot.ledger, s) for s in outbox.STREAMS}
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while any(outbox.acked(pilot.ledger, s) < heads[s] for s in heads) and time.monotonic() < deadline:
        time.sleep(0.05)                # polling the ledger for the cloud's ack, with a deadline
    acked = {s: outbox.acked(pilot.ledger, s) for s in outbox.STREAMS}
    sync_cpu = thread_cpu_s(sync.thread_id)
    wall = time.monotonic() - wall0
    sync.stop()
    pilot.close()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({
        "cabinet": args.cabinet, "days": args.days, "takes": result.demand.takes, "heads": heads, "acked": acked,
        "cpu_s": round(ru.ru_utime + ru.ru_stime - ru0.ru_utime - ru0.ru_stime, 3), "sync_cpu_s": sync_cpu,
        "peak_rss_mb": round(ru.ru_maxrss / 1024, 1),
        "run_wall_s": round(run_wall, 3), "wall_s": round(wall, 3), "batches_sent": sync.stats.batches_sent,
        "republished": sync.stats.republished, "acks_seen": sync.stats.acks}))
    return 0 if acked == heads else 1


# -- the fleet (the parent) ---------------------------------------------------------------------------------
@dataclass
class FleetResult:
    cabinets: list                 # each worker's JSON
    wall_s: float
    hub: dict                      # the hub's counts (hub/ingest.py Stats)
    figures: dict = field(default_factory=dict)


def run_fleet(out_dir, cabinets=4, days=2, locations=20, speed=2000.0, seed=1, progress=None, dsn=None):
    """Start a broker and the hub (on the database `dsn`, else a throw-away PostgreSQL), run `cabinets`
    workers, collect and sum up. Raises RuntimeError when a worker fails or the hub does not hold everything."""
    if cabinets < 1 or days < 1 or speed <= 0:
        raise ValueError("--cabinets and --days must be at least 1, --speed more than 0")
    if not os.path.exists("/usr/sbin/mosquitto"):
        raise RuntimeError("fleet mode needs Mosquitto (/usr/sbin/mosquitto; scripts/setup installs it)")
    from hub.service import Hub
    from sim.cloud.broker import Broker
    from sim.cloud.hub_db import hub_database
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = ["FLEET-%03d" % (i + 1) for i in range(cabinets)]
    with hub_database(dsn) as dsn:
        broker = Broker(out_dir / "broker").start()
        hub = None
        procs = []
        try:
            hub = Hub(dsn, "127.0.0.1", broker.port, worker_id="fleet-hub")
            for name in names:
                hub.register(name, cabinet_key(name), tenant=TENANT, site=SITE)
            hub.start()
            t0 = time.monotonic()
            for i, name in enumerate(names):
                cmd = [sys.executable, "-m", "sim.pilot.fleet", "--cabinet", name, "--seed", str(seed + i),
                       "--days", str(days), "--locations", str(locations), "--dir", str(out_dir),
                       "--port", str(broker.port), "--speed", str(speed)]
                procs.append(subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                              text=True))
            outs = []
            for name, proc in zip(names, procs):
                stdout, stderr = proc.communicate(timeout=WORKER_TIMEOUT_S)
                if proc.returncode != 0:
                    raise RuntimeError("cabinet %s failed (exit %s):\n%s" % (name, proc.returncode,
                                                                             (stderr or stdout)[-3000:]))
                outs.append(json.loads(stdout.strip().splitlines()[-1]))
                if progress:
                    progress(len(outs), cabinets)
            wall = time.monotonic() - t0
            for o in outs:                    # the hub holds what each cabinet wrote, every seq of it
                for stream, head in o["heads"].items():
                    if hub.watermark(o["cabinet"], stream) < head:
                        raise RuntimeError("the hub has %s %s up to %d of %d" % (
                            o["cabinet"], stream, hub.watermark(o["cabinet"], stream), head))
            s = hub.stats
            counts = {"received": s.received, "stored": s.stored, "duplicates": s.duplicates,
                      "rejected": s.rejected, "acks": s.acks, "resends": s.resends}
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            if hub is not None:
                hub.stop()
            broker.stop()
    return FleetResult(outs, wall, counts, figures(outs, wall, counts, days, speed))


def figures(outs, wall, rec, days, speed):
    n = len(outs)
    cpu = [o["cpu_s"] for o in outs]
    sync_cpu = [o["sync_cpu_s"] or 0.0 for o in outs]
    loop_cpu_per_day = sum(c - s for c, s in zip(cpu, sync_cpu)) / n / days
    sync_cpu_per_s = sum(s / o["wall_s"] for s, o in zip(sync_cpu, outs)) / n
    rows_per_day = sum(o["heads"]["tx"] for o in outs) / n / days
    takes_per_day = sum(o["takes"] for o in outs) / n / days
    # In real time a cabinet costs its pilot loop's CPU per day over 86 400 s, plus the sync thread's floor.
    realtime_cpu_per_s = loop_cpu_per_day / 86400 + sync_cpu_per_s
    return {
        "cabinets": n, "days": days, "speed": speed, "wall_s": round(wall, 2),
        "cpu_s_per_cabinet": {"mean": round(sum(cpu) / n, 3), "max": round(max(cpu), 3)},
        "sync_cpu_s_per_cabinet": round(sum(sync_cpu) / n, 3),
        "peak_rss_mb_per_cabinet": {"mean": round(sum(o["peak_rss_mb"] for o in outs) / n, 1),
                                    "max": max(o["peak_rss_mb"] for o in outs)},
        "broker_msgs_per_s": round((rec["received"] + rec["acks"] + rec["resends"]) / wall, 1),
        "up_msgs_per_s": round(rec["received"] / wall, 1),
        "rate_takes_per_day": round(takes_per_day, 1), "rate_ledger_rows_per_day": round(rows_per_day, 1),
        "loop_cpu_s_per_virtual_day": round(loop_cpu_per_day, 3),
        "sync_thread_cpu_per_wall_s": round(sync_cpu_per_s, 4),
        "cabinets_per_core_realtime": round(1 / realtime_cpu_per_s, 1) if realtime_cpu_per_s else None,
        "cabinets_per_core_at_speed": round(1 / (loop_cpu_per_day * speed / 86400 + sync_cpu_per_s), 2),
    }


def summary_lines(result):
    f = result.figures
    return [
        "fleet: %d cabinets x %d days at %gx real time in %.1f s" % (f["cabinets"], f["days"], f["speed"], f["wall_s"]),
        "per cabinet: CPU %.2f s (max %.2f, sync thread %.2f), peak RSS %.1f MB (max %.1f)" % (
            f["cpu_s_per_cabinet"]["mean"], f["cpu_s_per_cabinet"]["max"], f["sync_cpu_s_per_cabinet"],
            f["peak_rss_mb_per_cabinet"]["mean"], f["peak_rss_mb_per_cabinet"]["max"]),
        "broker: %.1f messages/s (%.1f up); the hub stored %d, %d duplicates, %d rejected, %d acks, %d resends" % (
            f["broker_msgs_per_s"], f["up_msgs_per_s"], result.hub["stored"], result.hub["duplicates"],
            result.hub["rejected"], result.hub["acks"], result.hub["resends"]),
        "at the pilot's rate (%.0f takes, %.0f ledger rows a day per cabinet) in real time: %s cabinets per core"
        % (f["rate_takes_per_day"], f["rate_ledger_rows_per_day"], f["cabinets_per_core_realtime"]),
    ]


def worker_main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m sim.pilot.fleet", description="one fleet cabinet (a worker)")
    ap.add_argument("--cabinet", required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--days", type=int, required=True)
    ap.add_argument("--locations", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--speed", type=float, required=True)
    return worker(ap.parse_args(argv))


if __name__ == "__main__":
    sys.exit(worker_main())
