"""The package's import graph: no cycles, and no arrow running back up the layers.

Layers, bottom to top (``alignlimits/__init__.py`` shows the same map): the numeric core
(numpy/scipy/sympy) → ``lm`` → ``tasks`` → ``rl`` → ``experiments`` → ``cli``. A module may
import from its own layer and the ones below. Every import counts, function-level ones
included: a lazy import hides a cycle from Python, not from this test.
"""

from __future__ import annotations

import ast
import pkgutil
from pathlib import Path

import pytest

import alignlimits

ROOT = Path(alignlimits.__file__).parent
LAYERS = ("core", "lm", "tasks", "rl", "experiments", "cli")


def _modules() -> dict[str, Path]:
    found = {"alignlimits": ROOT / "__init__.py"}
    for info in pkgutil.walk_packages([str(ROOT)], prefix="alignlimits."):
        rel = info.name.split(".")[1:]
        path = ROOT.joinpath(*rel)
        found[info.name] = path / "__init__.py" if info.ispkg else path.with_suffix(".py")
    return found


MODULES = _modules()


def _layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "core"
    top = parts[1]
    if top in ("lm", "tasks", "rl", "experiments"):
        return top
    if top in ("cli", "__main__"):
        return "cli"
    return "core"


def _imports(module: str) -> set[str]:
    """Every alignlimits module ``module`` imports (resolved to modules that exist)."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            names = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for name in names:
            if not name.startswith("alignlimits"):
                continue
            while name and name not in MODULES:  # `from pkg import function` → pkg
                name = name.rpartition(".")[0]
            if name and name != module:
                out.add(name)
    return out


GRAPH = {m: _imports(m) for m in MODULES}


def test_the_walk_sees_the_whole_package():
    assert {"alignlimits.tilting", "alignlimits.rl.grpo", "alignlimits.experiments.rl_runs"} <= set(MODULES)
    assert "alignlimits.experiments.frontier" in GRAPH["alignlimits.experiments.rl_runs"]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_import_runs_back_up_the_layers(module):
    mine = LAYERS.index(_layer(module))
    upward = sorted(t for t in GRAPH[module] if LAYERS.index(_layer(t)) > mine
                    and t != "alignlimits")  # fmt: skip
    assert not upward, f"{module} ({_layer(module)}) imports a higher layer: {upward}"


def test_nothing_imports_experiments_or_cli_from_outside():
    for module, targets in GRAPH.items():
        if _layer(module) in ("experiments", "cli"):
            continue
        bad = sorted(t for t in targets if _layer(t) in ("experiments", "cli"))
        assert not bad, f"{module} imports {bad}"


def test_no_import_cycle():
    # Tarjan's strongly connected components over the module graph (package __init__s included).
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w == "alignlimits":  # the root package only carries __version__
                continue
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
            # A package's __init__ re-exporting its own submodules is not a cycle of concerns.
            concerns = {c for c in component if not any(o != c and o.startswith(c + ".") for o in component)}
            if len(concerns) > 1:
                cycles.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"
