"""The fleet's open alerts on one screen (hub/web/pages/alerts.py), in the hub's real web app on a real
PostgreSQL: each role sees only its tenant's and its customer's sites, sorted by severity or age; an
acknowledgement with a note in Chromium shows who and when and stops the escalation mail (a real SMTP server).
Screenshots: docs/screens/hub/alerts.png, alert.png."""
import datetime
import json
import re

import pytest

from hub import db, registry
from hub.alerting import fleet, job, routing
from tests.chromium import browser
from tests.hub_web import START, shoot
from sim.pilot.smtp_sink import SmtpSink

KEY = bytes(range(32))
AT = datetime.datetime.fromtimestamp(START, datetime.timezone.utc)   # the web app's clock
T = datetime.timedelta


def store_events(conn, cabinet, *events):
    """Alert events stored as hub/ingest.py stores them (one row per (cabinet, seq), the event as its body),
    with the time the hub received each: (minutes before AT, event)."""
    top = conn.execute("SELECT coalesce(max(seq), 0) AS s FROM events WHERE cabinet = %s", [cabinet]).fetchone()["s"]
    for n, (ago, e) in enumerate(events, start=top + 1):
        body = dict({"seq": n, "wall": (AT - T(minutes=ago)).isoformat(), "clock_synced": True,
                     "ledger_seq": None}, **e)
        conn.execute("INSERT INTO events (cabinet, seq, type, body, received_at) VALUES (%s, %s, %s, %s, %s) "
                     "ON CONFLICT DO NOTHING", [cabinet, n, e["type"], json.dumps(body), AT - T(minutes=ago)])


def raised(alert_id, kind, location, detail):
    return {"type": "alert_raised", "alert_id": alert_id, "location": location, "kind": kind, "detail": detail}


@pytest.fixture
def fleet_web(hub_web):
    """Supplier acme: customers Bolt Works (sites bolt-north, bolt-south) and Crane Co (crane-1); supplier
    other (zeta-1). Open alerts at each, one over already, one at the other supplier's cabinet."""
    with db.connect(hub_web.dsn) as conn:
        registry.add_tenant(conn, "acme", "Acme Industrial Supply")
        registry.add_tenant(conn, "other", "Other Supply")
        for site, name, customer in (("bolt-north", "Bolt Works North", "Bolt Works"),
                                     ("bolt-south", "Bolt Works South", "Bolt Works"),
                                     ("crane-1", "Crane Co Plant 1", "Crane Co")):
            registry.add_site(conn, "acme", site, name, customer)
        registry.add_site(conn, "other", "zeta-1", "Zeta One", "Zeta Ltd")
        for cabinet, tenant, site in (("CAB-BN1", "acme", "bolt-north"), ("CAB-BS1", "acme", "bolt-south"),
                                      ("CAB-CR1", "acme", "crane-1"), ("CAB-Z1", "other", "zeta-1")):
            registry.add_cabinet(conn, tenant, site, cabinet, KEY)
        with conn.transaction():
            store_events(conn, "CAB-BN1",
                         (185, raised(1, "stockout", "L3", "0 on hand, min 4 (P-100 hex bolts M8)")),
                         (150, raised(2, "low_stock", "L6", "3 on hand, min 5")),
                         (90, {"type": "alert_cleared", "alert_id": 2, "location": "L6", "kind": "low_stock",
                               "how": "condition", "by": None, "note": None}),
                         (20, raised(3, "low_stock", "L5", "2 on hand, min 6 (P-220 washers)")))
            store_events(conn, "CAB-BS1", (45, raised(1, "door_forced", "D2", "door 2 opened without an unlock")))
            store_events(conn, "CAB-CR1", (125, raised(1, "lane_jammed", "L7", "lane 7 jammed at a vend")),
                         (10, raised(2, "tool_scrapped", "D1", "1 torque wrench scrapped")))
            store_events(conn, "CAB-Z1", (60, raised(1, "stockout", "L1", "0 on hand, min 2")))
            conn.execute("INSERT INTO status (cabinet, state, session, sent_wall, clock_synced, received_at) "
                         "VALUES ('CAB-CR1', 'offline', 7, %s, true, %s)", [(AT - T(minutes=70)).isoformat(),
                                                                              AT - T(minutes=70)])
        fleet.sync_offline(conn, AT)
    for user, role, customer in (("ann@acme.example", "supplier_admin", None),
                                 ("bea@bolt.example", "customer_admin", "Bolt Works"),
                                 ("cid@crane.example", "customer_viewer", "Crane Co"),
                                 ("oz@other.example", "supplier_admin", None)):
        hub_web.add_user("other" if user.endswith("other.example") else "acme", user, role, customer=customer,
                         name=user.split("@")[0].title())
    return hub_web


