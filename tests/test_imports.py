"""The package's import graph: no cycle, counting imports inside functions as well as at module level, and no
import inside a function unless it says why it is lazy (an optional or heavy dependency)."""
from __future__ import annotations

import ast
from pathlib import Path

import bannb

PACKAGE = Path(bannb.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported(node: ast.AST, here: str, is_package: bool, known: set[str]) -> list[str]:
    """The bannb modules an import statement loads (a `from X import name` of a submodule counts as that module)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name in known]
    base = node.module or ""
    if node.level:
        anchor = here.split(".") if is_package else here.split(".")[:-1]
        anchor = anchor[:len(anchor) - (node.level - 1)]
        base = ".".join(anchor + ([node.module] if node.module else []))
    found = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in known]
    return found or ([base] if base in known else [])


def import_graph() -> tuple[dict[str, set[str]], list[tuple[str, int, str]]]:
    """{module: the bannb modules it imports anywhere}, and every function-level import as (module, line, text)."""
    found = modules()
    known = set(found)
    graph, inner = {name: set() for name in found}, []
    for name, path in found.items():
        source = path.read_text()
        lines = source.splitlines()
        tree = ast.parse(source)
        top = set(map(id, tree.body))
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            targets = imported(node, name, path.name == "__init__.py", known)
            graph[name].update(t for t in targets if t != name)
            if id(node) not in top and not _in_type_checking(tree, node):
                inner.append((name, node.lineno, lines[node.lineno - 1].strip()))
    return graph, inner


def _in_type_checking(tree, node) -> bool:
    return False


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, components, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return components


def test_cycles_finds_a_cycle_and_only_real_ones():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_package_has_no_import_cycle():
    graph, _ = import_graph()
    assert len(graph) > 40 and "bannb.runs.store" in graph
    assert cycles(graph) == []


def test_runs_imports_no_kind_of_run():
    graph, _ = import_graph()
    for name, targets in graph.items():
        if name.startswith("bannb.runs"):
            assert not any(t.startswith(("bannb.image", "bannb.lm")) for t in targets), (name, targets)


def test_every_import_inside_a_function_says_why_it_is_lazy():
    _, inner = import_graph()
    unexplained = [f"{name}:{line}: {text}" for name, line, text in inner if "lazily" not in text]
    assert unexplained == []
