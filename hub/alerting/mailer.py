"""The alert mail outbox (alert_mail) and its sending over SMTP (smtplib). One row is one mail, sent at most
once: a process takes a due row with FOR UPDATE SKIP LOCKED (another process skips it), hands the mail to the
server and marks it sent in the same transaction. A mail the server does not take (down, refusing, timing out)
stays queued with the error and is tried again later (RETRY_MINUTES); a connection that fails ends the round,
so a down server is not asked once per mail. The server and sender: hub settings alert_smtp (host:port) and
alert_mail_from, or what the caller gives (`locker-hub alert send --smtp host:port --from ...`)."""
import datetime
import email.utils
import hashlib
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage

from hub import registry
from hub.alerting import escalation, fleet

RETRY_MINUTES = (1, 2, 5, 10, 30, 60)    # after the 1st, 2nd, ... failure; then every 60
TIMEOUT_S = 20
ROUND_LIMIT = 200                          # mails per run of the job at most


class MailError(Exception):
    """Mail cannot be sent as configured; the words say what to set."""


@dataclass
class Smtp:
    host: str
    port: int
    sender: str
    web_url: str = ""                      # the web app's address, for the link to the alert's page


def host_port(text):
    host, _, port = (text or "").rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise MailError("%r: give the SMTP server as host:port, e.g. mail.example.com:25" % text)
    return host.strip("[]"), int(port)


def configured(conn, smtp=None, sender=None, web_url=None):
    """The server and sender: the arguments where given, else the hub settings; None when there is no server."""
    with conn.transaction():
        server = smtp or registry.setting(conn, "alert_smtp")
        sender = sender or registry.setting(conn, "alert_mail_from")
        web_url = web_url or registry.setting(conn, "alert_web_url") or ""
    if not server:
        return None
    host, port = host_port(server)
    if not sender:
        raise MailError("no sender address: locker-hub alert settings --from alerts@your-domain (or --from)")
    return Smtp(host, port, sender, web_url.rstrip("/"))


def retry_after(attempts):
    return datetime.timedelta(minutes=RETRY_MINUTES[min(attempts, len(RETRY_MINUTES)) - 1])


def waiting(conn, now):
    return conn.execute("SELECT count(*) AS n FROM alert_mail WHERE sent_at IS NULL AND cancelled_at IS NULL "
                        "AND next_try_at <= %s", [now]).fetchone()["n"]


# -- the mail --------------------------------------------------------------------------------------------------
def _utc(when):
    return when.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def compose(alert, mail, rule, smtp, now):
    """The e-mail for one outbox row: the site, cabinet, location, kind, detail, when, and the alert's page."""
    level = mail["level"]
    where = alert["cabinet"] + (" " + alert["location"] if alert["location"] else "")
    msg = EmailMessage()
    msg["Subject"] = "[%s] %s at %s (%s)%s" % (alert["severity"], alert["kind_words"], alert["site_name"], where,
                                               " - not acknowledged, level %d" % level if level else "")
    msg["From"] = smtp.sender
    msg["To"] = mail["recipient"]
    msg["Date"] = email.utils.format_datetime(now)
    # The same id for the same (alert, recipient, level): a mail system that sees it twice can tell.
    digest = hashlib.sha256(mail["recipient"].encode()).hexdigest()[:12]
    msg["Message-ID"] = "<alert-%d-L%d-%s@%s>" % (alert["id"], level, digest, smtp.sender.rpartition("@")[2])
    link = "%s/alerts/%d" % (smtp.web_url, alert["id"])
    raised = ("%s by the cabinet's clock%s; " % (alert["raised_wall"], "" if alert["clock_synced"] else
                                                 " (not synchronised)") if alert["raised_wall"] else "")
    lines = [
        "%s at %s" % (alert["kind_words"], alert["site_name"]),
        "",
        "Site:      %s (%s)%s" % (alert["site_name"], alert["site"],
                                  ", customer %s" % alert["customer"] if alert["customer"] else ""),
        "Cabinet:   %s" % alert["cabinet"],
        "Location:  %s" % (alert["location"] or "the cabinet as a whole"),
        "Kind:      %s (%s), %s" % (alert["kind"], alert["kind_words"], alert["severity"]),
        "Detail:    %s" % (alert["detail"] or "-"),
        "When:      %sthe hub knew at %s" % (raised, _utc(alert["known_at"])),
        "Open for:  %s, not acknowledged" % fleet.age_words(alert["known_at"], now),
        "",
    ]
    if level and rule is not None:
        earlier = rule["levels"][level - 1]
        lines.append("Escalation level %d: nobody acknowledged it within %d minutes (level %d went to %s)."
                     % (level, rule["levels"][level]["after_minutes"], level - 1, ", ".join(earlier["to"])))
    lines.append("See it and acknowledge it with a note: %s" % link)
    if rule is not None:
        lines += ["", "You get this through alert rule %d of %s." % (rule["id"], rule["tenant"])]
    msg.set_content("\n".join(lines) + "\n")
    return msg


