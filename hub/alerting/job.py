"""The alert job (hub/jobs.py JOBS): at `now`, raise and clear the offline alerts, cancel the mail of alerts
settled meanwhile, queue the levels that are due, and send what the outbox holds. Run by `locker-hub jobs`
(the SMTP server from the hub settings) or `locker-hub alert send` (--smtp). The connection must have no
transaction open: each step commits its own, so row locks are short and several processes can run it."""
from hub.alerting import escalation, fleet, mailer


def run_due(conn, now, smtp=None):
    """Returns how many things it did (alerts raised or cleared, mails cancelled, queued and sent). Raises
    MailError when mail waits and no SMTP server is set, after doing the rest."""
    done = fleet.sync_offline(conn, now)
    done += escalation.cancel_settled(conn, now)
    done += escalation.enqueue_due(conn, now)
    with conn.transaction():
        server = smtp or mailer.configured(conn)
        waiting = mailer.waiting(conn, now)
    if server is None:
        if waiting:
            raise mailer.MailError("%d alert mails wait: no SMTP server is set (locker-hub alert settings --smtp "
                                   "HOST:PORT --from ADDRESS)" % waiting)
        return done
    return done + mailer.send_due(conn, now, server)
