"""An order as a cXML OrderRequest (cXML 1.2; decision 0044 says why cXML and not EDI X12 850), written with
the standard library's xml.etree, and read back to check it carries what the spec requires.

Quantities are in packs: quantity = packs, UnitOfMeasure PK (EA for packs of one), UnitPrice per pack; the
Extrinsics PackSize and Units say what a pack holds. A cancellation is the same document with type="delete"."""
import xml.etree.ElementTree as ET

from edge_agent.reports import money

VERSION = "1.2.014"
DOCTYPE = '<!DOCTYPE cXML SYSTEM "http://xml.cxml.org/schemas/cXML/%s/cXML.dtd">' % VERSION
CONTENT_TYPE = "text/xml; charset=utf-8"
LANG = "en-US"
# What the OrderRequest DTD requires, as paths under <cXML> (checked by validate()).
REQUIRED = ("Header/From/Credential/Identity", "Header/To/Credential/Identity",
            "Header/Sender/Credential/Identity", "Header/Sender/UserAgent",
            "Request/OrderRequest/OrderRequestHeader", "Request/OrderRequest/OrderRequestHeader/Total/Money",
            "Request/OrderRequest/ItemOut")
ITEM_REQUIRED = ("ItemID/SupplierPartID", "ItemDetail/UnitPrice/Money", "ItemDetail/Description",
                 "ItemDetail/UnitOfMeasure", "ItemDetail/Classification")
# The DTD's order of ItemDetail's children (UnitPrice, Description+, UnitOfMeasure, Classification+, ...,
# Extrinsic*), checked too: a validating importer refuses another order.
ITEM_DETAIL_ORDER = ("UnitPrice", "Description", "UnitOfMeasure", "Classification", "Extrinsic")
CLASSIFICATION = "category"            # the catalog's own categories (skus.csv), not UNSPSC codes


class CxmlError(ValueError):
    """A document that is not an OrderRequest as the spec has it; the text names what is missing."""


def _credential(parent, tag, identity, domain="NetworkID"):
    node = ET.SubElement(parent, tag)
    cred = ET.SubElement(node, "Credential", domain=domain)
    ET.SubElement(cred, "Identity").text = identity
    return node


def _money(parent, cents, currency):
    ET.SubElement(parent, "Money", currency=currency).text = money.text(cents or 0)


def _address(parent, tag, address_id, name):
    node = ET.SubElement(parent, tag)
    address = ET.SubElement(node, "Address", addressID=address_id)
    ET.SubElement(address, "Name", {"xml:lang": LANG}).text = name


def order_id(order):
    """The order's number as the ERP sees it: <tenant>-<id>."""
    return "%s-%d" % (order["tenant"], order["id"])


