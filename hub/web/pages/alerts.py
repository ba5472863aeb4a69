"""The open alerts of the whole fleet on one screen (docs/hub/alerts.md "Seeing them"): every open alert of the
sites the viewer may see, most severe first or oldest first; each alert's page says where, what, since when,
who acknowledged it (on the hub or at the cabinet), and to those who may (alerts.ack) offers Acknowledge with a
note, which stops its mail. The supplier's people with alerts.rules also see who was mailed."""
import datetime

from starlette.responses import RedirectResponse
from starlette.routing import Route

from hub.alerting import fleet, routing
from hub.registry import RegistryError
from hub.web.html import Html, cell, esc, form, link, page, table
from hub.web.posted import form_fields
from hub.web.viewer import now, require

NAV = (("Alerts", "/alerts", "alerts.view"), ("Alert rules", "/alerts/rules", "alerts.rules"))
SORTS = {"severity": "most severe first", "age": "oldest first"}


def _when(t):
    return t.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if t else ""


def _scope(viewer, conn):
    """(tenant, sites or None): a customer's people see their customer's sites only."""
    return viewer.tenant, (viewer.sites(conn) if viewer.is_customer else None)


def _severity(a):
    return Html('<span class="sev-%s">%s</span>' % (esc(a["severity"]), esc(a["severity"])))


def _acknowledged(a):
    if a["acked_at"]:
        return "%s: %s" % (a["acked_by"], a["acked_note"])
    if a["site_ack_at"]:
        return "at the cabinet, %s: %s" % (a["site_ack_by"], a["site_ack_note"])
    return ""


def alerts_page(request):
    viewer = require(request, "alerts.view")
    sort = request.query_params.get("sort", "severity")
    if sort not in SORTS:
        sort = "severity"
    at = now(request)
    with request.app.state.pool.connection() as conn:
        tenant, sites = _scope(viewer, conn)
        found = fleet.open_alerts(conn, tenant, sites, sort=sort)
    counts = {s: sum(1 for a in found if a["severity"] == s) for s in fleet.SEVERITIES}
    summary = "%d open: %s" % (len(found), ", ".join("%d %s" % (counts[s], s) for s in reversed(fleet.SEVERITIES)))
    sorting = " · ".join(esc(words) if key == sort else link("/alerts?sort=%s" % key, words)
                         for key, words in SORTS.items())
    cells = [[_severity(a), link("/alerts/%d" % a["id"], a["kind_words"]), a["customer"], a["site_name"], a["cabinet"],
              a["location"] or "cabinet", a["detail"], fleet.age_words(a["known_at"], at), _acknowledged(a)]
             for a in found]
    body = Html('<p>%s</p><p class="actions">Sort: %s</p>' % (esc(summary), sorting)
                + table(["Severity", "Alert", "Customer", "Site", "Cabinet", "Where", "Detail", "Open for",
                         "Acknowledged"], cells, empty="No open alerts at the sites you see."))
    return page(request, viewer, "Alerts", body)


def _alert_for(viewer, conn, alert_id):
    tenant, sites = _scope(viewer, conn)
    a = fleet.get(conn, alert_id)
    if a is None or a["tenant"] != tenant or (sites is not None and a["site"] not in sites):
        return None
    return a


