"""The code's shape: packages by pipeline stage, imports flowing one way, short functions.

Read with `ast` (nothing is imported). Imports inside functions count too: a lazy import keeps a heavy
library off a path that does not need it, but it may not reach up to a later stage.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QA = ROOT / "qa"
MAX_TOP_MODULES = 10
MAX_FUNCTION_LINES = 80

# Each stage may import only from its own rank and the ranks below it. The same rank may import sideways
# (eval's tab in the app, eval's metrics in bench) as long as no cycle forms.
RANK = {
    "qa": 0, "qa.errors": 0, "qa.types": 0, "qa.words": 0, "qa.years": 0, "qa.paths": 0,
    "qa.ingest": 1,
    "qa.index": 2,
    "qa.search": 3,
    "qa.answer": 4,
    "qa.eval": 5, "qa.bench": 5, "qa.app": 5,
    "qa.cli": 6, "qa.__main__": 6,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(QA.rglob("*.py"))}


def imports(path: Path, known: set[str]) -> set[str]:
    """The qa modules a file imports, at the top or inside functions (`from qa.x import y` counts y when
    y is itself a module)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "qa"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "qa":
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in known}
    return {m for m in out if m in known}


def stage(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {m: imports(p, set(mods)) - {m} for m, p in mods.items()}


def test_every_module_has_a_stage():
    assert not [m for m in modules() if stage(m) not in RANK]


def test_at_most_ten_modules_at_the_top():
    top = sorted(p.name for p in QA.glob("*.py"))
    assert len(top) <= MAX_TOP_MODULES, top


def test_no_stage_imports_a_later_one():
    upward = [f"{m} → {d}" for m, deps in graph().items() for d in deps
              if stage(d) not in ("qa",) and RANK[stage(d)] > RANK[stage(m)]]
    assert not upward, upward


def test_no_import_cycles():
    g = graph()
    # Package __init__ files import nothing of their own, so an edge into a package is into its __init__.
    state: dict[str, int] = {}  # 1: on the path, 2: done
    cycles = []

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for d in sorted(g[m]):
            if state.get(d) == 1:
                cycles.append(" → ".join([*path[path.index(d):], d]))
            elif d not in state:
                visit(d, [*path, d])
        state[m] = 2

    for m in sorted(g):
        if m not in state:
            visit(m, [m])
    assert not cycles, cycles


def test_no_function_over_eighty_lines():
    long = []
    for path in [*QA.rglob("*.py"), ROOT / "app.py"]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, long
