"""The house rules of ``serlive/`` (docs/architecture.md), checked on the source like any other test.

Why static: an import inside a function (a lazy import) breaks a layer as surely as one at the top,
and importing every module to watch ``sys.modules`` would need Qt, TensorFlow and a display.  So
every ``import`` and ``from ... import`` statement of every module is read with :mod:`ast`, lazy and
``TYPE_CHECKING`` ones included, and the resulting graph must:

* have no circles (a circle is two modules that cannot be understood, tested or moved apart);
* keep its floors: the core imports only the core; ``live/`` and ``files/`` import the core and not
  each other; ``gui/`` does not import ``train/``; nothing imports ``cli/``, ``gui/`` or the package
  root's public API from below;
* keep the heavy libraries in their rooms: Qt only in ``gui/``, the training stack only in
  ``train/``, Dask only in ``files/cluster``.

The checker is tested on small made-up graphs too, so a rule that could never fire is caught.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "serlive"

#: rooms, by the dotted prefix of their modules; the first match wins
ROOMS = (
    ("serlive.api", "api"),
    ("serlive.gui", "gui"),
    ("serlive.cli", "cli"),
    ("serlive.train", "train"),
    ("serlive.live", "live"),
    ("serlive.files", "files"),
)
#: what each room may import (serlive rooms); "api" is the package root's public API
MAY_IMPORT: dict[str, set[str]] = {
    "core": {"core"},
    "live": {"core", "live"},
    "files": {"core", "files"},
    "train": {"core", "files", "train"},
    "gui": {"core", "live", "files", "gui"},
    "cli": {"core", "live", "files", "gui", "train", "cli", "api"},
    "api": {"core", "live", "files", "api"},
}
#: third-party packages that only one room may import, and which room
HEAVY: dict[str, tuple[str, ...]] = {
    "PySide6": ("serlive.gui",),
    "shiboken6": ("serlive.gui",),
    "pyqtgraph": ("serlive.gui",),
    "tensorflow": ("serlive.train",),
    "keras": ("serlive.train",),
    "librosa": ("serlive.train",),
    "torch": ("serlive.train",),
    "ctranslate2": ("serlive.train",),
    "sklearn": ("serlive.train",),
    "matplotlib": ("serlive.train",),
    "dask": ("serlive.files.cluster",),
    "distributed": ("serlive.files.cluster",),
}


def room(module: str) -> str:
    """The room a module lives in."""
    if module == "serlive":
        return "api"
    for prefix, name in ROOMS:
        if module == prefix or module.startswith(prefix + "."):
            return name
    return "core"


def module_name(path: Path, root: Path = ROOT) -> str:
    """``serlive/live/engine.py`` → ``serlive.live.engine`` (a package is its ``__init__``)."""
    parts = path.relative_to(root.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(source: str, module: str, is_package: bool) -> set[str]:
    """Every module named by an import statement anywhere in ``source`` (relative ones resolved)."""
    out: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            out.add(base)
            # ``from serlive.files import analysis`` names the submodule, not only the package
            out.update(f"{base}.{alias.name}" for alias in node.names)
    return out


def serlive_graph(root: Path = ROOT) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(imports between serlive modules, third-party top-level packages each module imports)."""
    files = {module_name(p, root): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    external: dict[str, set[str]] = {}
    for mod, path in files.items():
        names = imports_of(path.read_text(encoding="utf-8"), mod, path.name == "__init__.py")
        # a module's own parent packages run before it anyway (``from serlive.cli import desktop``
        # inside ``serlive.cli.commands``): not an edge of the graph
        graph[mod] = {n for n in names if n in files and n != mod and not _is_parent_package(n, mod)}
        external[mod] = {n.split(".")[0] for n in names if not n.startswith("serlive")}
    return graph, external


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
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
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def layer_breaks(graph: dict[str, set[str]]) -> list[str]:
    """``a -> b`` for every import that a's room may not make."""
    return sorted(
        f"{a} ({room(a)}) -> {b} ({room(b)})"
        for a, targets in graph.items()
        for b in targets
        if room(b) not in MAY_IMPORT[room(a)] and not _is_parent_package(b, a)
    )


def _is_parent_package(target: str, module: str) -> bool:
    """Importing ``serlive.gui.x`` runs the parents' ``__init__`` modules: not an import of them."""
    return module.startswith(target + ".")


def heavy_breaks(external: dict[str, set[str]]) -> list[str]:
    """``module imports package`` for every heavy package imported outside its room."""
    return sorted(
        f"{mod} imports {pkg}"
        for mod, pkgs in external.items()
        for pkg in pkgs
        if pkg in HEAVY and not any(mod == r or mod.startswith(r + ".") for r in HEAVY[pkg])
    )


# --- the rules on the real tree ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def tree() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    return serlive_graph()


def test_the_graph_is_read(tree):
    graph, external = tree
    # the reader sees lazy imports too: the CLI imports the GUI only when the app is asked for
    assert "serlive.gui.app" in graph["serlive.cli.commands"]
    assert "serlive.live.engine" in graph["serlive.gui.live_view"]
    assert "tensorflow" in set().union(*(external[m] for m in graph if m.startswith("serlive.train")))


def test_no_import_circles(tree):
    assert cycles(tree[0]) == []


def test_no_import_runs_back_up_a_floor(tree):
    assert layer_breaks(tree[0]) == []


def test_heavy_libraries_stay_in_their_rooms(tree):
    assert heavy_breaks(tree[1]) == []


def test_no_module_over_600_lines():
    long = {module_name(p): n for p in ROOT.rglob("*.py") if (n := len(p.read_text().splitlines())) > 600}
    assert long == {}


# --- the checker itself -----------------------------------------------------------------------------
def test_the_checker_finds_a_circle_and_a_break():
    graph = {
        "serlive.segments": {"serlive.files.analysis"},
        "serlive.files.analysis": {"serlive.segments", "serlive.live.engine"},
        "serlive.live.engine": {"serlive.gui.plots"},
        "serlive.gui.plots": set(),
    }
    assert cycles(graph) == [["serlive.files.analysis", "serlive.segments"]]
    assert layer_breaks(graph) == [
        "serlive.files.analysis (files) -> serlive.live.engine (live)",
        "serlive.live.engine (live) -> serlive.gui.plots (gui)",
        "serlive.segments (core) -> serlive.files.analysis (files)",
    ]
    assert heavy_breaks({"serlive.model": {"tensorflow", "numpy"}, "serlive.gui.app": {"PySide6"}}) == [
        "serlive.model imports tensorflow"
    ]


def test_relative_and_lazy_imports_are_read():
    src = "from . import engine\nfrom ..files.analysis import x\ndef f():\n    import serlive.gui.app\n"
    names = imports_of(src, "serlive.live.run", is_package=False)
    assert {"serlive.live.engine", "serlive.files.analysis", "serlive.gui.app"} <= names
