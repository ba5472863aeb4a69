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
    name = ""
    modules = ()               # hub modules the capability needs
    missing = ""

    def available(self):
        for module in self.modules:
            try:
                importlib.import_module(module)
            except ImportError:
                self.missing = "%s is not on this hub" % module
                return False
        return True

    def install(self, conn, ctx):
        pass

    def start(self, conn, ctx):
        pass

    def after_step(self, conn, ctx, now):
        pass

    def collect(self, conn, ctx):
        return Section(self.name)


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
                texts = site_csvs(build_site(cabinet.seed, ctx.locations, gap_days=gap))
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
        deadline = time.monotonic() + APPLY_TIMEOUT_S
        while True:
            applied = {(r["cabinet"], r["what"]): r["v"] for r in conn.execute(
                "SELECT cabinet, what, max(version) AS v FROM desired_reports WHERE status = 'applied' "
                "GROUP BY cabinet, what")}
            refused = conn.execute("SELECT cabinet, what, reason, detail FROM desired_reports WHERE status = "
                                   "'refused'").fetchall()
            if refused:
                raise RuntimeError("a cabinet refused its desired state from the hub: %s" % refused[0])
            late = [c for c, (u, k) in self.made.items()
                    if applied.get((c, "users"), 0) < u or applied.get((c, "catalog"), 0) < k]
            if not late:
                return
            if time.monotonic() > deadline:
                raise RuntimeError("desired state not applied by %s in %d s" % (", ".join(late), APPLY_TIMEOUT_S))
            time.sleep(0.02)            # polling for the cabinets' reports, with a deadline

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


ALL = [SitesFromHub(), FleetOnHub()]
