"""The customer's billing CSV by ownership: the agent's billing.csv columns (edge_agent/reports/csv_out.py, a
contract: columns only added at the end), one line per cabinet, cost center, SKU and unit price, for every
ownership: consignment lines billed (amount = value), customer-owned lines listed with their value and amount 0.
The amounts are the agent's own billing lines (consumption.billing) of each cabinet's consumption, so their sum
is the report's billable total."""
import csv
import dataclasses
import io

from edge_agent.ledger import csv_cells
from edge_agent.reports import money
from edge_agent.reports.consumption import billing
from edge_agent.reports.csv_out import COLUMNS
from edge_agent.reports.period import iso

HEADER = COLUMNS["billing"] + ("site", "customer", "billed", "value")


def lines(customer_report):
    """[(cabinet, BillingLine, billed)] of every cabinet, billed lines first within a cabinet."""
    r = customer_report.report
    consumption = [u for u in r.usage if u.movement in ("issue", "return")]
    found = []
    for cabinet in customer_report.cabinets:
        mine = [u for u in consumption if u.cabinet == cabinet]
        billed, _ = billing(mine)
        # Customer-owned (not billed) consumption, through the same lines with billing switched on for them.
        listed, _ = billing([dataclasses.replace(u, billable=True) for u in mine if not u.billable])
        found += [(cabinet, b, True) for b in billed] + [(cabinet, b, False) for b in listed]
    return found


def rows(customer_report):
    r = customer_report.report
    out = []
    for cabinet, b, billed in lines(customer_report):
        out.append([iso(r.start), iso(r.end), cabinet, b.cost_center, b.sku, b.description, b.ownership,
                    money.text(b.unit_price_cents), b.issued, b.returned, b.quantity,
                    money.text(b.amount_cents if billed else 0), r.currency, customer_report.site_of[cabinet],
                    customer_report.customer, "yes" if billed else "no", money.text(b.amount_cents)])
    return out


def csv_text(customer_report):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows([csv_cells.safe(cell) for cell in row] for row in rows(customer_report))
    return buffer.getvalue()
