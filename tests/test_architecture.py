"""The engine's shape: no import cycle in src/kagglebench, and the registries are the config's valid values.

The import graph is read from the source with `ast`: every `import` and `from ... import`
anywhere in a module (top level or inside a function) is an edge to the kagglebench module
it names; imports under `if TYPE_CHECKING:` are annotations only and are skipped.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "kagglebench"


def _module_name(path: Path, src: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or \
        (isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, here: str, is_package: bool) -> list[tuple[str, list[str]]]:
    """(module, names) of every import in `tree` outside `if TYPE_CHECKING:` blocks."""
    out: list[tuple[str, list[str]]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            out.extend((a.name, []) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = here.split(".") if is_package else here.split(".")[:-1]
                pkg = pkg[:len(pkg) - (node.level - 1)]
                base = ".".join(pkg + ([base] if base else []))
            out.append((base, [a.name for a in node.names]))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return out


def import_graph(root: Path = SRC / PACKAGE) -> dict[str, set[str]]:
    """{module: the kagglebench modules it imports}."""
    files = {_module_name(p, root.parent): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in files}
    for mod, path in files.items():
        tree = ast.parse(path.read_text(), str(path))
        for target, names in _imports(tree, mod, path.name == "__init__.py"):
            if target != PACKAGE and not target.startswith(PACKAGE + "."):
                continue
            subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in files]
            edges = subs if subs and len(subs) == len(names) else [*subs, target]
            graph[mod] |= {e for e in edges if e in files and e != mod}
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def strongconnect(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return cycles


def test_the_cycle_finder_finds_a_planted_cycle(tmp_path: Path) -> None:
    pkg = tmp_path / PACKAGE
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from kagglebench.sub import b\n")
    (pkg / "sub" / "b.py").write_text("from .. import c\n")
    (pkg / "c.py").write_text("import kagglebench.a\n")
    (pkg / "d.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from kagglebench import a\n")
    graph = import_graph(pkg)
    assert graph["kagglebench.sub.b"] == {"kagglebench.c"}
    assert graph["kagglebench.d"] == set()                   # annotations only
    assert find_cycles(graph) == [["kagglebench.a", "kagglebench.c", "kagglebench.sub.b"]]


def test_no_import_cycle_in_the_engine() -> None:
    cycles = find_cycles(import_graph())
    shown = "; ".join(" <-> ".join(c) for c in cycles)
    assert cycles == [], f"import cycles in src/kagglebench: {shown}"


def test_the_run_record_and_the_store_sit_below_training_and_evaluation() -> None:
    graph = import_graph()
    for low in ("kagglebench.runs", "kagglebench.store", "kagglebench.config", "kagglebench.workspace"):
        above = {m for m in graph[low] if m.startswith(("kagglebench.train", "kagglebench.evaluate",
                                                          "kagglebench.cli", "kagglebench.kaggle"))}
        assert above == set(), (low, above)


@pytest.mark.parametrize(("key", "registry"), [
    ("optim.name", "kagglebench.train.optim:OPTIMIZERS"),
    ("schedule.name", "kagglebench.train.optim:SCHEDULES"),
    ("data.policy", "kagglebench.train.augment:POLICIES"),
    ("data.tta", "kagglebench.evaluate.tta:MODES"),
])
def test_config_choices_are_the_registries_names(key: str, registry: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    from kagglebench.config import choices, load_recipe
    from kagglebench.errors import UserError

    module, _, attr = registry.partition(":")
    table = getattr(importlib.import_module(module), attr)
    assert choices(key) == tuple(table)
    # A name registered at run time is valid at once, and only while it is registered.
    if isinstance(table, dict):
        with pytest.raises(UserError, match=f"{key} = 'brand-new' is not one of"):
            load_recipe("demo-cnn", [f"{key}=brand-new"])
        monkeypatch.setitem(table, "brand-new", table[next(iter(table))])
        assert getattr(load_recipe("demo-cnn", [f"{key}=brand-new"]), key.split(".")[0]).__dict__[
            key.split(".")[1]] == "brand-new"


def test_checking_a_recipe_imports_no_torch() -> None:
    """The GUI's New-run dialog validates recipes in its own process, which never loads torch."""
    code = ("import sys\nfrom kagglebench.config import load_recipe\n"
            "load_recipe('fast', ['data.policy=randaugment', 'optim.name=adamw', 'schedule.name=step',"
            " 'data.tta=flip'])\nprint(sorted(m for m in ('torch', 'torchvision') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