def alert_page(request, message=None, status=200):
    viewer = require(request, "alerts.view")
    alert_id = request.path_params["id"]
    at = now(request)
    with request.app.state.pool.connection() as conn:
        a = _alert_for(viewer, conn, alert_id)
        if a is None:
            return page(request, viewer, "No such alert",
                        Html('<p class="refusal">No alert %d at the sites you see.</p>' % alert_id), status=404)
        mails = conn.execute("SELECT * FROM alert_mail WHERE alert = %s ORDER BY level, recipient",
                             [alert_id]).fetchall() if viewer.may("alerts.rules") else []
    facts = [
        ["Severity", _severity(a)], ["Kind", "%s (%s)" % (a["kind_words"], a["kind"])],
        ["Site", "%s (%s)%s" % (a["site_name"], a["site"], ", customer %s" % a["customer"] if a["customer"] else "")],
        ["Cabinet", a["cabinet"]], ["Where", a["location"] or "the cabinet as a whole"], ["Detail", a["detail"]],
        ["Raised", "%s by the cabinet's clock" % a["raised_wall"] if a["raised_wall"] else "by the hub"],
        ["The hub knew", "%s (%s ago)" % (_when(a["known_at"]), fleet.age_words(a["known_at"], at))],
    ]
    if a["site_ack_at"]:
        facts.append(["Acknowledged at the cabinet", "by %s, %s: %s" % (a["site_ack_by"], _when(a["site_ack_at"]),
                                                                        a["site_ack_note"])])
    if a["acked_at"]:
        facts.append(["Acknowledged", "by %s, %s: %s" % (a["acked_by"], _when(a["acked_at"]), a["acked_note"])])
    facts.append(["State", "over %s (%s)" % (_when(a["cleared_at"]), a["cleared_how"]) if a["cleared_at"] else
                  "open" + ("" if a["acknowledged"] else ", not acknowledged: its rules' escalation goes on")])
    parts = ['<p class="refusal">%s</p>' % esc(message) if message else "",
             "<dl>%s</dl>" % "".join("<dt>%s</dt><dd>%s</dd>" % (esc(k), cell(v)) for k, v in facts)]
    if viewer.may("alerts.ack") and a["acked_at"] is None and a["cleared_at"] is None:
        parts.append("<h2>Acknowledge</h2><p>Say what was done; no more mail goes out for it. The alert stays open at "
                     "the cabinet until it ends there.</p>")
        parts.append(form(request, "/alerts/%d/ack" % alert_id, Html(
            '<label>Note <input type="text" name="note" maxlength="%d" required size="60"></label>' % fleet.NOTE_MAX),
            submit="Acknowledge"))
    if mails:
        parts.append("<h2>Mail</h2>")
        parts.append(table(["Level", "To", "State"], [[m["level"], m["recipient"], _mail_state(m)] for m in mails]))
    parts.append("<p>%s</p>" % link("/alerts", "All open alerts"))
    return page(request, viewer, "%s at %s" % (a["kind_words"], a["site_name"]), Html("".join(parts)), status=status)


def _mail_state(m):
    if m["sent_at"]:
        return "sent %s" % _when(m["sent_at"])
    if m["cancelled_at"]:
        return "not sent: %s" % m["cancelled_why"]
    return "waiting (%d tries%s)" % (m["attempts"], ", " + m["last_error"] if m["last_error"] else "")


def acknowledge(request):
    viewer = require(request, "alerts.ack")
    alert_id = request.path_params["id"]
    note = form_fields(request).get("note", "")
    try:
        with request.app.state.pool.connection() as conn:
            tenant, sites = _scope(viewer, conn)
            fleet.acknowledge(conn, alert_id, viewer.user, note, now(request), tenant=tenant, sites=sites)
    except fleet.AlertError as e:
        words = str(e)
        return alert_page(request, words[:1].upper() + words[1:], status=400)
    return RedirectResponse("/alerts/%d" % alert_id, 303)


# -- the routing rules (alerts.rules: the supplier's admin) --------------------------------------------------
def _select(label, name, options):
    """options: [(value, text)]; the first is chosen."""
    return Html('<label>%s <select name="%s">%s</select></label>' % (esc(label), esc(name), "".join(
        '<option value="%s">%s</option>' % (esc(v), esc(t)) for v, t in options)))


def _input(label, name, value="", size=30, placeholder=""):
    return Html('<label>%s <input type="text" name="%s" value="%s" size="%d" placeholder="%s"></label>'
                % (esc(label), esc(name), esc(value), size, esc(placeholder)))