def build(order, lines, site, payload_id, timestamp, kind="new"):
    """The OrderRequest as UTF-8 bytes. order: the orders row; lines: its order_lines rows; site: its sites
    row; payload_id: unique per document (the outbox's idempotency key); timestamp: an aware datetime."""
    currency = order["currency"]
    root = ET.Element("cXML", {"payloadID": payload_id, "timestamp": timestamp.isoformat(timespec="seconds"),
                               "xml:lang": LANG})
    head = ET.SubElement(root, "Header")
    _credential(head, "From", order["tenant"])
    _credential(head, "To", order["supplier"])
    sender = _credential(head, "Sender", order["tenant"])
    ET.SubElement(sender, "UserAgent").text = "locker-hub"
    request = ET.SubElement(root, "Request", deploymentMode="production")
    req = ET.SubElement(request, "OrderRequest")
    header = ET.SubElement(req, "OrderRequestHeader", orderID=order_id(order),
                           orderDate=order["proposed_at"].isoformat(timespec="seconds"), type=kind)
    total = sum((line["unit_cost"] or 0) * line["units"] for line in lines)
    _money(ET.SubElement(header, "Total"), total, currency)
    _address(header, "ShipTo", "%s/%s" % (order["tenant"], site["id"]), site["name"])
    _address(header, "BillTo", site["customer"] or site["id"], site["customer"] or site["name"])
    for line in lines:
        item = ET.SubElement(req, "ItemOut", quantity=str(line["packs"]), lineNumber=str(line["line"]))
        ET.SubElement(ET.SubElement(item, "ItemID"), "SupplierPartID").text = line["sku"]
        detail = ET.SubElement(item, "ItemDetail")
        _money(ET.SubElement(detail, "UnitPrice"), (line["unit_cost"] or 0) * line["package_size"], currency)
        ET.SubElement(detail, "Description", {"xml:lang": LANG}).text = line["description"] or line["sku"]
        ET.SubElement(detail, "UnitOfMeasure").text = "PK" if line["package_size"] > 1 else "EA"
        ET.SubElement(detail, "Classification", domain=CLASSIFICATION).text = line.get("category") or "uncategorized"
        ET.SubElement(detail, "Extrinsic", name="PackSize").text = str(line["package_size"])
        ET.SubElement(detail, "Extrinsic", name="Units").text = str(line["units"])
    ET.indent(root)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n%s\n' % DOCTYPE).encode() + ET.tostring(root, encoding="utf-8")


def validate(data):
    """Parse an OrderRequest back (bytes); CxmlError naming what is missing. Returns {order_id, type, total,
    currency, items: [{line, sku, quantity, uom, unit_price, description, units, pack_size}]}."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as e:
        raise CxmlError("not XML: %s" % e) from None
    if root.tag != "cXML":
        raise CxmlError("the root element is <%s>, not <cXML>" % root.tag)
    missing = [p for p in REQUIRED if root.find(p) is None]
    missing += ["cXML@%s" % a for a in ("payloadID", "timestamp") if not root.get(a)]
    header = root.find("Request/OrderRequest/OrderRequestHeader")
    if header is not None:
        missing += ["OrderRequestHeader@%s" % a for a in ("orderID", "orderDate", "type") if not header.get(a)]
    items = []
    for item in root.findall("Request/OrderRequest/ItemOut"):
        gone = [p for p in ITEM_REQUIRED if item.find(p) is None]
        order = [ITEM_DETAIL_ORDER.index(c.tag) for c in item.findall("ItemDetail/*") if c.tag in ITEM_DETAIL_ORDER]
        if order != sorted(order):
            gone.append("ItemDetail's children in the order %s" % ", ".join(ITEM_DETAIL_ORDER))
        gone += ["@%s" % a for a in ("quantity", "lineNumber") if not item.get(a)]
        if gone:
            missing.append("ItemOut %s: %s" % (item.get("lineNumber"), ", ".join(gone)))
            continue
        extr = {e.get("name"): e.text for e in item.findall("ItemDetail/Extrinsic")}
        items.append({"line": int(item.get("lineNumber")), "sku": item.findtext("ItemID/SupplierPartID"),
                      "quantity": int(item.get("quantity")), "uom": item.findtext("ItemDetail/UnitOfMeasure"),
                      "classification": item.findtext("ItemDetail/Classification"),
                      "unit_price": item.findtext("ItemDetail/UnitPrice/Money"),
                      "description": item.findtext("ItemDetail/Description"),
                      "units": int(extr.get("Units") or 0), "pack_size": int(extr.get("PackSize") or 1)})
    if missing:
        raise CxmlError("not a cXML OrderRequest, missing: %s" % "; ".join(missing))
    money_node = header.find("Total/Money")
    return {"order_id": header.get("orderID"), "type": header.get("type"), "payload_id": root.get("payloadID"),
            "total": money_node.text, "currency": money_node.get("currency"), "items": items,
            "from": root.findtext("Header/From/Credential/Identity"), "to": root.findtext("Header/To/Credential/Identity")}
