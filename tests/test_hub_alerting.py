"""Alerts that reach a person (docs/hub/alerts.md): the cabinets' alert events stored by the hub's real ingest
(hub/ingest.py) on a real PostgreSQL become the fleet's alerts; routing rules send them as e-mail to a real SMTP
server (aiosmtpd on a loopback port); escalation runs on an injected clock; an acknowledgement, or the alert
cleared at the cabinet, stops it; a mail the server did not take arrives once when it is back."""
import datetime
import json
import subprocess
import sys
import threading

import pytest

from edge_agent.cloud.topics import Topics
from edge_agent.ledger.alerts import ENDS
from hub import chain_check, db, registry
from hub.alerting import escalation, fleet, job, mailer, routing
from hub.ingest import Ingest
from sim.pilot.smtp_sink import SmtpSink

KEY = bytes(range(32))
T = datetime.timedelta
SENDER = "hub@supplier.example"
WEB = "https://hub.supplier.example"


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


class Cabinet:
    """A cabinet's up messages, handed to the hub's real ingest as the broker would."""

    def __init__(self, ingest, tenant, site, cabinet):
        self.ingest, self.topics, self.seq, self.session = ingest, Topics(tenant, site, cabinet), 0, 1

    def _up(self, **fields):
        return dict({"v": 1, "cabinet": self.topics.cabinet, "session": self.session,
                     "sent_wall": "2026-11-23T10:00:02.250+00:00", "clock_synced": True}, **fields)

    def events(self, *events):
        """Send events (dicts without seq) in one batch; returns their seqs."""
        batch = []
        for e in events:
            self.seq += 1
            batch.append(dict({"seq": self.seq, "wall": "2026-11-23T10:00:03.120+00:00", "clock_synced": True,
                               "ledger_seq": None}, **e))
        self.send("events", self._up(stream="events", first_seq=batch[0]["seq"], last_seq=batch[-1]["seq"],
                                     backlog=False, events=batch))
        return [e["seq"] for e in batch]

    def send(self, leaf, payload):
        assert self.ingest.handle(getattr(self.topics, leaf), json.dumps(payload).encode()) is not None
        assert self.ingest.stats.rejected == 0

    def status(self, state, session):
        self.session = session
        self.send("status", self._up(state=state))


def raised(alert_id, kind, location="L3", detail="0 on hand, min 3"):
    return {"type": "alert_raised", "alert_id": alert_id, "location": location, "kind": kind, "detail": detail}


def cleared(alert_id, kind, location="L3", how="condition", by=None, note=None):
    return {"type": "alert_cleared", "alert_id": alert_id, "location": location, "kind": kind, "how": how,
            "by": by, "note": note}


@pytest.fixture
def hub(hub_dsn):
    """Tenant acme (sites plant1 of customer Northwind with CAB-1 and CAB-3, plant2 with CAB-2; a catalog for
    CAB-1 whose L3 holds a Fastenal SKU), tenant rival (site yard, CAB-9); an ingest, a connection as `locker-hub
    jobs` has one (no autocommit), and the SMTP settings."""
    pool = db.open_pool(hub_dsn, max_size=4)
    conn = db.connect(hub_dsn)
    for tenant, site, cab in (("acme", "plant1", "CAB-1"), ("acme", "plant1", "CAB-3"), ("acme", "plant2", "CAB-2"),
                              ("rival", "yard", "CAB-9")):
        registry.add_cabinet(conn, tenant, site, cab, KEY)
    with conn.transaction():
        conn.execute("UPDATE sites SET name = 'Northwind Plant 1', customer = 'Northwind' WHERE id = 'plant1'")
        conn.execute("INSERT INTO desired_docs (cabinet, what, version, body, source) VALUES ('CAB-1', 'catalog', 1, "
                     "%s, 'test')", [json.dumps({
                         "skus": [{"part_number": "P-100", "supplier": "Fastenal"},
                                  {"part_number": "P-200", "supplier": "Grainger"}],
                         "locations": [{"id": "L3", "sku": "P-100"}, {"id": "L4", "sku": "P-200"}]})])
        registry.set_setting(conn, "alert_mail_from", SENDER)
        registry.set_setting(conn, "alert_web_url", WEB)
    ingest = Ingest(pool)
    h = type("Hub", (), {})()
    h.dsn, h.conn, h.pool, h.ingest = hub_dsn, conn, pool, ingest
    h.cab = {c: Cabinet(ingest, t, s, c) for t, s, c in (("acme", "plant1", "CAB-1"), ("acme", "plant1", "CAB-3"),
                                                          ("acme", "plant2", "CAB-2"), ("rival", "yard", "CAB-9"))}
    yield h
    conn.close()
    pool.close()