def rows(text):
    """The alert table's rows as [severity, alert, customer, site, cabinet, where, detail, open for, ack]."""
    body = text.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in text else ""
    return [[re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", tr)]
            for tr in re.findall(r"<tr>(.*?)</tr>", body)]


def alert_id(dsn, cabinet, ref):
    with db.connect(dsn) as conn:
        return conn.execute("SELECT id FROM fleet_alerts WHERE cabinet = %s AND ref = %s",
                            [cabinet, ref]).fetchone()["id"]


def test_the_supplier_sees_every_open_alert_of_its_fleet_most_severe_first_or_oldest_first(fleet_web):
    ann = fleet_web.session("ann@acme.example")
    status, text = ann.get("/alerts")
    assert status == 200 and "6 open: 3 critical, 2 warning, 1 info" in text
    got = [(r[0], r[1], r[4], r[5], r[7]) for r in rows(text)]
    assert got == [("critical", "Out of stock", "CAB-BN1", "L3", "3 h 05 min"),
                   ("critical", "Cabinet offline", "CAB-CR1", "cabinet", "1 h 10 min"),
                   ("critical", "Door forced open", "CAB-BS1", "D2", "45 min"),
                   ("warning", "Lane jammed", "CAB-CR1", "L7", "2 h 05 min"),
                   ("warning", "Low stock", "CAB-BN1", "L5", "20 min"),
                   ("info", "Tool scrapped", "CAB-CR1", "D1", "10 min")]
    status, text = ann.get("/alerts?sort=age")
    assert [r[7] for r in rows(text)] == ["3 h 05 min", "2 h 05 min", "1 h 10 min", "45 min", "20 min", "10 min"]
    assert "CAB-Z1" not in text                                  # the other supplier's


def test_a_customer_sees_only_its_own_sites_alerts_and_acknowledges_only_with_alerts_ack(fleet_web):
    bea = fleet_web.session("bea@bolt.example")
    status, text = bea.get("/alerts")
    assert status == 200 and {r[4] for r in rows(text)} == {"CAB-BN1", "CAB-BS1"}
    crane = alert_id(fleet_web.dsn, "CAB-CR1", "1")
    assert bea.get("/alerts/%d" % crane)[0] == 404
    status, text = bea.post("/alerts/%d/ack" % crane, {"note": "not mine"})
    assert status == 404 and "No alert" in text

    cid = fleet_web.session("cid@crane.example")
    status, text = cid.get("/alerts/%d" % crane)
    assert status == 200 and "Lane jammed" in text and "Acknowledge</button>" not in text
    assert cid.post("/alerts/%d/ack" % crane, {"note": "seen"})[0] == 403
    oz = fleet_web.session("oz@other.example")
    assert rows(oz.get("/alerts")[1])[0][4] == "CAB-Z1" and oz.get("/alerts/%d" % crane)[0] == 404
    with db.connect(fleet_web.dsn) as conn:
        assert conn.execute("SELECT count(*) AS n FROM fleet_alerts WHERE acked_at IS NOT NULL").fetchone()["n"] == 0

    status, text = bea.post("/alerts/%d/ack" % alert_id(fleet_web.dsn, "CAB-BN1", "1"), {"note": " "})
    assert status == 400 and "A note of 1 to 200 characters" in text


def test_acknowledged_in_chromium_with_a_note_it_shows_who_and_when_and_escalates_no_further(fleet_web):
    with db.connect(fleet_web.dsn) as conn, SmtpSink() as smtp, browser() as b:
        page = b.new_page(viewport={"width": 1280, "height": 720})
        fleet_web.sign_in(page, "ann@acme.example")
        page.click("nav >> text=Alert rules")                     # the rule, as the supplier's admin adds it
        page.select_option("select[name=severity]", "critical")
        page.fill("input[name=to]", "driver@acme.example")
        page.fill("input[name=then]", "240:lead@acme.example")
        page.fill("input[name=note]", "stock and doors: the route driver, then the branch lead")
        page.click("button:has-text('Add rule')")
        page.wait_for_selector("td:has-text('level 1 after 240 min: lead@acme.example')")
        shoot(page, "alert-rules")

        job.run_due(conn, AT, smtp=_smtp(smtp))
        assert {m["Subject"] for m in smtp.to("driver@acme.example")} == {
            "[critical] Out of stock at Bolt Works North (CAB-BN1 L3)",
            "[critical] Cabinet offline at Crane Co Plant 1 (CAB-CR1)",
            "[critical] Door forced open at Bolt Works South (CAB-BS1 D2)"}
        stockout = alert_id(fleet_web.dsn, "CAB-BN1", "1")

        page.click("nav >> text=Alerts")
        page.wait_for_selector("table")
        shoot(page, "alerts")
        page.click("text=Out of stock")
        page.wait_for_url(fleet_web.url + "/alerts/%d" % stockout)
        page.fill("input[name=note]", "Van 3 brings 40 hex bolts M8 at 14:00")
        page.click("button:has-text('Acknowledge')")
        page.wait_for_selector("dt:has-text('Acknowledged')")
        said = page.inner_text("main")
        assert "by ann@acme.example, %s: Van 3 brings 40 hex bolts M8 at 14:00" % AT.strftime("%Y-%m-%d %H:%M UTC") \
            in said
        assert "driver@acme.example\tsent" in said
        shoot(page, "alert")
        page.goto(fleet_web.url + "/alerts")
        assert "ann@acme.example: Van 3 brings" in page.inner_text("table")

        job.run_due(conn, AT + T(minutes=241), smtp=_smtp(smtp))
        lead = sorted(m["Subject"] for m in smtp.to("lead@acme.example"))
        assert lead == ["[critical] Cabinet offline at Crane Co Plant 1 (CAB-CR1) - not acknowledged, level 1",
                        "[critical] Door forced open at Bolt Works South (CAB-BS1 D2) - not acknowledged, level 1"]


def test_rules_are_the_supplier_admins_refused_with_words_and_kept_to_their_tenant(fleet_web):
    ann = fleet_web.session("ann@acme.example")
    status, text = ann.post("/alerts/rules", {"to": "driver@acme", "severity": "warning"})
    assert status == 400 and "Not added: &#x27;driver@acme&#x27; is not an e-mail address" in text
    status, text = ann.post("/alerts/rules", {"to": "a@acme.example", "then": "soon:b@acme.example"})
    assert status == 400 and "give MINUTES:WHO" in text
    status, text = ann.post("/alerts/rules", {"to": "user:bea@bolt.example", "site": "bolt-north",
                                              "kind": "low_stock", "severity": "warning"})
    assert status == 303 and "level 0 after 0 min: user:bea@bolt.example" in ann.get("/alerts/rules")[1]
    with db.connect(fleet_web.dsn) as conn:
        [rule] = routing.rules(conn, "acme")
    assert fleet_web.session("bea@bolt.example").get("/alerts/rules")[0] == 403
    oz = fleet_web.session("oz@other.example")
    status, text = oz.post("/alerts/rules/remove", {"rule": str(rule["id"])})
    assert status == 400 and "no rule %d of tenant other" % rule["id"] in text
    assert "user:bea@bolt.example" not in oz.get("/alerts/rules")[1]
    assert ann.post("/alerts/rules/remove", {"rule": str(rule["id"])})[0] == 303
    with db.connect(fleet_web.dsn) as conn:
        assert routing.rules(conn) == []


def _smtp(server):
    from hub.alerting import mailer
    return mailer.Smtp("127.0.0.1", server.port, "hub@acme.example", "http://hub.acme.example")
