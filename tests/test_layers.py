"""The agent's layout keeps its shape (docs/decisions/0021-where-code-goes.md): each package imports only
from itself and the layers below it, only link/ imports the firmware, no module reaches for another
module's private names, and no module grows past about 400 lines. Read from the source with `ast`, so a
new module is checked the day it is written."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
AGENT = ROOT / "edge_agent"
# Lower layers never import higher ones; packages on one layer do not import each other. The command
# line (cli, which also starts the API in `locker-agent run`) is the very top.
LAYERS = {"link": 0, "badge": 0, "ledger": 1, "rules": 2, "flows": 3, "cloud": 3, "reports": 3, "app": 4,
          "api": 5, "cli": 6}
MAX_LINES = 400


def modules(root=AGENT):
    return sorted(p for p in root.rglob("*.py") if "screen" not in p.parts)


def package_of(path):
    parts = path.relative_to(AGENT).parts
    return parts[0] if len(parts) > 1 else None


def imported(tree):
    """(module name, names imported from it or None, line) for every import in the module."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, [a.name for a in node.names], node.lineno


def target_package(module, names):
    """The edge_agent package an import reaches, or None for anything else."""
    parts = module.split(".")
    if parts[0] != "edge_agent":
        return None
    if len(parts) > 1:
        return parts[1]
    return names[0] if names and len(names) == 1 else "edge_agent"


def test_every_agent_module_lives_in_a_layer():
    loose = [p.name for p in modules() if package_of(p) is None and p.name != "__init__.py"]
    assert loose == []
    assert {package_of(p) for p in modules()} - {None} == set(LAYERS)


def test_imports_go_down_the_layers_only():
    wrong = []
    for path in modules():
        here = package_of(path)
        if here is None:
            continue
        for module, names, line in imported(ast.parse(path.read_text())):
            there = target_package(module, names)
            if there is None or there == here or there == "edge_agent":   # the root holds only __version__
                continue
            if there not in LAYERS or LAYERS[there] >= LAYERS[here]:
                wrong.append("%s:%d imports %s (%s)" % (path.relative_to(ROOT), line, module, there))
    assert wrong == []


def test_only_the_link_layer_imports_the_firmware():
    reaching = ["%s:%d" % (path.relative_to(ROOT), line) for path in modules()
                for module, _, line in imported(ast.parse(path.read_text()))
                if module.split(".")[0] == "firmware" and package_of(path) != "link"]
    assert reaching == []


def defined_names(tree):
    """Every name a module defines itself: functions, classes, attributes it assigns, parameters."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return names


def private_reaches(path, label=None):
    """A private name this module uses but does not define: imported, or read off another module's object."""
    label = label or path.relative_to(ROOT)
    tree = ast.parse(path.read_text())
    own = defined_names(tree)
    found = []
    for module, names, line in imported(tree):
        found += ["%s:%d from %s import %s" % (label, line, module, n)
                  for n in names or [] if n.startswith("_") and not n.startswith("__")]
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                and node.attr not in own):
            found.append("%s:%d .%s" % (label, node.lineno, node.attr))
    return found


@pytest.mark.parametrize("folder", ["edge_agent", "sim", "tools", "locker_flash"])
def test_no_module_reaches_for_another_modules_private_names(folder):
    found = [reach for path in modules(ROOT / folder) for reach in private_reaches(path)]
    assert found == []


def test_no_agent_module_grows_past_about_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in modules() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_the_check_sees_a_reach_and_an_upward_import(tmp_path):
    """The checks above fail on what they are there to stop (a check that cannot fail proves nothing)."""
    bad = tmp_path / "bad.py"
    bad.write_text("from edge_agent.flows.vending import _hidden\nx = other._private\n")
    assert private_reaches(bad, "bad.py") == ["bad.py:1 from edge_agent.flows.vending import _hidden",
                                              "bad.py:2 ._private"]
    assert target_package("edge_agent.api.app", ["x"]) == "api" and LAYERS["api"] > LAYERS["flows"]
