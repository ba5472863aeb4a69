"""Refusal rows a flood of bad down messages writes into the cabinet's outbox (issue 14, item 7; decision 0027).

A cloud holding the wrong key (or two cabinets sharing one id) sends badly signed messages at `--rate` per
second for `--seconds`: each goes through the agent's real checks (Commands.handle, as the sync thread calls
it for every message from the broker) on a real ledger file, in real time, the sync loop's flush called as
its loop would. Counted: the command_result rows written (each an fsynced outbox row that then goes up to the
cloud), per minute and per second, and how many refusals they account for.

--feedback: the issue's case end to end instead: the agent process (`locker-agent run`, a simulated
cabinet) and the hub (on a throw-away PostgreSQL, or --db DSN) holding the wrong key, over a real
Mosquitto. Every batch the agent sends is acked with a bad signature; each refusal is an event, which goes
up in a batch, which is acked again...
Counted: command_result rows in the agent's ledger over `--seconds`.

Run it on a checkout of 3915619 (copy this file there) for the figure before. The last line is JSON.
Usage: .venv/bin/python bench/cloud_refusals.py [--rate N] [--seconds S] [--feedback [--db DSN]] [--dir DIR]"""
import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge_agent.app.config import AgentConfig, CloudConfig  # noqa: E402
from edge_agent.cloud import envelope, outbox  # noqa: E402
from edge_agent.cloud.commands import Commands  # noqa: E402
from edge_agent.cloud.sync import CloudSync  # noqa: E402
from tests.ledgers import ledger_from_csv  # noqa: E402

CABINET = "CAB-1"


def feedback(seconds, parent, dsn=None):
    """command_result rows per minute in a real agent's ledger while the cloud (the hub, on `dsn` or a
    throw-away PostgreSQL) acks with the wrong key."""
    from hub.service import Hub
    from sim.cloud.hub_db import hub_database
    from tests.agent_process import ledger_of
    from tests.test_cloud_sync import CABINET as SITE_CABINET, Site
    with tempfile.TemporaryDirectory(dir=parent) as tmp, hub_database(dsn) as dsn:
        site = Site(Path(tmp), hub_dsn=dsn)
        try:
            site.broker.start()
            site.cloud = Hub(dsn, "127.0.0.1", site.broker.port, grace_s=1.0)
            site.cloud.register(SITE_CABINET, bytes(32), tenant="acme", site="plant1")   # not the cabinet's key
            site.cloud.start()
            site.start_agent()
            site.issue(2)
            start = time.monotonic()
            time.sleep(seconds)         # a benchmark: real time is what is measured
            elapsed = time.monotonic() - start
            site.agent.stop()
            with ledger_of(site.folder) as ledger:
                batch = outbox.read_batch(ledger, "events", 0, 10 ** 6, 10 ** 9)
                rows = [e for e in (batch.items if batch else []) if e["type"] == "command_result"]
            accounted = sum(e.get("count", 1) for e in rows)
        finally:
            site.close()
    report("the cloud acking with the wrong key for %(seconds)s s: %(rows)d command_result rows in the agent's "
           "outbox, %(rows_per_min)s rows/min (%(rows_per_s)s rows/s), standing for %(refusals_accounted)d "
           "refusals", elapsed, rows, accounted, mode="feedback")


def report(words, elapsed, rows, accounted, **more):
    figures = dict(more, bench="cloud_refusals", seconds=round(elapsed, 1), rows=len(rows),
                   rows_per_min=round(len(rows) / elapsed * 60, 1), rows_per_s=round(len(rows) / elapsed, 3),
                   refusals_accounted=accounted)
    print(words % figures)
    print(json.dumps(figures))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=20.0, help="bad messages per second (default 20)")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--feedback", action="store_true", help="the agent process and a cloud with the wrong key")
    parser.add_argument("--db", metavar="DSN", help="--feedback: the hub's PostgreSQL (default: a throw-away one)")
    parser.add_argument("--dir", help="where its temporary folder goes (default: the system's)")
    args = parser.parse_args()
    if args.feedback:
        return feedback(args.seconds, args.dir, args.db)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp)
        ledger = ledger_from_csv(folder, skus="part_number,description\nGLV,Gloves\n",
                                 locations="id,kind,unit,sku,on_hand,min,max\nL1,lane,1,GLV,5,2,8\n",
                                 users="id,name,role\nT1,Ana,technician\n")
        key = bytes(range(32))
        (folder / "key").write_text(key.hex())
        cloud = CloudConfig(host="127.0.0.1", tenant="acme", site="plant1", key_file=folder / "key")
        sync = CloudSync(lambda: ledger, AgentConfig(cabinet_id=CABINET, ledger=folder / "ledger.db",
                                                     cabinet_port="none", cloud=cloud), cloud)
        sync.key, sync.ledger = key, ledger
        commands = Commands(sync)
        flush = getattr(commands, "flush", lambda everything=False: None)     # 3915619 has none
        start = time.monotonic()
        sent = 0
        while time.monotonic() - start < args.seconds:
            wait = start + sent / args.rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            env = envelope.sign(bytes(32), CABINET, "resend", {"stream": "tx", "from_seq": 1},
                                envelope.instant(ledger.clock.wall()[0]))
            commands.handle(sync.topics.cmd, json.dumps(env).encode())
            flush()
            sent += 1
        elapsed = time.monotonic() - start
        batch = outbox.read_batch(ledger, "events", 0, 10 ** 6, 10 ** 9)
        rows = [e for e in (batch.items if batch else []) if e["type"] == "command_result"]
        flush(everything=True)                       # at a stop, what was still being counted is written
        batch = outbox.read_batch(ledger, "events", 0, 10 ** 6, 10 ** 9)
        accounted = sum(e.get("count", 1) for e in batch.items if e["type"] == "command_result")
        ledger.close()
    report("%(messages)d badly signed messages in %(seconds)s s (%(offered_per_s)s/s): %(rows)d command_result "
           "rows, %(rows_per_min)s rows/min (%(rows_per_s)s rows/s); the rows account for %(refusals_accounted)d "
           "refusals", elapsed, rows, accounted, mode="flood", offered_per_s=args.rate, messages=sent)


if __name__ == "__main__":
    main()
