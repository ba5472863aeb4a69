"""Money as exact decimals: the ledger stores integer cents; CSVs and the page show them as decimals."""
from decimal import Decimal

CENT = Decimal("0.01")


def decimal(cents):
    """Integer cents -> Decimal with two places (exact: no float on the way)."""
    return (Decimal(int(cents)) / 100).quantize(CENT)


def text(cents):
    """'1234.50' for a CSV."""
    return str(decimal(cents))


def display(cents, currency):
    """'1,234.50 EUR' for the page."""
    return "{:,.2f} {}".format(decimal(cents), currency)