@pytest.fixture
def smtp(hub):
    with SmtpSink() as server:
        with hub.conn.transaction():
            registry.set_setting(hub.conn, "alert_smtp", server.address)
        yield server


def rule(conn, tenant, to, **kw):
    return routing.add_rule(conn, tenant, [(0, [to])] + kw.pop("then", []), **kw)


def alert_id(conn, cabinet, ref):
    with conn.transaction():
        return conn.execute("SELECT id FROM fleet_alerts WHERE cabinet = %s AND source = 'cabinet' AND ref = %s",
                            [cabinet, str(ref)]).fetchone()["id"]


def test_an_alert_reaches_the_people_its_rules_name_and_nobody_else(hub, smtp):
    rule(hub.conn, "acme", "ops@acme.example", min_severity="critical")
    rule(hub.conn, "acme", "fastenal-desk@acme.example", supplier="Fastenal")
    rule(hub.conn, "acme", "grainger-desk@acme.example", supplier="Grainger")        # another supplier's
    rule(hub.conn, "acme", "plant2@acme.example", site="plant2")                     # another site's
    rule(hub.conn, "acme", "doors@acme.example", kind="door_forced")                 # another kind's
    rule(hub.conn, "rival", "rival@rival.example")                                  # another tenant's
    hub.cab["CAB-1"].events(raised(7, "stockout", detail="0 on hand, min 3 (P-100)"))
    hub.cab["CAB-1"].events(raised(8, "low_stock", location="L4", detail="2 on hand, min 3"))

    assert job.run_due(hub.conn, utc_now()) > 0

    assert len(smtp.to("ops@acme.example")) == 1                 # the stockout: critical
    assert len(smtp.to("fastenal-desk@acme.example")) == 1       # the stockout at the Fastenal SKU's location
    assert len(smtp.to("grainger-desk@acme.example")) == 1       # the low stock at L4 (Grainger), not L3's
    for nobody in ("plant2@acme.example", "doors@acme.example", "rival@rival.example"):
        assert smtp.to(nobody) == []
    assert len(smtp.messages) == 3

    mail = smtp.to("ops@acme.example")[0]
    stockout = alert_id(hub.conn, "CAB-1", 7)
    assert mail["From"] == SENDER and mail["Subject"] == \
        "[critical] Out of stock at Northwind Plant 1 (CAB-1 L3)"
    body = mail.get_content()
    for said in ("Site:      Northwind Plant 1 (plant1), customer Northwind", "Cabinet:   CAB-1", "Location:  L3",
                 "Kind:      stockout (Out of stock), critical", "Detail:    0 on hand, min 3 (P-100)",
                 "2026-11-23T10:00:03.120+00:00 by the cabinet's clock",
                 "%s/alerts/%d" % (WEB, stockout)):
        assert said in body
    assert "Low stock" in smtp.to("grainger-desk@acme.example")[0]["Subject"]


