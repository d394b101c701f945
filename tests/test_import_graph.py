"""The import graph of src/hidcap follows the layer order of docs/design.md and has no cycle, function-level
(lazy) imports included.

The graph is built from the AST of every module: an edge ``a -> b`` for every ``import b`` / ``from b import x``
(and ``from b import submodule``) anywhere in ``a``, including inside functions and ``TYPE_CHECKING`` blocks,
plus the lazy exports of ``hidcap/__init__.py`` (``_EXPORTS``). Package ``__init__`` modules are nodes too.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def import_graph(src: Path = SRC) -> dict[str, set[str]]:
    """Module -> the hidcap modules it imports (anywhere in its body)."""
    files = {module_name(p): p for p in (src / "hidcap").rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in files}
    for mod, path in files.items():
        is_pkg = path.name == "__init__.py"
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    pkg = mod.split(".") if is_pkg else mod.split(".")[:-1]
                    pkg = pkg[: len(pkg) - (node.level - 1)]
                    base = ".".join(pkg + ([base] if base else []))
                subs = [f"{base}.{a.name}" for a in node.names]
                # ``from pkg import submodule`` imports the submodule; ``from mod import name`` the module
                targets = subs if all(t in files for t in subs) else [base, *subs]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and mod == "hidcap":
                targets = [node.value]  # _EXPORTS values of the lazy top-level package
            for t in targets:
                if t in files and t != mod:
                    graph[mod].add(t)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_find_cycle_detects_a_cycle_and_accepts_a_dag():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_in_hidcap():
    graph = import_graph()
    assert len(graph) > 20, "the AST walk found too few modules"
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


@pytest.mark.parametrize("mod", ["hidcap.checkpoints"])
def test_checkpoints_imports_nothing_of_hidcap(mod):
    assert import_graph()[mod] == set()


# The layers of docs/design.md, lowest first: a module may import its own layer and the layers below it only.
# Each module belongs to the layer of its longest matching prefix; every module of src/hidcap must match one.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("utilities", ("hidcap.lazy", "hidcap.progress", "hidcap.rng", "hidcap.config_io", "hidcap.runlock")),
    ("data", ("hidcap.data",)),
    ("model + diffusion", ("hidcap.models", "hidcap.diffusion", "hidcap.diffusers_sampling")),
    ("file format", ("hidcap.checkpoints",)),
    ("run", ("hidcap.run_config", "hidcap.scales", "hidcap.run_presets", "hidcap.training", "hidcap.runs",
             "hidcap.diffusers_series", "hidcap.sweep")),
    ("trace / patch / intervene", ("hidcap.tracing", "hidcap.patching", "hidcap.interventions",
                                   "hidcap.attribution")),
    ("measure", ("hidcap.evaluation", "hidcap.geometry", "hidcap.percolation", "hidcap.theory")),
    ("figure", ("hidcap.plotting", "hidcap.geometry_plots")),
    ("experiments", ("hidcap.experiments",)),
    ("entry points", ("hidcap", "hidcap.cli", "hidcap.data.__main__")),
)


def layer_of(module: str, layers=LAYERS) -> int:
    """Index in ``layers`` of the longest prefix naming ``module`` (a package prefix matches its submodules)."""
    best, best_len = None, -1
    for i, (_, prefixes) in enumerate(layers):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best_len:
                best, best_len = i, len(p)
    if best is None:
        raise KeyError(f"module {module} belongs to no layer of docs/design.md; add it to LAYERS")
    return best


def layer_violations(graph: dict[str, set[str]], layers=LAYERS) -> list[str]:
    """``'a (layer) -> b (higher layer)'`` for every import that goes up the layer order."""
    out = []
    for mod, targets in sorted(graph.items()):
        la = layer_of(mod, layers)
        for t in sorted(targets):
            lb = layer_of(t, layers)
            if lb > la:
                out.append(f"{mod} ({layers[la][0]}) -> {t} ({layers[lb][0]})")
    return out


def test_layer_violations_are_found():
    layers = (("low", ("p.low",)), ("high", ("p.high",)))
    assert layer_violations({"p.low.a": {"p.high.b"}, "p.high.b": {"p.low.a"}}, layers) == [
        "p.low.a (low) -> p.high.b (high)"]
    with pytest.raises(KeyError, match="p.other"):
        layer_of("p.other", layers)


def test_every_module_has_a_layer():
    for mod in import_graph():
        layer_of(mod)


def test_imports_follow_the_layer_order_of_design_md():
    bad = layer_violations(import_graph())
    assert not bad, "imports against the layer order of docs/design.md:\n" + "\n".join(bad)


def test_design_md_lists_every_layer():
    text = (SRC.parent / "docs" / "design.md").read_text()
    for name, prefixes in LAYERS:
        assert f"**{name}**" in text, f"docs/design.md has no row for the layer {name!r}"
