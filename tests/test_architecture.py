"""The shape of the code: imports go down the layers, and no module imports itself through others.

Read from the source (``ast``), imports inside functions included, so a lazy import cannot hide a cycle.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Bottom to top; a package may import only packages listed before it (and itself).
LAYERS = ("distill", "datasets_meta", "predictor", "search", "dass")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports() -> dict[str, set[str]]:
    """Every project module and the project modules it imports (anywhere in its body)."""
    modules = {_module_name(p): p for layer in LAYERS for p in (ROOT / layer).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: resolve against this module's package
                    base = name.split(".")[: len(name.split(".")) - node.level + (1 if is_package else 0)]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                # `from pkg import sub` names a submodule when one exists
                subs = {f"{module}.{alias.name}" for alias in node.names} & modules.keys()
                targets.update(subs or {module})
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def test_each_package_imports_only_the_layers_below_it():
    wrong = sorted(
        f"{src} imports {dst}"
        for src, dsts in _imports().items()
        for dst in dsts
        if LAYERS.index(dst.split(".")[0]) > LAYERS.index(src.split(".")[0])
    )
    assert wrong == []


def test_the_module_import_graph_has_no_cycle():
    graph = _imports()
    state: dict[str, int] = {}  # 1 on the current path, 2 finished
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(path[path.index(nxt) :] + [nxt]))
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []
