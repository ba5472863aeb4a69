"""One report per customer: the monthly report across every cabinet of a customer's sites, built at the hub
by the agent's own report code (docs/hub/reports.md, decision 0047).

    from hub import customer_report
    c = customer_report.build(conn, "acme", "Customer A", start, end, now)     # a CustomerReport
    html = customer_report.render(c)                                            # one page, charts inline
    text = customer_report.billing_csv(c)                                       # billing by ownership
"""
from hub.customer_report.billing import csv_text as billing_csv
from hub.customer_report.build import CustomerReport, build_customer_report as build
from hub.customer_report.page import STYLESHEET, render
from hub.customer_report.scope import ScopeError, customers, sites_of

__all__ = ["build", "render", "billing_csv", "CustomerReport", "ScopeError", "customers", "sites_of", "STYLESHEET"]