def rules_page(request, message=None, status=200):
    viewer = require(request, "alerts.rules")
    with request.app.state.pool.connection() as conn:
        found = routing.rules(conn, viewer.tenant)
        sites = conn.execute("SELECT id, name FROM sites WHERE tenant = %s ORDER BY name", [viewer.tenant]).fetchall()
    cells = []
    for r in found:
        levels = "; ".join("level %d after %d min: %s" % (n, lv["after_minutes"], ", ".join(lv["to"]))
                           for n, lv in enumerate(r["levels"]))
        cells.append([r["id"], r["site"] or "any", r["supplier"] or "any", r["kind"] or "any",
                      "%s or more" % r["min_severity"], levels, r["note"],
                      form(request, "/alerts/rules/remove",
                           Html('<input type="hidden" name="rule" value="%d">' % r["id"]), submit="Remove")])
    add = form(request, "/alerts/rules", Html(
        _select("Site", "site", [("", "any site")] + [(s["id"], s["name"]) for s in sites])
        + _input("Supplier", "supplier", size=16, placeholder="any")
        + _select("Kind", "kind", [("", "any kind")] + [(k, fleet.words(k)) for k in fleet.KINDS])
        + _select("At least", "severity", [("warning", "warning"), ("critical", "critical"), ("info", "info")])
        + "<br>" + _input("Tell (e-mail or user:id, comma separated)", "to", size=40)
        + _input("after minutes", "after", "0", size=4)
        + "<br>" + _input("Then, if nobody acknowledged it (MINUTES:WHO; another after a semicolon)", "then", size=50,
                          placeholder="30:lead@example.com; 120:user:boss@example.com")
        + "<br>" + _input("Note", "note", size=50)), submit="Add rule")
    body = Html(('<p class="refusal">%s</p>' % esc(message) if message else "")
                + "<p>Each open alert of your tenant goes to every rule it matches: its site (or any), the supplier "
                  "of the SKU at its location (or any), its kind (or any), at least the severity. Level 0 is told "
                  "at once (or after its minutes); each later level when the alert is still open and nobody "
                  "acknowledged it that many minutes after the hub knew of it.</p>"
                + table(["Rule", "Site", "Supplier", "Kind", "Severity", "Who is told", "Note", ""], cells,
                        empty="No rules yet: alerts reach nobody by mail.")
                + "<h2>Add a rule</h2>" + add)
    return page(request, viewer, "Alert rules", body, status=status)


def add_rule(request):
    viewer = require(request, "alerts.rules")
    f = form_fields(request)
    try:
        after = f.get("after", "0").strip() or "0"
        if not after.isdigit():
            raise routing.RuleError("after minutes: a whole number, 0 or more")
        levels = [(int(after), routing.who_list(f.get("to", "")))]
        levels += [routing.parse_step(step) for step in f.get("then", "").split(";") if step.strip()]
        with request.app.state.pool.connection() as conn:
            routing.add_rule(conn, viewer.tenant, levels, site=f.get("site") or None,
                             supplier=f.get("supplier", "").strip() or None, kind=f.get("kind") or None,
                             min_severity=f.get("severity", "warning"), note=f.get("note", "").strip())
    except (routing.RuleError, RegistryError) as e:
        words = str(e)
        return rules_page(request, "Not added: " + words, status=400)
    return RedirectResponse("/alerts/rules", 303)


def remove_rule(request):
    viewer = require(request, "alerts.rules")
    rule = form_fields(request).get("rule", "")
    try:
        if not rule.isdigit():
            raise routing.RuleError("no rule %r" % rule)
        with request.app.state.pool.connection() as conn:
            routing.remove_rule(conn, int(rule), viewer.tenant)
    except routing.RuleError as e:
        return rules_page(request, str(e), status=400)
    return RedirectResponse("/alerts/rules", 303)


def routes():
    return [Route("/alerts", alerts_page), Route("/alerts/{id:int}", alert_page),
            Route("/alerts/{id:int}/ack", acknowledge, methods=["POST"]),
            Route("/alerts/rules", lambda r: rules_page(r) if r.method == "GET" else add_rule(r),
                  methods=["GET", "POST"]),
            Route("/alerts/rules/remove", remove_rule, methods=["POST"])]