def test_no_mail_twice_on_a_second_run_or_two_processes_at_once(hub, smtp):
    for n in range(1, 4):
        rule(hub.conn, "acme", "desk%d@acme.example" % n)
    hub.cab["CAB-1"].events(*[raised(n, "stockout", location="L%d" % n) for n in range(1, 9)])
    now = utc_now()

    conns = [db.connect(hub.dsn) for _ in range(2)]
    start, done = threading.Barrier(2), []

    def run(conn):
        start.wait()
        done.append(job.run_due(conn, now))
    threads = [threading.Thread(target=run, args=(c,)) for c in conns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in conns:
        c.close()
    job.run_due(hub.conn, now)                    # and once more, later, on a third connection
    job.run_due(hub.conn, now + T(minutes=5))

    assert len(done) == 2
    for n in range(1, 4):
        got = sorted(m["Subject"] for m in smtp.to("desk%d@acme.example" % n))
        assert got == sorted(set(got)) and len(got) == 8        # each of the 8 alerts once
    assert len(smtp.messages) == 24


def test_escalation_comes_after_its_minutes_not_before_and_an_acknowledgement_stops_it(hub, smtp):
    rule(hub.conn, "acme", "driver@acme.example",
         then=[(30, ["lead@acme.example"]), (120, ["boss@acme.example"])])
    hub.cab["CAB-1"].events(raised(1, "door_forced", location="D1", detail="door 1 opened without an unlock"))
    t0 = utc_now()

    job.run_due(hub.conn, t0)
    assert len(smtp.to("driver@acme.example")) == 1 and smtp.to("lead@acme.example") == []
    job.run_due(hub.conn, t0 + T(minutes=29))
    assert smtp.to("lead@acme.example") == []                     # not before its 30 minutes
    job.run_due(hub.conn, t0 + T(minutes=31))
    [lead] = smtp.to("lead@acme.example")
    assert lead["Subject"].endswith("- not acknowledged, level 1")
    assert "Escalation level 1: nobody acknowledged it within 30 minutes (level 0 went to driver@acme.example)" \
        in lead.get_content()

    fleet.acknowledge(hub.conn, alert_id(hub.conn, "CAB-1", 1), "lead@acme.example", "Guard checked: a contractor",
                      t0 + T(minutes=40))
    job.run_due(hub.conn, t0 + T(minutes=125))
    assert smtp.to("boss@acme.example") == []                     # acknowledged: no level 2
    assert len(smtp.messages) == 2
    with pytest.raises(fleet.AlertError, match="was acknowledged by lead@acme.example .*: Guard checked"):
        fleet.acknowledge(hub.conn, alert_id(hub.conn, "CAB-1", 1), "x", "again", t0 + T(minutes=50))


def test_an_alert_cleared_or_acknowledged_at_the_cabinet_escalates_no_further(hub, smtp):
    rule(hub.conn, "acme", "driver@acme.example", then=[(30, ["lead@acme.example"])])
    hub.cab["CAB-1"].events(raised(1, "stockout"), raised(2, "door_forced", location="D1"),
                            raised(3, "low_stock", location="L4"))
    t0 = utc_now()
    job.run_due(hub.conn, t0)
    assert len(smtp.to("driver@acme.example")) == 3
    hub.cab["CAB-1"].events(cleared(1, "stockout"),                # refilled
                            {"type": "alert_acknowledged", "alert_id": 3, "location": "L4", "kind": "low_stock",
                             "by": "S-01", "note": "refill is on the way"})
    job.run_due(hub.conn, t0 + T(minutes=31))
    [lead] = smtp.to("lead@acme.example")                         # only the forced door, still open
    assert "Door forced open" in lead["Subject"]
    rows = {a["ref"]: a for a in fleet.open_alerts(hub.conn, "acme")}
    assert "1" not in rows and rows["3"]["site_ack_by"] == "S-01" and rows["3"]["acknowledged"]


def test_a_mail_the_server_did_not_take_arrives_once_when_it_is_back(hub, smtp):
    rule(hub.conn, "acme", "driver@acme.example")
    smtp.stop()
    hub.cab["CAB-1"].events(raised(1, "stockout"))
    t0 = utc_now()
    job.run_due(hub.conn, t0)
    with hub.conn.transaction():
        [waiting] = hub.conn.execute("SELECT * FROM alert_mail").fetchall()
    assert waiting["sent_at"] is None and waiting["attempts"] == 1
    assert waiting["last_error"].startswith("cannot reach %s" % smtp.address)
    assert waiting["next_try_at"] == t0 + T(minutes=1)

    smtp.start()                                                   # back, on the same port
    job.run_due(hub.conn, t0 + T(seconds=30))
    assert smtp.messages == []                                     # not due yet
    job.run_due(hub.conn, t0 + T(minutes=1))
    job.run_due(hub.conn, t0 + T(minutes=10))
    assert len(smtp.to("driver@acme.example")) == 1 and len(smtp.messages) == 1


def test_mail_still_waiting_when_the_alert_is_acknowledged_is_never_sent(hub, smtp):
    rule(hub.conn, "acme", "driver@acme.example")
    smtp.stop()
    hub.cab["CAB-1"].events(raised(1, "stockout"))
    t0 = utc_now()
    job.run_due(hub.conn, t0)                                      # queued; the server is down
    smtp.start()
    fleet.acknowledge(hub.conn, alert_id(hub.conn, "CAB-1", 1), "ops@acme.example", "on it", t0 + T(minutes=2))
    # A process that sends without having cancelled first (another process acknowledged meanwhile):
    assert mailer.send_due(hub.conn, t0 + T(minutes=5), mailer.configured(hub.conn)) == 0
    job.run_due(hub.conn, t0 + T(minutes=10))
    assert smtp.messages == []
    with hub.conn.transaction():
        [mail] = hub.conn.execute("SELECT * FROM alert_mail").fetchall()
    assert mail["sent_at"] is None and mail["cancelled_why"] == "acknowledged by ops@acme.example"


def test_a_cabinet_offline_too_long_is_an_alert_until_it_is_back(hub, smtp):
    rule(hub.conn, "acme", "ops@acme.example", kind="cabinet_offline")
    hub.cab["CAB-2"].status("online", 4)
    hub.cab["CAB-2"].status("offline", 4)                         # its last will
    t0 = utc_now()
    job.run_due(hub.conn, t0 + T(minutes=14))
    assert smtp.messages == []
    job.run_due(hub.conn, t0 + T(minutes=16))
    [mail] = smtp.to("ops@acme.example")
    assert mail["Subject"] == "[critical] Cabinet offline at plant2 (CAB-2)"
    assert "no message for more than 15 minutes" in mail.get_content()
    assert [a["kind"] for a in fleet.open_alerts(hub.conn, "acme")] == ["cabinet_offline"]

    hub.cab["CAB-2"].status("online", 5)
    job.run_due(hub.conn, t0 + T(minutes=20))
    assert fleet.open_alerts(hub.conn, "acme") == []
    assert len(smtp.messages) == 1


def test_the_hubs_own_alerts_join_the_fleets(hub, smtp):
    rule(hub.conn, "acme", "ops@acme.example")
    with hub.conn.transaction():
        chain_check.record(hub.conn, "CAB-3", 5, "prev_hash", "prev_hash aa, but seq 4 has hash bb")
    job.run_due(hub.conn, utc_now())
    [mail] = smtp.to("ops@acme.example")
    assert mail["Subject"] == "[critical] Records found broken at Northwind Plant 1 (CAB-3)"
    assert "tx 5 (prev_hash)" in mail.get_content()
    with hub.conn.transaction():
        chain_check.clear(hub.conn, "CAB-3")
    assert fleet.open_alerts(hub.conn) == []


def test_events_in_any_order_leave_the_alert_as_the_cabinet_has_it(hub):
    cab = hub.cab["CAB-1"]
    # seq 1-2 are lost for a while: the clearing (3) and an older update arrive before the raise
    cab.seq = 2
    cab.events(cleared(9, "low_stock", how="count"))
    cab.seq = 0
    cab.events(raised(9, "low_stock", detail="2 on hand, min 3"), {
        "type": "alert_updated", "alert_id": 9, "location": "L3", "kind": "low_stock", "detail": "1 on hand, min 3"})
    with hub.conn.transaction():
        row = hub.conn.execute("SELECT * FROM fleet_alerts WHERE ref = '9'").fetchone()
    assert (row["detail"], row["cleared_how"], row["raised_wall"]) == \
        ("1 on hand, min 3", "count", "2026-11-23T10:00:03.120+00:00")
    cab.seq = 3
    [seq] = cab.events(raised(10, "stockout", detail="0 on hand, min 3"))
    cab.seq, before = seq - 1, hub.ingest.stats.duplicates   # the same seq again, its words rewritten:
    cab.events(raised(10, "stockout", detail="rewritten"))     # the first copy stands
    assert hub.ingest.stats.duplicates == before + 1
    assert [(a["ref"], a["detail"]) for a in fleet.open_alerts(hub.conn)] == [("10", "0 on hand, min 3")]


def test_a_rule_may_name_a_web_user_whose_address_is_on_record(hub, smtp):
    from hub.web import accounts
    accounts.add_user(hub.conn, "acme", "maria@acme.example", "supplier_admin", "a long password")
    accounts.add_user(hub.conn, "acme", "kiosk", "supplier_admin", "a long password")
    accounts.add_user(hub.conn, "rival", "rita@rival.example", "supplier_admin", "a long password")
    hub.conn.commit()
    with pytest.raises(routing.RuleError, match="web user 'kiosk' has no e-mail address on record"):
        rule(hub.conn, "acme", "user:kiosk")
    with pytest.raises(routing.RuleError, match="tenant acme has no web user 'rita@rival.example'"):
        rule(hub.conn, "acme", "user:rita@rival.example")
    rule(hub.conn, "acme", "user:maria@acme.example")
    hub.cab["CAB-1"].events(raised(1, "stockout"))
    job.run_due(hub.conn, utc_now())
    assert len(smtp.to("maria@acme.example")) == 1
    accounts.disable_user(hub.conn, "maria@acme.example")           # she left: her rule tells nobody now
    hub.conn.commit()
    hub.cab["CAB-1"].events(raised(2, "stockout", location="L4"))
    job.run_due(hub.conn, utc_now())
    assert len(smtp.messages) == 1


def test_the_hubs_scheduled_jobs_run_the_alert_job(hub, smtp):
    from hub import jobs
    rule(hub.conn, "acme", "ops@acme.example")
    hub.cab["CAB-1"].events(raised(1, "stockout"))
    done = jobs.run_all(hub.conn, utc_now())
    assert done["hub.alerting.job"] == 2 and len(smtp.to("ops@acme.example")) == 1      # queued, sent
    hub.conn.close()
    with db.connect(hub.dsn) as conn:                                # and committed
        assert conn.execute("SELECT count(*) AS n FROM alert_mail WHERE sent_at IS NOT NULL").fetchone()["n"] == 1


def test_every_kind_has_a_severity_and_the_docs_list_them():
    from pathlib import Path
    doc = (Path(__file__).resolve().parent.parent / "docs" / "hub" / "alerts.md").read_text()
    for kind in set(ENDS) | {"cabinet_offline"}:
        assert kind in fleet.SEVERITY, kind
        assert "| `%s` | %s |" % (kind, fleet.SEVERITY[kind]) in doc, kind


def test_acknowledging_needs_a_note_and_an_open_alert(hub):
    hub.cab["CAB-1"].events(raised(1, "stockout"), cleared(1, "stockout"), raised(2, "door_forced", location="D1"))
    now = utc_now()
    with pytest.raises(fleet.AlertError, match="a note of 1 to 200 characters"):
        fleet.acknowledge(hub.conn, alert_id(hub.conn, "CAB-1", 2), "me", "  ", now)
    with pytest.raises(fleet.AlertError, match="is over already"):
        fleet.acknowledge(hub.conn, alert_id(hub.conn, "CAB-1", 1), "me", "seen", now)
    with pytest.raises(fleet.AlertError, match="no alert"):          # not of this tenant: as if unknown
        fleet.acknowledge(hub.conn, alert_id(hub.conn, "CAB-1", 2), "me", "seen", now, tenant="rival")


# -- the CLI ----------------------------------------------------------------------------------------------------
def hub_cli(dsn, *args):
    p = subprocess.run([sys.executable, "-m", "hub.cli", "--db", dsn, "alert", *args], capture_output=True,
                       text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


def test_rules_are_refused_with_words(hub):
    refusals = [
        (["--tenant", "nobody", "--to", "a@b.example"], "no tenant nobody"),
        (["--tenant", "acme", "--site", "yard", "--to", "a@b.example"], "tenant acme has no site yard"),
        (["--tenant", "acme", "--kind", "stock_out", "--to", "a@b.example"], "kind 'stock_out' is not an alert kind"),
        (["--tenant", "acme", "--to", "not-an-address"], "'not-an-address' is not an e-mail address"),
        (["--tenant", "acme", "--to", "user:ghost"], "tenant acme has no web user 'ghost'"),
        (["--tenant", "acme", "--to", "a@b.example", "--then", "30:c@d.example", "--then", "20:e@f.example"],
         "level 2 comes after 20 minutes, not after level 1's 30"),
        (["--tenant", "acme", "--to", "a@b.example", "--then", "soon:c@d.example"], "give MINUTES:WHO"),
    ]
    for args, words in refusals:
        code, said = hub_cli(hub.dsn, "rule", "add", *args)
        assert code == 2 and words in said, (args, said)
    assert routing.rules(hub.conn) == []
    code, said = hub_cli(hub.dsn, "rule", "remove", "99")
    assert code == 2 and "no rule 99" in said
    code, said = hub_cli(hub.dsn, "settings", "--smtp", "mail.example.com")
    assert code == 2 and "give the SMTP server as host:port" in said
    rule(hub.conn, "acme", "ops@acme.example")
    hub.conn.commit()
    hub.cab["CAB-1"].events(raised(1, "stockout"))
    code, said = hub_cli(hub.dsn, "send")                              # mail waits, and no server is set
    assert code == 2 and "1 alert mails wait: no SMTP server is set (locker-hub alert settings --smtp" in said


def test_the_cli_adds_rules_sends_lists_and_acknowledges(hub, smtp):
    code, said = hub_cli(hub.dsn, "rule", "add", "--tenant", "acme", "--site", "plant1", "--severity", "critical",
                         "--to", "Ops@Acme.example,night@acme.example", "--then", "30:lead@acme.example")
    assert code == 0 and said.startswith("rule 1: critical+ any kind at plant1, supplier any -> L0 after 0 min: "
                                         "night@acme.example, ops@acme.example; L1 after 30 min: lead@acme.example")
    hub.cab["CAB-1"].events(raised(1, "stockout"), raised(2, "low_stock", location="L4"))
    code, said = hub_cli(hub.dsn, "send", "--smtp", "127.0.0.1:1")    # nobody listens there
    assert code == 0 and smtp.messages == []
    with hub.conn.transaction():
        hub.conn.execute("UPDATE alert_mail SET next_try_at = next_try_at - interval '1 minute'")
    code, said = hub_cli(hub.dsn, "send")                              # the setting's server
    assert code == 0 and len(smtp.to("ops@acme.example")) == 1 and len(smtp.to("night@acme.example")) == 1

    code, said = hub_cli(hub.dsn, "list", "--tenant", "acme")
    lines = said.splitlines()
    assert code == 0 and "critical stockout" in " ".join(lines[1].split()) and "warning" in lines[2]
    stockout = alert_id(hub.conn, "CAB-1", 1)
    code, said = hub_cli(hub.dsn, "ack", str(stockout), "--by", "ops@acme.example", "--note", "van sent")
    assert code == 0 and "acknowledged by ops@acme.example" in said
    code, said = hub_cli(hub.dsn, "show", str(stockout))
    assert "acknowledged on the hub by ops@acme.example" in said and "mail level 0 to ops@acme.example: sent" in said
    code, said = hub_cli(hub.dsn, "ack", str(stockout), "--by", "x", "--note", "again")
    assert code == 2 and "was acknowledged by ops@acme.example" in said
