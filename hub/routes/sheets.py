"""The van load and its reconciliation as the driver and the branch read them: CSV files (column names are a
contract: add at the end, never rename) and plain semantic HTML fragments (tables, headings; the web app and
`locker-hub route van-load --html` put them in a page; the hub's print stylesheet does the rest)."""
import csv
import html

from edge_agent.ledger import csv_cells
from hub.routes import schedule, van_load

PICK_COLUMNS = ("departure", "stop", "cabinet", "site", "location", "part_number", "description", "line", "task_id",
                "units", "pack", "packs", "van_units", "pack_source")
TOTAL_COLUMNS = ("departure", "part_number", "description", "pack", "packs", "van_units", "units", "stops")
RECONCILE_COLUMNS = ("load_id", "departure", "part_number", "description", "packs", "van_units", "put_in",
                     "to_return", "beyond_van")
LINE_WORDS = {van_load.TASK: "refill task", van_load.TOP_OFF: "top-off"}


def iso(at):
    return at.isoformat().replace("+00:00", "Z")


def pick_rows(van):
    dep = iso(van.departure)
    return [[dep, ln.position, ln.cabinet, ln.site, ln.location, ln.sku, ln.description, ln.kind,
             "" if ln.task_id is None else ln.task_id, ln.units, ln.pack, ln.packs, ln.van_units, ln.pack_source]
            for ln in van.lines]


def total_rows(van):
    dep = iso(van.departure)
    return [[dep, t.sku, t.description, t.pack, t.packs, t.van_units, t.units, t.stops] for t in van.totals()]


def reconcile_rows(rec):
    return [[rec.load["id"], iso(rec.load["departure"]), s.sku, s.description, s.packs, s.van_units, s.put_in,
             s.to_return, s.beyond_van] for s in rec.skus]


def write_csv(path, columns, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\r\n")
        writer.writerow(columns)
        writer.writerows([csv_cells.safe(cell) for cell in row] for row in rows)
    return path


# -- HTML ------------------------------------------------------------------------------------------------------
def esc(value):
    return html.escape("" if value is None else str(value))


def table(columns, rows, caption=None, numeric=()):
    """A plain table; numeric: the indexes of columns of figures (aligned right by the hub's stylesheet)."""
    def cls(i):
        return ' class="num"' if i in numeric else ""
    head = "".join('<th scope="col"%s>%s</th>' % (cls(i), esc(c)) for i, c in enumerate(columns))
    body = "".join("<tr>%s</tr>" % "".join("<td%s>%s</td>" % (cls(i), esc(v)) for i, v in enumerate(row))
                   for row in rows)
    cap = "<caption>%s</caption>" % esc(caption) if caption else ""
    return "<table>%s<thead><tr>%s</tr></thead><tbody>%s</tbody></table>" % (cap, head, body)


def local(route, at):
    """A time as the route's people read it: in the route's zone."""
    return at.astimezone(schedule.zone(route["timezone"])).strftime("%a %d %b %Y %H:%M %Z")


def status_html(van):
    route = van.route
    facts = [("Route", "%s (%s)" % (route["name"], route["id"])), ("Driver", route["driver"] or "none named"),
             ("Departure", local(route, van.departure)), ("Cut-off", local(route, van.cutoff))]
    if van.frozen:
        facts.append(("Loaded", "load %s, frozen %s by %s" % (van.load["id"], local(route, van.load["loaded_at"]),
                                                               van.load["loaded_by"])))
    else:
        facts.append(("Loaded", "not yet: the lines follow the cabinets until the van is loaded or the cut-off"))
    return "<dl>%s</dl>" % "".join("<dt>%s</dt><dd>%s</dd>" % (esc(k), esc(v)) for k, v in facts)


def notes_html(van):
    notes = list(van.notes)
    if any(ln.pack_source == van_load.NO_PACK for ln in van.lines):
        notes.append("Lines with pack source \"none\" are counted in packs of 1 (units): no pack size is known "
                     "on the hub.")
    if not notes:
        return ""
    return "<section><h3>Notes</h3><ul>%s</ul></section>" % "".join("<li>%s</li>" % esc(n) for n in notes)


def totals_html(van):
    if not van.lines:
        return ('<p class="empty">Nothing to load: no open refill task and no location at or below min on this '
                'route.</p>')
    return table(("SKU", "Description", "Pack", "Packs", "Units on van", "Units needed", "Stops"),
                 [[t.sku, t.description, t.pack, t.packs, t.van_units, t.units, t.stops] for t in van.totals()],
                 caption="Van load by SKU (whole packs)", numeric=(2, 3, 4, 5, 6))


def pick_sheet_html(van):
    """Per stop, in the van's order: the stop's cabinet and site, then its lines."""
    parts = []
    for stop in van.stops:
        lines = [ln for ln in van.lines if ln.position == stop["position"]]
        head = "Stop %d: cabinet %s at %s (%s)" % (stop["position"], stop["cabinet"], stop["site_name"], stop["site"])
        rows = [[ln.location, ln.sku, ln.description, LINE_WORDS[ln.kind], ln.units, ln.pack, ln.packs, ln.van_units]
                for ln in lines]
        body = (table(("Location", "SKU", "Description", "Line", "Units", "Pack", "Packs", "Units on van"), rows,
                      numeric=(4, 5, 6, 7))
                if rows else '<p class="empty">Nothing for this cabinet.</p>')
        parts.append('<section class="stop"><h3>%s</h3>%s</section>' % (esc(head), body))
    return "<section><h2>Pick sheet</h2>%s</section>" % "".join(parts)


def van_load_html(van):
    return status_html(van) + notes_html(van) + totals_html(van) + pick_sheet_html(van)


def reconcile_html(rec):
    route = rec.route
    start, end = rec.window
    facts = [("Route", "%s (%s)" % (route["name"], route["id"])),
             ("Load", "%s, departure %s" % (rec.load["id"], local(route, rec.load["departure"]))),
             ("Visits counted", "%d, ended between %s and %s" % (rec.visits, local(route, start), local(route, end))),
             ("Refill tasks closed", "%d of %d on the load" % (rec.tasks_closed, rec.tasks))]
    out = "<dl>%s</dl>" % "".join("<dt>%s</dt><dd>%s</dd>" % (esc(k), esc(v)) for k, v in facts)
    out += table(("SKU", "Description", "Packs", "Loaded on van", "Put in cabinets", "To return to the branch",
                  "Put in beyond the van"),
                 [[s.sku, s.description, s.packs, s.van_units, s.put_in, s.to_return, s.beyond_van] for s in rec.skus],
                 caption="Per SKU (units)", numeric=(2, 3, 4, 5, 6))
    out += table(("Stop", "Cabinet", "Location", "SKU", "Line", "Units on van", "Put in", "Task closed"),
                 [[f.line.position, f.line.cabinet, f.line.location, f.line.sku, LINE_WORDS[f.line.kind],
                   f.line.van_units, f.put_in, "" if f.task_closed is None else ("yes" if f.task_closed else "no")]
                  for f in rec.lines], caption="Per location", numeric=(0, 5, 6))
    if rec.not_loaded:
        out += table(("Cabinet", "Location", "SKU", "Put in"), rec.not_loaded,
                     caption="Put in but not on this load", numeric=(3,))
    return out
