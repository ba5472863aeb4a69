"""Reorders to the ERP (docs/hub/orders.md): what a site needs (needs.py), when it becomes an order (rules.py,
propose.py), the order's lifecycle (lifecycle.py), and its delivery to the supplier's ERP as a signed webhook
from an outbox (signing.py, outbox.py) carrying a cXML OrderRequest (cxml.py) or JSON."""
