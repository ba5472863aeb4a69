"""Every CSV the agent writes is safe to open in a spreadsheet (issue 14): text a person typed that a
spreadsheet would run as a formula (a work order `=cmd|' /C calc'!A0`) is written with a leading apostrophe,
so the cell shows as text; numbers stay numbers, and the transaction export still reads back exactly and
verifies."""
import csv

from edge_agent.ledger import csv_cells
from edge_agent.ledger.chain import verify_rows
from edge_agent.reports import build_report, write_reports
from edge_agent.rules.csv_io import export_transactions, read_transactions
from tests.test_reports import AFTER, OCTOBER, at, october, vend

FORMULA = "=cmd|' /C calc'!A0"
POISON = {"work_order": FORMULA, "cost_center": "+SUM(1,2)", "reason": "@evil", "machine_id": "-1+1"}


def cells(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return [cell for row in csv.reader(handle) for cell in row]


def would_run(cell):
    """What a spreadsheet would take for a formula: a cell starting so, unless it is a plain number."""
    return cell.startswith(("=", "+", "-", "@", "\t", "\r")) and not csv_cells.NUMBER.fullmatch(cell)


def poisoned(tmp_path):
    ledger = october(tmp_path)
    at(ledger.clock, "2026-10-21T10:00:00")
    seq, _ = ledger.record_intent("issue", location="L1", quantity=1, user_id="T1", **POISON)
    ledger.record_outcome(seq, "vended", 1)
    vend(ledger, ledger.clock, "2026-10-22T10:00:00", "L2", "T2", "\tCC-520", work_order="\r=1+1")
    at(ledger.clock, AFTER[:19])
    return ledger


def test_no_cell_of_any_csv_would_run_as_a_formula(tmp_path):
    with poisoned(tmp_path) as ledger:
        export_transactions(ledger, tmp_path / "transactions.csv")
        written = write_reports(build_report(ledger, *OCTOBER, now=AFTER), tmp_path / "report")
    paths = dict((name, path) for name, path in written.items() if name != "html")
    paths["transactions"] = tmp_path / "transactions.csv"
    assert len(paths) > 5
    seen = {name: cells(path) for name, path in paths.items()}
    assert {name: [c for c in found if would_run(c)] for name, found in seen.items()} == {n: [] for n in seen}
    # The typed text is all there, shown as text: what the person typed, not what a formula computes.
    assert "'" + FORMULA in seen["transactions"] and "'+SUM(1,2)" in seen["transactions"]
    assert "'" + FORMULA in seen["usage"] and "'+SUM(1,2)" in seen["cost_centers"]


def test_the_export_reads_back_exactly_and_verifies(tmp_path):
    with poisoned(tmp_path) as ledger:
        export_transactions(ledger, tmp_path / "transactions.csv")
        back = read_transactions(tmp_path / "transactions.csv")
        assert back == list(ledger.transactions())
    assert verify_rows(back).ok
    assert {r["work_order"] for r in back} >= {FORMULA, "\r=1+1"}


def test_a_cell_is_neutralised_only_when_it_could_run_and_comes_back_as_it_was():
    for text in (FORMULA, "+1+1", "-A1", "@SUM(A1)", "\tx", "\rx", "'quoted", "''"):
        assert csv_cells.safe(text) == "'" + text and csv_cells.plain(csv_cells.safe(text)) == text
    for value in ("-12.50", "+3", "-1e3", "WO-1", "", None, -5, 2.5):
        assert csv_cells.safe(value) == value
