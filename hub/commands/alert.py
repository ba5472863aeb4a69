"""`locker-hub alert list|show|ack|send|settings|rule`: the fleet's alerts and who hears of them
(docs/hub/alerts.md). `rule add` routes a tenant's alerts (a site, a supplier, a kind, at least a severity) to
e-mail addresses or web users, with escalation levels (--then MINUTES:WHO); `send` runs the alert job once now
(offline cabinets, escalation, the mail outbox); `ack` acknowledges an alert on the hub with a note, which stops
its mail. The acknowledgement is the hub's: the contract has no down message to acknowledge at the cabinet."""
import argparse
import datetime

from hub import db, registry
from hub.alerting import fleet, job, mailer, routing

EXIT_REFUSED = 2


def add_parser(sub):
    p = sub.add_parser("alert", help="the fleet's alerts, their routing rules and their mail", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    what = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    ls = what.add_parser("list", help="the open alerts, most severe first (or oldest first: --sort age)")
    ls.add_argument("--tenant", help="only this tenant's")
    ls.add_argument("--site", help="only this site's")
    ls.add_argument("--sort", choices=("severity", "age"), default="severity")
    ls.set_defaults(run=run_list)

    show = what.add_parser("show", help="one alert, with its mail (sent, waiting, cancelled)")
    show.add_argument("id", type=int)
    show.set_defaults(run=run_show)

    ack = what.add_parser("ack", help="acknowledge an alert on the hub with a note: no more mail for it")
    ack.add_argument("id", type=int)
    ack.add_argument("--by", required=True, help="who acknowledges it (your name or web user id)")
    ack.add_argument("--note", required=True, help="what was done, 1 to %d characters" % fleet.NOTE_MAX)
    ack.set_defaults(run=run_ack)

    send = what.add_parser("send", help="run the alert job once now: offline cabinets, escalation, the mail")
    send.add_argument("--smtp", metavar="HOST:PORT", help="the SMTP server (default: the alert_smtp setting)")
    send.add_argument("--from", dest="sender", metavar="ADDRESS", help="the sender (default: alert_mail_from)")
    send.add_argument("--web-url", metavar="URL", help="the web app's address for links (default: alert_web_url)")
    send.set_defaults(run=run_send)

    st = what.add_parser("settings", help="show or set the SMTP server, sender, web address and offline minutes")
    st.add_argument("--smtp", metavar="HOST:PORT")
    st.add_argument("--from", dest="sender", metavar="ADDRESS")
    st.add_argument("--web-url", metavar="URL", help="e.g. https://hub.example.com (links in the mail)")
    st.add_argument("--offline-minutes", type=int, metavar="N",
                    help="a cabinet offline this long raises cabinet_offline (default %d)" % fleet.OFFLINE_MINUTES)
    st.set_defaults(run=run_settings)

    rule = what.add_parser("rule", help="routing rules: add, list, remove")
    rules = rule.add_subparsers(dest="rule_action", required=True, metavar="ACTION")
    add = rules.add_parser("add", help="route a tenant's alerts to people", epilog=(
        "example: locker-hub alert rule add --tenant acme --site plant1 --severity critical "
        "--to ops@acme.example --then 30:lead@acme.example --then 120:user:boss@acme.example"))
    add.add_argument("--tenant", required=True, help="the supplier whose alerts it routes (only theirs)")
    add.add_argument("--site", help="only this site's alerts (default: any site)")
    add.add_argument("--supplier", help="only alerts at a location stocked by this supplier (default: any)")
    add.add_argument("--kind", help="only this kind (default: any; e.g. stockout, low_stock, cabinet_offline)")
    add.add_argument("--severity", default="warning", choices=fleet.SEVERITIES,
                     help="at least this severity (default warning)")
    add.add_argument("--to", required=True, metavar="WHO[,WHO]",
                     help="level 0: e-mail addresses or user:<web user id>, comma separated")
    add.add_argument("--after", type=int, default=0, metavar="MINUTES",
                     help="level 0 waits this long after the alert (default 0: at once)")
    add.add_argument("--then", action="append", default=[], metavar="MINUTES:WHO[,WHO]",
                     help="an escalation level: told when still unacknowledged MINUTES after the alert (repeat)")
    add.add_argument("--note", default="", help="why the rule is there")
    add.set_defaults(run=run_rule_add)
    rls = rules.add_parser("list", help="the rules, with their levels")
    rls.add_argument("--tenant", help="only this tenant's")
    rls.set_defaults(run=run_rule_list)
    rm = rules.add_parser("remove", help="remove a rule (its mail on record stays)")
    rm.add_argument("id", type=int)
    rm.add_argument("--tenant", help="refuse unless the rule is this tenant's")
    rm.set_defaults(run=run_rule_remove)


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _when(t):
    return t.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M") if t else "-"


def _refused(out, e):
    out("refused: %s" % e)
    return EXIT_REFUSED


def run_list(args, out):
    now = _now()
    with db.connect(args.dsn) as conn:
        found = fleet.open_alerts(conn, args.tenant, [args.site] if args.site else None, sort=args.sort)
    out("%6s %-8s %-22s %-12s %-12s %-8s %-10s %s" % ("ID", "SEVERITY", "KIND", "SITE", "CABINET", "WHERE", "OPEN FOR",
                                                      "DETAIL / ACKNOWLEDGED"))
    for a in found:
        ack = (" [acknowledged by %s: %s]" % (a["acked_by"], a["acked_note"]) if a["acked_at"] else
               " [acknowledged at the cabinet by %s: %s]" % (a["site_ack_by"], a["site_ack_note"])
               if a["site_ack_at"] else "")
        out("%6d %-8s %-22s %-12s %-12s %-8s %-10s %s%s" % (
            a["id"], a["severity"], a["kind"], a["site"], a["cabinet"], a["location"] or "-",
            fleet.age_words(a["known_at"], now), a["detail"], ack))
    out("%d open" % len(found))
    return 0


def run_show(args, out):
    with db.connect(args.dsn) as conn:
        a = fleet.get(conn, args.id)
        if a is None:
            return _refused(out, "no alert %d (locker-hub alert list)" % args.id)
        mails = conn.execute("SELECT * FROM alert_mail WHERE alert = %s ORDER BY level, recipient",
                             [args.id]).fetchall()
    out("alert %d: %s (%s, %s) at %s/%s cabinet %s %s" % (a["id"], a["kind_words"], a["kind"], a["severity"],
                                                        a["tenant"], a["site"], a["cabinet"], a["location"] or ""))
    out("detail: %s" % a["detail"])
    out("raised: %s by the cabinet's clock; the hub knew at %s" % (a["raised_wall"] or "-", _when(a["known_at"])))
    if a["site_ack_at"]:
        out("acknowledged at the cabinet by %s at %s: %s"
            % (a["site_ack_by"], _when(a["site_ack_at"]), a["site_ack_note"]))
    if a["acked_at"]:
        out("acknowledged on the hub by %s at %s: %s" % (a["acked_by"], _when(a["acked_at"]), a["acked_note"]))
    out("cleared: %s" % ("%s (%s)" % (_when(a["cleared_at"]), a["cleared_how"]) if a["cleared_at"] else "no, open"))
    for m in mails:
        state = ("sent %s" % _when(m["sent_at"]) if m["sent_at"] else
                 "cancelled %s: %s" % (_when(m["cancelled_at"]), m["cancelled_why"]) if m["cancelled_at"] else
                 "waiting, next try %s (%d tries%s)" % (_when(m["next_try_at"]), m["attempts"],
                                                        ": " + m["last_error"] if m["last_error"] else ""))
        out("mail level %d to %s: %s" % (m["level"], m["recipient"], state))
    return 0


def run_ack(args, out):
    with db.connect(args.dsn) as conn:
        try:
            a = fleet.acknowledge(conn, args.id, args.by, args.note, _now())
        except fleet.AlertError as e:
            return _refused(out, e)
    out("alert %d acknowledged by %s at %s: no more mail for it" % (a["id"], a["acked_by"], _when(a["acked_at"])))
    return 0


def run_send(args, out):
    with db.connect(args.dsn) as conn:
        try:
            smtp = mailer.configured(conn, args.smtp, args.sender, args.web_url)
            done = job.run_due(conn, _now(), smtp=smtp)
        except mailer.MailError as e:
            return _refused(out, e)
    out("alert job: %d done" % done)
    return 0


SETTINGS = (("smtp", "alert_smtp"), ("sender", "alert_mail_from"), ("web_url", "alert_web_url"),
            ("offline_minutes", "alert_offline_minutes"))


def run_settings(args, out):
    try:
        if args.smtp:
            mailer.host_port(args.smtp)
        if args.sender and not routing.EMAIL.match(args.sender):
            raise mailer.MailError("%r is not an e-mail address" % args.sender)
        if args.offline_minutes is not None and args.offline_minutes < 1:
            raise mailer.MailError("--offline-minutes: 1 or more")
    except mailer.MailError as e:
        return _refused(out, e)
    with db.connect(args.dsn) as conn, conn.transaction():
        for attr, name in SETTINGS:
            value = getattr(args, attr)
            if value is not None:
                registry.set_setting(conn, name, str(value))
        for _, name in SETTINGS:
            out("%-22s %s" % (name, registry.setting(conn, name) or "(not set)"))
    return 0


def run_rule_add(args, out):
    with db.connect(args.dsn) as conn:
        try:
            levels = [(args.after, routing.who_list(args.to))] + [routing.parse_step(step) for step in args.then]
            rule_id = routing.add_rule(conn, args.tenant, levels, site=args.site, supplier=args.supplier,
                                       kind=args.kind, min_severity=args.severity, note=args.note)
        except (routing.RuleError, registry.RegistryError) as e:
            return _refused(out, e)
        rule = conn.execute("SELECT * FROM alert_rules WHERE id = %s", [rule_id]).fetchone()
    out("rule %d: %s" % (rule_id, routing.describe(rule)))
    return 0


def run_rule_list(args, out):
    with db.connect(args.dsn) as conn:
        for rule in routing.rules(conn, args.tenant):
            out("rule %d (%s): %s%s" % (rule["id"], rule["tenant"], routing.describe(rule),
                                        "  # " + rule["note"] if rule["note"] else ""))
    return 0


def run_rule_remove(args, out):
    with db.connect(args.dsn) as conn:
        try:
            routing.remove_rule(conn, args.id, args.tenant)
        except routing.RuleError as e:
            return _refused(out, e)
    out("rule %d removed" % args.id)
    return 0
