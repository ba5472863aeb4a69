"""The hub's scheduled work (alert escalation and mail, order batches and deliveries, ...): each module named
in JOBS has `run_due(conn, now) -> int`, which does what is due at `now` (an aware UTC datetime) and returns how
many things it did. `now` comes from the caller (the CLI's wall clock, a pilot's virtual clock), never from the
job, so escalations and cut-offs are testable and a simulated month runs in seconds.

Any number of hub processes may run the jobs at once: each job claims its work with row locks (FOR UPDATE
SKIP LOCKED) or unique keys, so nothing is done twice. One job's failure is reported and the others still run.
"""
import importlib
import logging

log = logging.getLogger("hub.jobs")

JOBS = ["hub.routes.freeze", "hub.orders.propose", "hub.orders.deliveries", "hub.orders.outbox",
        "hub.alerting.job"]


def modules():
    return [(name, importlib.import_module(name)) for name in JOBS]


def run_all(conn, now, report=None):
    """Run every job once at `now`; returns {module name: things done} (an exception's text for a failed one)."""
    done = {}
    for name, module in modules():
        try:
            done[name] = module.run_due(conn, now)
            if not conn.autocommit:
                conn.commit()          # each job's work is durable (and its row locks gone) before the next
        except Exception as e:  # noqa: BLE001 - one job's fault must not stop the others; it is reported
            if not conn.closed and conn.info.transaction_status != 0:
                conn.rollback()
            log.exception("job %s failed", name)
            done[name] = "failed: %s" % e
        if report is not None:
            report("%s: %s" % (name, done[name]))
    return done
