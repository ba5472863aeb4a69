"""Real ledger files for tests: written from CSV text through the same importers an installer uses."""
from edge_agent.ledger import ManualClock, open_ledger
from edge_agent.rules.csv_io import import_locations, import_skus, import_users


def ledger_from_csv(tmp_path, skus=None, locations=None, users=None, clock=None):
    """A ledger at tmp_path/ledger.db holding the given CSV texts (header row first)."""
    ledger = open_ledger(tmp_path / "ledger.db", clock=clock or ManualClock())
    for name, text, importer in (("skus", skus, import_skus), ("locations", locations, import_locations),
                                 ("users", users, import_users)):
        if text is not None:
            path = tmp_path / (name + ".csv")
            path.write_text(text)
            importer(ledger, path)
    return ledger


def rows_of(ledger, kind):
    """The ledger's transactions of one kind, in seq order."""
    return [r for r in ledger.transactions() if r["kind"] == kind]
