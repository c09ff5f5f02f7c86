"""The package's shape: no import cycles, no private names taken across modules, folders that say what they hold.

The imports are read from the source (``ast``), not by importing: an edge ``a -> b``
is an import of rxring module ``b`` by module ``a`` at module level (imports inside
functions are deferred and cannot cycle at import time, but they are checked for
private names too).  A package's ``__init__`` is its own node, and importing
``rxring.x.y`` from outside ``rxring.x`` also imports ``rxring.x`` (its ``__init__``
runs first), so that edge is there too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

PACKAGE = Path(__file__).resolve().parents[1] / "rxring"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _resolve(module: str, node: ast.ImportFrom | ast.Import, is_package: bool) -> list[tuple[str, str | None]]:
    """(imported rxring module, imported name or None) pairs of one import statement."""
    out = []
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name == "rxring" or alias.name.startswith("rxring."):
                out.append((alias.name, None))
        return out
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if not (target == "rxring" or target.startswith("rxring.")):
        return out
    for alias in node.names:
        sub = f"{target}.{alias.name}"
        out.append((sub, None) if sub in MODULES else (target, alias.name))
    return out


def _imports():
    """Yield (importer, imported module, imported name or None, at module level?, line)."""
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        is_package = path.name == "__init__.py"
        top = set(id(n) for n in tree.body)
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target, name in _resolve(module, node, is_package):
                    yield module, target, name, id(node) in top, node.lineno


def test_every_module_is_found():
    assert "rxring.analysis" in MODULES and "rxring.backends.duckdb" in MODULES and "rxring.rules.registry" in MODULES


def test_no_import_cycles():
    graph = nx.DiGraph()
    graph.add_nodes_from(MODULES)
    for importer, target, _, top_level, _ in _imports():
        if top_level and target in MODULES and target != importer:
            graph.add_edge(importer, target)
            # importing rxring.a.b first runs rxring/a/__init__ (unless the importer is inside rxring.a)
            parts = target.split(".")
            for depth in range(2, len(parts)):
                package = ".".join(parts[:depth])
                if not importer.startswith(package + ".") and importer != package:
                    graph.add_edge(importer, package)
    cycles = list(nx.simple_cycles(graph))
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c + [c[0]]) for c in cycles[:10])


def test_no_private_names_across_modules():
    taken = []
    for importer, target, name, _, line in _imports():
        if name and name.startswith("_") and not name.startswith("__") and target != importer:
            taken.append(f"{MODULES[importer].relative_to(PACKAGE.parent)}:{line} takes {target}.{name}")
    # attribute access on an imported rxring module: module._private
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases = {}
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target, name in _resolve(module, node, path.name == "__init__.py"):
                    if name is None:
                        for alias in node.names:
                            aliases[alias.asname or alias.name.split(".")[-1]] = target
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                    and node.attr.startswith("_") and not node.attr.startswith("__")
                    and aliases[node.value.id] != module):
                taken.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} uses "
                             f"{aliases[node.value.id]}.{node.attr}")
    assert not taken, "private names taken across modules:\n" + "\n".join(taken)


def test_folders_say_what_they_hold():
    """The pipeline is the folder layout (DESIGN §5)."""
    for folder in ("ingest", "rules", "rules/sql", "rules/cypher", "backends", "backends/spark", "backends/neo4j",
                   "report", "commands"):
        assert (PACKAGE / folder).is_dir(), folder
    for module in ("analysis.py", "rings.py", "results.py", "schema.py", "options.py", "workspace.py"):
        assert (PACKAGE / module).is_file(), module
    for gone in ("graph", "queries", "spark"):
        assert not list((PACKAGE / gone).glob("*.py")), f"rxring/{gone} should have moved (see DESIGN §5)"
    assert not list((PACKAGE / "rules").rglob("*.py")) or all(
        "duckdb" not in p.name and "neo4j" not in p.name and "spark" not in p.name
        for p in (PACKAGE / "rules").rglob("*.py")), "rules/ holds no engine code"


def test_library_calls_exported():
    import rxring

    for name in ("analyze", "run_rules", "ingest", "read_events", "load_findings", "load_rings", "box_timeline",
                 "AnalysisOptions", "RxringError", "RULES", "BACKENDS"):
        assert name in rxring.__all__
        assert getattr(rxring, name) is not None
