"""The adapters between a supplier's pilot and the hub's capabilities (capabilities.py says how they are
called). One class per capability; each names the hub modules it needs, so one that is not there yet is
"not available" in the summary."""
import csv
import importlib
import time
from pathlib import Path

from sim.pilot.capabilities import Section

APPLY_TIMEOUT_S = 60


def write_csv(path, header, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


class Adapter:
    """A capability's part in a pilot: install() before the hub starts, start() once the cabinets are up,
    before_jobs() and after_step() at each step, collect() at the end (its Section), close() in any case."""
    name = ""
    modules = ()               # hub modules the capability needs
    missing = ""
    _available = None

    def available(self):
        if self._available is None:
            self._available = self._find()
        return self._available

    def _find(self):
        import hub
        ours = Path(hub.__file__).resolve().parent
        for module in self.modules:
            try:
                found = importlib.import_module(module)
            except ImportError:
                found = None
            # An editable install may find a module in another checkout's hub/: that one is not this hub's.
            if found is None or ours not in Path(found.__file__).resolve().parents:
                self.missing = "%s is not on this hub" % module
                return False
        return True

    def install(self, conn, ctx):
        pass

    def start(self, conn, ctx):
        pass

    def after_step(self, conn, ctx, now):
        pass

    def before_jobs(self, conn, ctx, now):
        pass

    def collect(self, conn, ctx):
        return Section(self.name)

    def close(self, ctx):
        pass


def wait_applied(conn, versions):
    """Until every cabinet reported the desired state published to it applied: versions {(cabinet, what):
    version}. Virtual time waits for it, so the pilot goes on from the same state every time."""
    deadline = time.monotonic() + APPLY_TIMEOUT_S
    while True:
        applied = {(r["cabinet"], r["what"]): r["v"] for r in conn.execute(
            "SELECT cabinet, what, max(version) AS v FROM desired_reports WHERE status = 'applied' "
            "GROUP BY cabinet, what")}
        refused = conn.execute("SELECT cabinet, what, reason, detail FROM desired_reports WHERE status = "
                               "'refused'").fetchall()
        if refused:
            raise RuntimeError("a cabinet refused its desired state from the hub: %s" % refused[0])
        late = sorted("%s %s v%d" % (c, what, v) for (c, what), v in versions.items()
                      if applied.get((c, what), 0) < v)
        if not late:
            return
        if time.monotonic() > deadline:
            raise RuntimeError("desired state not applied in %d s: %s" % (APPLY_TIMEOUT_S, ", ".join(late)))
        time.sleep(0.02)                # polling for the cabinets' reports, with a deadline


# -- the sites run from the hub ------------------------------------------------------------------------------
class SitesFromHub(Adapter):
    """Each site's users and each cabinet's catalog made at the hub from the installer's CSV files (the same
    the cabinets start from) and published as desired state: the hub knows the catalog (suppliers, costs,
    packs, capacity) and can push min/max later."""
    name = "sites run from the hub"
    modules = ("hub.desired",)

    def install(self, conn, ctx):
        from hub import desired
        from sim.pilot.plan import parse_schedule
        from sim.pilot.site import build_site, site_csvs
        root = ctx.out_dir / "hub-sites"
        self.made = {}
        for site in ctx.supplier.sites:
            folder = root / site.id
            for cabinet_id in site.cabinets:
                cabinet = next(c for c in ctx.supplier.cabinets if c.id == cabinet_id)
                gap = parse_schedule(cabinet.visits).longest_gap_days()
                made = (ctx.sites or {}).get(cabinet_id) or build_site(cabinet.seed, ctx.locations, gap_days=gap)
                texts = site_csvs(made)      # what the cabinet's pilot imports (lockstep.py builds the same)
                (folder / cabinet_id).mkdir(parents=True, exist_ok=True)
                (folder / cabinet_id / "locations.csv").write_text(texts["locations"])
                for name in ("users", "skus", "allows"):
                    (folder / (name + ".csv")).write_text(texts[name])   # the same for every cabinet of a site
            self.made.update(desired.import_folder(conn, folder, site.cabinets))
        conn.commit()

    def start(self, conn, ctx):
        from hub import desired
        send = lambda topic, env: ctx.hub.worker.publish(topic, env, retain=True)   # noqa: E731
        for cabinet in sorted(self.made):
            desired.publish(conn, send, cabinet)
        wait_applied(conn, {(c, what): v for c, (u, k) in self.made.items()
                            for what, v in (("users", u), ("catalog", k))})

    def collect(self, conn, ctx):
        from hub import desired
        lines = []
        for cabinet in sorted(self.made):
            o = {r["what"]: r for r in desired.overview(conn, cabinet)}
            lines.append("%s: users v%s applied v%s, catalog v%s applied v%s" % (
                cabinet, o["users"]["version"], o["users"]["applied"], o["catalog"]["version"],
                o["catalog"]["applied"]))
        return Section(self.name, lines=lines[:3] + (["... (%d cabinets)" % len(lines)] if len(lines) > 3 else []),
                       figures={"cabinets": len(self.made)})


# -- the people who sign in to the hub -----------------------------------------------------------------------
class People(Adapter):
    """The web app's users of the pilot: the service desk and operations (supplier admins), each route's
    driver, each customer's maintenance lead (their customer's admin). Their passwords are random and shown to
    nobody: to look round the pilot's hub, set one (locker-hub user add ... --password)."""
    name = "people on the hub"
    modules = ("hub.web.accounts",)

    def install(self, conn, ctx):
        import secrets
        from hub.web import accounts
        s = ctx.supplier
        self.users = [(s.service_desk, "supplier_admin", None, "Service desk"),
                      (s.operations, "supplier_admin", None, "Operations")]
        self.users += [(r.driver, "route_driver", None, r.driver_name) for r in s.routes]
        self.users += [(c.contact, "customer_admin", c.name, "%s maintenance" % c.name) for c in s.customers]
        for user, role, customer, words in self.users:
            accounts.add_user(conn, s.tenant, user, role, secrets.token_urlsafe(24), customer=customer, name=words)
        conn.commit()

    def collect(self, conn, ctx):
        roles = {}
        for _, role, _, _ in self.users:
            roles[role] = roles.get(role, 0) + 1
        return Section(self.name, lines=["%d web users: %s" % (len(self.users), ", ".join(
            "%d %s" % (n, role) for role, n in sorted(roles.items())))], figures=roles)


# -- what the hub holds ----------------------------------------------------------------------------------------
class FleetOnHub(Adapter):
    """What reached the hub per customer: rows, the cabinets' alerts and refill visits (events)."""
    name = "the fleet on the hub"

    def collect(self, conn, ctx):
        rows = []
        lines = []
        for customer in ctx.supplier.customers:
            cabinets = [c.id for c in ctx.supplier.cabinets if c.customer == customer.id]
            found = conn.execute(
                "SELECT (SELECT count(*) FROM tx_rows WHERE cabinet = ANY(%(c)s)) AS tx, "
                "(SELECT count(*) FROM events WHERE cabinet = ANY(%(c)s) AND type = 'alert_raised') AS alerts, "
                "(SELECT count(*) FROM events WHERE cabinet = ANY(%(c)s) AND type = 'refill_visit') AS visits, "
                "(SELECT count(*) FROM events WHERE cabinet = ANY(%(c)s) AND type = 'refill_task_opened') AS tasks",
                {"c": cabinets}).fetchone()
            rows.append([customer.id, len(cabinets), found["tx"], found["alerts"], found["visits"], found["tasks"]])
            lines.append("%s: %d cabinets, %d ledger rows, %d alerts raised, %d refill visits, %d refill tasks"
                         % (customer.name, len(cabinets), found["tx"], found["alerts"], found["visits"],
                            found["tasks"]))
        write_csv(ctx.out_dir / "fleet.csv", ["customer", "cabinets", "ledger_rows", "alerts_raised",
                                              "refill_visits", "refill_tasks"], rows)
        return Section(self.name, lines=lines, files=["fleet.csv"],
                       figures={r[0]: dict(zip(("cabinets", "ledger_rows", "alerts_raised", "refill_visits",
                                                "refill_tasks"), r[1:])) for r in rows})


# -- routes and van loads ------------------------------------------------------------------------------------
CUTOFF_HOURS = 2               # the van is picked from 2 h before it leaves (an hour before the first stop,
                               # supplier.py): what the cabinets asked for overnight is on it
LOAD_BEFORE_H = 1              # the driver presses "load" an hour before leaving, if the cut-off job has not


class VanLoads(Adapter):
    """The supplier's routes on the hub (a driver, weekdays, the cabinets in the order the van calls); each
    departure's van load frozen at its cut-off (the hub's job) or by the driver before leaving; after the visit,
    what the cabinets confirmed against what was loaded."""
    name = "van loads"
    modules = ("hub.routes.book", "hub.routes.van_load", "hub.routes.reconcile", "hub.routes.sheets")

    def install(self, conn, ctx):
        from hub.routes import book, schedule
        for route in ctx.supplier.routes:
            book.save_route(conn, ctx.supplier.tenant, route.id, name=route.name, driver=route.driver,
                            weekdays=schedule.parse_weekdays(route.weekdays),
                            depart=book.parse_time("%02d:00" % route.depart_hour),
                            cutoff_hours=CUTOFF_HOURS, timezone="UTC")
            book.set_stops(conn, ctx.supplier.tenant, route.id,
                           [c for site in route.stops for c in ctx.supplier.site(site).cabinets])
        conn.commit()

    def after_step(self, conn, ctx, now):
        import datetime
        from hub.routes import book, schedule, van_load
        for route in ctx.supplier.routes:
            row = book.route(conn, ctx.supplier.tenant, route.id)
            departure = schedule.next_departure(row, now)
            if departure - now <= datetime.timedelta(hours=LOAD_BEFORE_H):
                van_load.freeze(conn, ctx.supplier.tenant, route.id, now, route.driver)

    def collect(self, conn, ctx):
        from hub.routes import book, reconcile, sheets, van_load
        folder = ctx.out_dir / "van-loads"
        folder.mkdir(parents=True, exist_ok=True)
        rows, lines, pick, figures = [], [], [], {"loads": 0, "lines": 0, "packs": 0, "van_units": 0, "put_in": 0,
                                                  "to_return": 0, "beyond_van": 0}
        tenant = ctx.supplier.tenant
        for route in ctx.supplier.routes:
            row = book.route(conn, tenant, route.id)
            for load in sorted(van_load.loads(conn, tenant, route.id, limit=1000), key=lambda r: r["departure"]):
                van = van_load.frozen(conn, row, load)
                day = load["departure"].strftime("%Y-%m-%d")
                if load["departure"] >= ctx.end:        # loaded for a trip after the pilot: nothing to reconcile
                    lines.append("%s %s (loaded by %s): %d lines, %d packs = %d units, for a trip after the "
                                 "pilot's end" % (route.id, day, load["loaded_by"], len(van.lines),
                                                  sum(t.packs for t in van.totals()),
                                                  sum(t.van_units for t in van.totals())))
                    continue
                rec = reconcile.reconcile(conn, tenant, route.id, ctx.end, load_id=load["id"])
                packs = sum(t.packs for t in van.totals())
                van_units = sum(t.van_units for t in van.totals())
                put_in = sum(s.put_in for s in rec.skus)
                back = sum(s.to_return for s in rec.skus)
                beyond = sum(s.beyond_van for s in rec.skus)
                rows.append([route.id, sheets.iso(load["departure"]), load["loaded_by"], len(van.lines),
                             len(van.totals()), packs, van_units, rec.visits, put_in, back, beyond,
                             rec.tasks_closed, rec.tasks])
                pick += sheets.pick_rows(van)
                name = "%s-%s" % (route.id, day)
                (folder / (name + ".html")).write_text(
                    "<!doctype html><meta charset=\"utf-8\"><title>%s</title>%s%s" % (
                        name, sheets.van_load_html(van), sheets.reconcile_html(rec)))
                lines.append("%s %s (loaded by %s): %d lines, %d SKUs, %d packs = %d units; %d stops visited, "
                             "%d put in, %d back to the branch, %d beyond the van; %d of %d tasks closed" % (
                                 route.id, day, load["loaded_by"], len(van.lines), len(van.totals()), packs,
                                 van_units, rec.visits, put_in, back, beyond, rec.tasks_closed, rec.tasks))
                for key, value in (("loads", 1), ("lines", len(van.lines)), ("packs", packs),
                                   ("van_units", van_units), ("put_in", put_in), ("to_return", back),
                                   ("beyond_van", beyond)):
                    figures[key] += value
        write_csv(ctx.out_dir / "van_loads.csv", ["route", "departure", "loaded_by", "lines", "skus", "packs",
                                                  "van_units", "stops_visited", "put_in", "to_return", "beyond_van",
                                                  "tasks_closed", "tasks"], rows)
        write_csv(folder / "pick_lines.csv", sheets.PICK_COLUMNS, pick)
        lines.append("in all: %d loads, %d lines, %d packs = %d units; %d put in, %d back to the branch" % (
            figures["loads"], figures["lines"], figures["packs"], figures["van_units"], figures["put_in"],
            figures["to_return"]))
        return Section(self.name, lines=lines, files=["van_loads.csv", "van-loads/pick_lines.csv",
                                                      "van-loads/<route>-<day>.html"], figures=figures)


# -- alerts to people ----------------------------------------------------------------------------------------
MAIL_FROM = "alerts@acme-supply.example"
WEB_URL = "https://hub.acme-supply.example"
ESCALATE_AFTER_MIN = 240       # a critical alert nobody acknowledged in 4 h goes to operations
ACK_AFTER_MIN = 60             # the service desk acknowledges a critical alert an hour after it came in ...
OFFICE_HOURS = (8, 17)         # ... Monday to Friday, 08:00 to 17:00; nights and weekends escalate


class AlertMail(Adapter):
    """Alert rules that reach people by e-mail (the pilot's SMTP server): every critical alert to the supplier's
    service desk at once and to operations after 4 h unacknowledged; a customer's critical alerts and jammed
    lanes to their maintenance lead. The service desk acknowledges critical alerts in office hours."""
    name = "alert e-mails"
    modules = ("hub.alerting.routing", "hub.alerting.fleet", "hub.alerting.mailer")

    def install(self, conn, ctx):
        from hub import registry
        from hub.alerting import routing
        s = ctx.supplier
        registry.set_setting(conn, "alert_smtp", "%s:%d" % (ctx.smtp.host, ctx.smtp.port))
        registry.set_setting(conn, "alert_mail_from", MAIL_FROM)
        registry.set_setting(conn, "alert_web_url", WEB_URL)
        routing.add_rule(conn, s.tenant, [(0, [s.service_desk]), (ESCALATE_AFTER_MIN, [s.operations])],
                         min_severity="critical", note="the service desk, then operations")
        for customer in s.customers:
            for site in customer.sites:
                routing.add_rule(conn, s.tenant, [(0, [customer.contact])], site=site, min_severity="critical",
                                 note="%s's maintenance lead" % customer.name)
                routing.add_rule(conn, s.tenant, [(0, [customer.contact])], site=site, kind="lane_jammed",
                                 note="someone on site clears a jammed lane")
        conn.commit()

    def after_step(self, conn, ctx, now):
        import datetime
        from hub.alerting import fleet
        if now.isoweekday() > 5 or not OFFICE_HOURS[0] <= now.hour <= OFFICE_HOURS[1]:
            return
        for alert in fleet.open_alerts(conn, ctx.supplier.tenant, now=now):
            if alert["severity"] == "critical" and not alert["acknowledged"] and \
                    now - alert["known_at"] >= datetime.timedelta(minutes=ACK_AFTER_MIN):
                fleet.acknowledge(conn, alert["id"], ctx.supplier.service_desk,
                                  "seen by the service desk; the driver is told", now)

    def collect(self, conn, ctx):
        mails = ctx.smtp.received()
        by_recipient = {}
        rows = []
        for m in mails:
            for r in m.recipients:
                by_recipient[r] = by_recipient.get(r, 0) + 1
            rows.append([", ".join(m.recipients), m.subject])
        rows.sort()
        write_csv(ctx.out_dir / "alert_emails.csv", ["to", "subject"], rows)
        db = conn.execute(
            "SELECT count(*) FILTER (WHERE sent_at IS NOT NULL) AS sent, "
            "count(*) FILTER (WHERE cancelled_at IS NOT NULL) AS cancelled, "
            "count(*) FILTER (WHERE sent_at IS NULL AND cancelled_at IS NULL) AS waiting, "
            "count(*) FILTER (WHERE level > 0 AND sent_at IS NOT NULL) AS escalations FROM alert_mail").fetchone()
        alerts = conn.execute("SELECT count(*) AS n, count(*) FILTER (WHERE acked_at IS NOT NULL) AS acked "
                              "FROM fleet_alerts").fetchone()
        lines = ["%d e-mails received by the SMTP server (%d sent by the hub, %d escalations, %d cancelled as "
                 "settled first, %d waiting); %d alerts on the hub, %d acknowledged there" % (
                     len(mails), db["sent"], db["escalations"], db["cancelled"], db["waiting"], alerts["n"],
                     alerts["acked"])]
        lines += ["to %s: %d" % (r, n) for r, n in sorted(by_recipient.items())]
        return Section(self.name, lines=lines, files=["alert_emails.csv", "mail/NNNN.eml"],
                       figures={"received": len(mails), "sent": db["sent"], "escalations": db["escalations"],
                                "cancelled": db["cancelled"], "by_recipient": by_recipient,
                                "alerts": alerts["n"], "acknowledged": alerts["acked"]})


# -- reorders to the ERP -------------------------------------------------------------------------------------
ORDER_RULES = ("daily", "cutoff", "per_task")     # customer 1's sites, customer 2's, customer 3's, then again
ERP_CONFIRMS_AFTER_H = 2       # the supplier's office confirms an order in the ERP two hours after it came in,
ERP_HOURS = (8, 17)            # Monday to Friday, 08:00 to 17:00


class Orders(Adapter):
    """Replenishment orders per supplier and site by each site's rule (daily at 06:00, at the route's cut-off,
    or per task), sent as signed cXML webhooks to the supplier's ERP (erp_sink.py, a real HTTP server), which
    confirms them in office hours through the hub's signed confirmation; delivered when the cabinets' refill
    visits loaded every need."""
    name = "orders"
    modules = ("hub.orders.erp", "hub.orders.rules", "hub.orders.inbound", "hub.orders.lifecycle",
               "hub.orders.signing")

    def install(self, conn, ctx):
        from hub.orders import erp, rules, signing
        from sim.pilot.erp_sink import ErpSink
        self.erp = ErpSink(ctx.out_dir / "erp", signing.verify).start()
        self.erp.now_s = ctx.start.timestamp()
        self.erp.secret = erp.set_endpoint(conn, ctx.supplier.tenant, self.erp.url, ctx.start, fmt="cxml")
        for i, customer in enumerate(ctx.supplier.customers):
            for site in customer.sites:
                rules.set_rule(conn, ctx.supplier.tenant, site, ORDER_RULES[i % len(ORDER_RULES)], ctx.start,
                               ctx.supplier.service_desk)
        conn.commit()

    def before_jobs(self, conn, ctx, now):
        self.erp.now_s = now.timestamp()

    def after_step(self, conn, ctx, now):
        import datetime
        import json
        from hub.orders import inbound, signing
        if now.isoweekday() > 5 or not ERP_HOURS[0] <= now.hour <= ERP_HOURS[1]:
            return
        due = conn.execute("SELECT id FROM orders WHERE tenant = %s AND state = 'sent' AND sent_at <= %s ORDER BY id",
                           [ctx.supplier.tenant, now - datetime.timedelta(hours=ERP_CONFIRMS_AFTER_H)]).fetchall()
        for order in due:
            body = json.dumps({"erp_ref": "SO-%06d" % order["id"], "note": "confirmed in the ERP"}).encode()
            headers = {signing.HEADER.lower(): signing.header(self.erp.secret, int(now.timestamp()), body)}
            inbound.confirm(conn, ctx.supplier.tenant, order["id"], headers, body, now)

    def collect(self, conn, ctx):
        rows = conn.execute(
            "SELECT o.*, s.customer, (SELECT count(*) FROM order_lines l WHERE l.order_id = o.id) AS lines, "
            "(SELECT coalesce(sum(units), 0) FROM order_lines l WHERE l.order_id = o.id) AS units, "
            "(SELECT coalesce(sum(units * coalesce(unit_cost, 0)), 0) FROM order_lines l WHERE l.order_id = o.id) "
            "AS value_cents FROM orders o JOIN sites s ON s.tenant = o.tenant AND s.id = o.site "
            "WHERE o.tenant = %s ORDER BY o.id", [ctx.supplier.tenant]).fetchall()

        def at(value):
            return value.isoformat() if value else ""
        write_csv(ctx.out_dir / "orders.csv", ["order", "customer", "site", "supplier", "rule", "state", "proposed_at",
                                               "sent_at", "confirmed_at", "delivered_at", "erp_ref", "lines", "units",
                                               "value_cents"],
                  [["%s-%d" % (r["tenant"], r["id"]), r["customer"], r["site"], r["supplier"], r["rule"], r["state"],
                    at(r["proposed_at"]), at(r["sent_at"]), at(r["confirmed_at"]), at(r["delivered_at"]),
                    r["erp_ref"] or "", r["lines"], r["units"], r["value_cents"]] for r in rows])
        states = {}
        for r in rows:
            states[r["state"]] = states.get(r["state"], 0) + 1
        order = ("proposed", "sent", "confirmed", "delivered", "cancelled")
        lines = ["%d orders: %s; %d lines, %d units, %.2f in value" % (
            len(rows), ", ".join("%d %s" % (states.get(k, 0), k) for k in order),
            sum(r["lines"] for r in rows), sum(r["units"] for r in rows), sum(r["value_cents"] for r in rows) / 100)]
        rule_of = {r["site"]: r["rule"] for r in conn.execute(
            "SELECT site, rule FROM site_order_rules WHERE tenant = %s", [ctx.supplier.tenant])}
        for customer in ctx.supplier.customers:
            mine = [r for r in rows if r["customer"] == customer.name]
            lines.append("%s (%s): %d orders, %d delivered" % (
                customer.name, ", ".join(sorted({rule_of.get(s, "?") for s in customer.sites})), len(mine),
                sum(r["state"] == "delivered" for r in mine)))
        documents = self.erp.received()
        lines.append("the ERP took %d signed cXML documents (refused %d)" % (len(documents), self.erp.refused))
        return Section(self.name, lines=lines, files=["orders.csv", "erp/NNNN.xml"],
                       figures={"orders": len(rows), "states": states, "erp_documents": len(documents),
                                "erp_refused": self.erp.refused,
                                "lines": sum(r["lines"] for r in rows), "units": sum(r["units"] for r in rows)})

    def close(self, ctx):
        if getattr(self, "erp", None) is not None:
            self.erp.stop()


# -- one report per customer ---------------------------------------------------------------------------------
class CustomerReports(Adapter):
    """The month's report across all of a customer's cabinets and sites (HTML with charts, billing CSV), built
    at the hub with the agent's report code: reports/<customer>/report.html and billing.csv."""
    name = "customer reports"
    modules = ("hub.customer_report",)

    def collect(self, conn, ctx):
        from hub import customer_report
        lines, files, figures = [], [], {}
        for customer in ctx.supplier.customers:
            c = customer_report.build(conn, ctx.supplier.tenant, customer.name, ctx.start, ctx.end, ctx.end)
            folder = ctx.out_dir / "reports" / customer.id
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "report.html").write_text(customer_report.render(c))
            (folder / "billing.csv").write_text(customer_report.billing_csv(c))
            files += ["reports/%s/report.html" % customer.id, "reports/%s/billing.csv" % customer.id]
            fill = c.performance.fill
            rate = getattr(fill, "rate", None)
            lines.append("%s: %d sites (%s), %d cabinets; fill rate %s, %d stockouts" % (
                customer.name, len(c.sites), ", ".join(s.site for s in c.sites), len(c.cabinets),
                "%.1f %%" % (rate * 100) if isinstance(rate, (int, float)) else "-", c.performance.stockouts))
            figures[customer.id] = {"sites": [s.site for s in c.sites], "cabinets": c.cabinets}
        return Section(self.name, lines=lines, files=files, figures=figures)


