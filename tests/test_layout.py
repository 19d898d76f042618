"""The package's shape: no import cycle outside compat/, few modules at the top, no shims."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "jaxcourse"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(p): p
        for p in PACKAGE.rglob("*.py")
        if "compat" not in p.relative_to(PACKAGE).parts
    }


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Package modules `path` imports anywhere (module level, functions, TYPE_CHECKING too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # `from pkg import mod` imports the module pkg.mod; `from mod import name`, mod
            targets = [
                f"{module}.{a.name}" if f"{module}.{a.name}" in known else module
                for a in node.names
            ]
        else:
            continue
        for target in targets:
            if target in known and target != name:
                found.add(target)
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of `graph`, as a list of modules, or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_cycle_outside_compat():
    modules = _modules()
    graph = {name: _imports(name, path, set(modules)) for name, path in modules.items()}
    # the parent package of an import is not an edge: `import a.b` runs a/__init__ first, but
    # an __init__ that imports its own submodules would otherwise be a cycle by construction
    assert len(graph) > 60
    cycle = _cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_checker_finds_a_function_level_cycle(tmp_path):
    a = tmp_path / "a.py"
    a.write_text("def f():\n    from pkg import b\n")
    b = tmp_path / "b.py"
    b.write_text("import pkg.a\n")
    known = {"pkg.a", "pkg.b"}
    graph = {"pkg.a": _imports("pkg.a", a, known), "pkg.b": _imports("pkg.b", b, known)}
    assert _cycle(graph) == ["pkg.a", "pkg.b", "pkg.a"]


def test_config_is_a_leaf():
    modules = _modules()
    imported = _imports("jaxcourse.config", modules["jaxcourse.config"], set(modules))
    leaves = {"jaxcourse.config_files", "jaxcourse.errors", "jaxcourse.registry"}
    assert imported <= leaves, imported


def test_at_most_15_modules_at_the_top():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 15, top
