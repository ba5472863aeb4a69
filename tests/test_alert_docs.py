"""Every alert kind the agent raises has an end in ledger/alerts.ENDS and a line in docs/alerts.md saying how
it starts, how it ends and who sees it; the document says the same ends as the table. Read from the source
with `ast`, so a kind added anywhere is checked the day it is written."""
import ast
import re
from pathlib import Path

from edge_agent.ledger.alerts import ENDS

ROOT = Path(__file__).resolve().parent.parent
KIND = re.compile(r"[a-z]+(_[a-z]+)+|stockout")


def _str(node):
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


RAISERS = ("raise_alert", "note_alert")      # ledger/alerts.py, ledger/tool_losses.py


def kinds_in_code():
    """Kinds given to a raiser: as a literal, as a constant (of any agent module), or as the first of a
    (kind, words) pair in a module that raises (actuation.py, weighing.py, cabinet_events.py build those)."""
    trees = {path: ast.parse(path.read_text()) for path in sorted((ROOT / "edge_agent").rglob("*.py"))}
    constants = {t.id: _str(n.value) for tree in trees.values() for n in tree.body if isinstance(n, ast.Assign)
                 for t in n.targets if isinstance(t, ast.Name) and _str(n.value)}

    def named(node):
        return _str(node) or (constants.get(node.id) if isinstance(node, ast.Name) else None)
    found = {}
    for path, tree in trees.items():
        text = path.read_text()
        if not any(r + "(" in text for r in RAISERS) or path.name == "alerts.py" and path.parent.name == "ledger":
            continue
        for node in ast.walk(tree):
            kind = None
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) in RAISERS:
                kind = named(node.args[2])
            elif isinstance(node, ast.Tuple) and len(node.elts) == 2 and (
                    not isinstance(node.elts[1], ast.Constant) or " " in (_str(node.elts[1]) or "")):
                kind = named(node.elts[0])
            if kind and KIND.fullmatch(kind):
                found.setdefault(kind, path.relative_to(ROOT).as_posix())
    return found


def documented():
    """{kind: row cells} of the table under "## Kinds" in docs/alerts.md."""
    text = (ROOT / "docs/alerts.md").read_text().split("## Kinds", 1)[1]
    rows = {}
    for line in text.splitlines():
        if line.startswith("## "):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| `"):
            rows[cells[0].strip("`")] = cells
    return rows


def test_every_kind_raised_in_the_code_has_an_end_and_a_line_in_docs_alerts():
    code = kinds_in_code()
    assert {"low_stock", "door_forced", "bin_weight_mismatch", "tool_overdue", "unknown_outcome",
            "cabinet_output_capped", "chain_break", "suspected_empty", "tool_lost"} <= set(code)        # the scan finds every way kinds are written
    assert sorted(set(code) - set(ENDS)) == []
    assert sorted(set(code) - set(documented())) == []


def test_docs_alerts_lists_exactly_the_end_table_with_the_same_ends():
    rows = documented()
    assert sorted(rows) == sorted(ENDS)
    words = {"condition": "condition", "count": "count", "acknowledged": "acknowledged"}
    for kind, ways in ENDS.items():
        ends = rows[kind][2]
        assert sorted(w for w in words if "**%s**" % w in ends) == sorted(ways), kind