# -- min/max review ------------------------------------------------------------------------------------------
REVIEW_HOUR, APPROVE_HOUR = 10, 14     # the supplier proposes at 10:00 half-way through; the customer approves


class MinMax(Adapter):
    """Half-way through the pilot the supplier proposes each site's min/max from the cabinets' history on the
    hub; the customer's admin approves it that afternoon; the new catalog versions are pushed to the cabinets,
    which run the rest of the pilot on them (virtual time waits until each applied its version)."""
    name = "min/max review"
    modules = ("hub.minmax.recommend", "hub.minmax.proposals", "hub.minmax.push")

    def install(self, conn, ctx):
        import datetime
        day = ctx.start + datetime.timedelta(days=max(1, (ctx.end - ctx.start).days // 2))
        self.review_at = day.replace(hour=REVIEW_HOUR)
        self.approve_at = day.replace(hour=APPROVE_HOUR)
        self.proposals = {}            # site -> proposal id
        self.reviewed = self.approved = False

    def after_step(self, conn, ctx, now):
        from hub.minmax import proposals, push, recommend
        s = ctx.supplier
        if now >= self.review_at and not self.reviewed:      # the first step at or after it
            self.reviewed = True
            staff = proposals.supplier(s.service_desk, s.tenant)
            for site in s.sites:
                found, _ = recommend.for_cabinets(conn, site.cabinets, ctx.start, now, now)
                self.proposals[site.id] = proposals.create(conn, staff, s.tenant, site.id, None, found,
                                                           (ctx.start, now), now)
                proposals.submit(conn, staff, self.proposals[site.id], now)
        if now >= self.approve_at and self.reviewed and not self.approved:
            self.approved = True
            versions = {}
            for site_id, proposal_id in sorted(self.proposals.items()):
                customer = s.customer(s.site(site_id).customer)
                admin = proposals.customer_admin(customer.contact, s.tenant, customer.name)
                made, _ = proposals.approve(conn, admin, proposal_id, now, note="approved for the rest of the pilot")
                versions.update({(c, "catalog"): v for c, v in made.items()})
            push.publish_pending(conn, lambda topic, env: ctx.hub.worker.publish(topic, env, retain=True))
            wait_applied(conn, versions)

    def collect(self, conn, ctx):
        from hub.minmax import push
        lines, figures = [], {"proposals": len(self.proposals), "lines": 0, "changed": 0, "applied": 0}
        for site_id, proposal_id in sorted(self.proposals.items()):
            p = conn.execute("SELECT * FROM minmax_proposals WHERE id = %s", [proposal_id]).fetchone()
            n = conn.execute("SELECT count(*) AS n, count(*) FILTER (WHERE (proposed_min, proposed_max) <> "
                             "(current_min, current_max)) AS changed FROM minmax_lines WHERE proposal = %s",
                             [proposal_id]).fetchone()
            status = push.status(conn, proposal_id)
            applied = [r for r in status if r["state"] == "applied"]
            lines.append("%s: proposed %s by %s, %s by %s at %s; %d of %d locations changed; %d of %d cabinets "
                         "applied their new catalog" % (
                             site_id, self.review_at.strftime("%Y-%m-%d %H:%M"), p["created_by"], p["state"],
                             p["decided_by"], p["decided_at"].strftime("%Y-%m-%d %H:%M") if p["decided_at"] else "-",
                             n["changed"], n["n"], len(applied), len(status)))
            figures["lines"] += n["n"]
            figures["changed"] += n["changed"]
            figures["applied"] += len(applied)
        if not self.proposals:
            lines.append("no review: the pilot ended before %s" % self.review_at.strftime("%Y-%m-%d %H:%M"))
        return Section(self.name, lines=lines, figures=figures)


# -- the supplier's day -------------------------------------------------------------------------------------
DAY_QUERIES = [   # (column, table that must exist, SQL giving rows of (at, n))
    ("refill_visits", "events", "SELECT (body->>'wall')::timestamptz AS at, 1 AS n FROM events "
                                "WHERE type = 'refill_visit'"),
    ("alerts_raised", "fleet_alerts", "SELECT known_at AS at, 1 AS n FROM fleet_alerts"),
    ("alerts_acknowledged", "fleet_alerts", "SELECT acked_at AS at, 1 AS n FROM fleet_alerts"),
    ("emails", "alert_mail", "SELECT sent_at AS at, 1 AS n FROM alert_mail"),
    ("escalations", "alert_mail", "SELECT sent_at AS at, 1 AS n FROM alert_mail WHERE level > 0"),
    ("van_loads", "route_loads", "SELECT loaded_at AS at, 1 AS n FROM route_loads"),
    ("van_packs", "route_loads", "SELECT l.loaded_at AS at, x.packs AS n FROM route_loads l "
                                 "JOIN route_load_lines x ON x.load = l.id"),
    ("orders_proposed", "orders", "SELECT proposed_at AS at, 1 AS n FROM orders"),
    ("orders_confirmed", "orders", "SELECT confirmed_at AS at, 1 AS n FROM orders"),
    ("orders_delivered", "orders", "SELECT delivered_at AS at, 1 AS n FROM orders"),
    ("minmax_approved", "minmax_proposals", "SELECT decided_at AS at, 1 AS n FROM minmax_proposals "
                                            "WHERE state = 'approved'"),
]


class SupplierDay(Adapter):
    """What the supplier saw each day of the pilot, from the hub's own records: days.csv, and a line a day."""
    name = "day by day"

    def collect(self, conn, ctx):
        import datetime
        days = [(ctx.start + datetime.timedelta(days=d)).date() for d in range((ctx.end - ctx.start).days)]
        counts = {}
        columns = []
        for column, table, sql in DAY_QUERIES:
            if not conn.execute("SELECT to_regclass(%s) IS NOT NULL AS present", [table]).fetchone()["present"]:
                continue
            columns.append(column)
            for r in conn.execute("SELECT (at AT TIME ZONE 'UTC')::date AS day, sum(n) AS n FROM (%s) q "
                                  "WHERE at IS NOT NULL GROUP BY 1" % sql):
                counts[(r["day"], column)] = int(r["n"])
        rows = [[day.isoformat(), day.strftime("%a")] + [counts.get((day, c), 0) for c in columns] for day in days]
        write_csv(ctx.out_dir / "days.csv", ["day", "weekday"] + columns, rows)
        lines = []
        for row in rows:
            said = ["%d %s" % (n, c.replace("_", " ")) for c, n in zip(columns, row[2:]) if n]
            lines.append("%s %s: %s" % (row[1], row[0][5:], ", ".join(said) or "nothing"))
        return Section(self.name, lines=lines, files=["days.csv"])


ALL = [SitesFromHub, People, FleetOnHub, VanLoads, Orders, AlertMail, MinMax, CustomerReports, SupplierDay]