# -- sending ---------------------------------------------------------------------------------------------------
def send_due(conn, now, smtp):
    """Send the mail due at `now`, each at most once; returns how many the server took."""
    sent = 0
    server = None
    try:
        for _ in range(ROUND_LIMIT):
            with conn.transaction():
                mail = conn.execute(
                    "SELECT m.*, r.tenant AS rule_tenant FROM alert_mail m LEFT JOIN alert_rules r ON r.id = m.rule "
                    "WHERE m.sent_at IS NULL AND m.cancelled_at IS NULL AND m.next_try_at <= %s "
                    "ORDER BY m.next_try_at, m.alert, m.level, m.recipient LIMIT 1 FOR UPDATE OF m SKIP LOCKED",
                    [now]).fetchone()
                if mail is None:
                    break
                alert = fleet.get(conn, mail["alert"])
                if alert is None or escalation.settled(alert):     # acknowledged since it was queued
                    conn.execute("UPDATE alert_mail m SET cancelled_at = %s, cancelled_why = coalesce(("
                                 "SELECT " + escalation.SETTLED_WHY + " FROM fleet_alerts f WHERE f.id = m.alert), "
                                 "'cabinet removed') WHERE alert = %s AND recipient = %s AND level = %s",
                                 [now, mail["alert"], mail["recipient"], mail["level"]])
                    continue
                rule = conn.execute("SELECT * FROM alert_rules WHERE id = %s", [mail["rule"]]).fetchone()
                msg = compose(alert, mail, rule, smtp, now)
                try:
                    if server is None:
                        server = smtplib.SMTP(smtp.host, smtp.port, timeout=TIMEOUT_S)
                    server.send_message(msg, from_addr=smtp.sender, to_addrs=[mail["recipient"]])
                except (OSError, smtplib.SMTPException) as e:
                    conn.execute("UPDATE alert_mail SET attempts = attempts + 1, next_try_at = %s, last_error = %s "
                                 "WHERE alert = %s AND recipient = %s AND level = %s",
                                 [now + retry_after(mail["attempts"] + 1), _words(e, smtp), mail["alert"],
                                  mail["recipient"], mail["level"]])
                    if _connection_lost(e):
                        server = _close(server)
                        break
                    continue
                conn.execute("UPDATE alert_mail SET sent_at = %s, attempts = attempts + 1, last_error = NULL "
                             "WHERE alert = %s AND recipient = %s AND level = %s",
                             [now, mail["alert"], mail["recipient"], mail["level"]])
                sent += 1
    finally:
        _close(server)
    return sent


def _connection_lost(e):
    return isinstance(e, (OSError, smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError,
                          smtplib.SMTPHeloError))


def _words(e, smtp):
    if isinstance(e, smtplib.SMTPRecipientsRefused):
        return "refused by %s:%d: %s" % (smtp.host, smtp.port, "; ".join(
            "%s %s" % (code, msg.decode("utf-8", "replace")) for code, msg in e.recipients.values()))
    if isinstance(e, smtplib.SMTPResponseException):
        return "refused by %s:%d: %s %s" % (smtp.host, smtp.port, e.smtp_code,
                                             e.smtp_error.decode("utf-8", "replace") if isinstance(
                                                 e.smtp_error, bytes) else e.smtp_error)
    return "cannot reach %s:%d: %s" % (smtp.host, smtp.port, e or type(e).__name__)


def _close(server):
    if server is not None:
        try:
            server.quit()
        except (OSError, smtplib.SMTPException):
            server.close()
    return None
