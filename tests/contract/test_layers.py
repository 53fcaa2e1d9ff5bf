"""Imports point down the layers of ARCHITECTURE.md, found in the source's syntax trees (in the spirit of
accelerate's ``tests/test_imports.py``): a module may import its own layer and the layers below, never one
above, and justfit's modules are imported at module level. The test reads ``import`` statements and
``importlib.import_module``/``__import__`` calls with a literal name, so moving or renaming a module does not
hide an edge: every module must be placed in a layer, by its dotted name.

Two kinds of debt are ratcheted, as the word ban is (``test_seam.py``): the upward edges that remain
(``UPWARD_DEBT``) and the in-function imports per file (``INLINE_DEBT``). A new one fails; one paid fails
too, until the list is lowered, so the debt only falls.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "justfit"

# Layer number -> the dotted module prefixes it holds; the longest matching prefix places a module.
LAYERS: dict[int, tuple[str, ...]] = {
    # core: errors, the registry class and the registries, atomic files, plain records, the task protocol
    0: ("justfit.errors", "justfit._registry", "justfit.registries", "justfit._files", "justfit.directions",
        "justfit.results", "justfit.history", "justfit.tasks.base", "justfit.data.encoding",
        "justfit.data.augment", "justfit.data.textfile", "justfit._progress"),
    # config: typed sections, shapes and ranges; the model families' measured defaults
    1: ("justfit.config", "justfit.defaults"),
    # read plain records and the run folder
    2: ("justfit.evaluation", "justfit.diagnosis", "justfit.report"),
    # the engine: the loop, callbacks, optimisers, models (hub loading, heads, freezing, LoRA, saving)
    3: ("justfit.training", "justfit.models"),
    # the task plug-ins, and the table plumbing (readers, cleaning, splitting, audits)
    4: ("justfit.tasks", "justfit.data", "justfit._portable"),
    # the sequencer: settings checked once, the data stage, checkpoints and resuming, trackers, seeds
    5: ("justfit.checks", "justfit.resume", "justfit.tracking", "justfit.seeds", "justfit._display",
        "justfit.data.stage", "justfit.training.probe", "justfit.rundir"),
    # the face: the Python API, the search and auto-fit around the estimator, the CLI
    6: ("justfit", "justfit.estimator", "justfit.run", "justfit.tuning", "justfit.cli", "justfit.__main__",
        "justfit.export"),
    # the leaf: packaged data sets, presets and converters; no module imports it
    7: ("justfit.catalogue",),
}

# Upward edges that remain, "importer -> imported module": each is a piece of work (see ARCHITECTURE.md).
UPWARD_DEBT: set[str] = set()

# Per file, how many imports of justfit sit inside a function (the rest must be at module level).
INLINE_DEBT: dict[str, int] = {
    "justfit": 9, "justfit.catalogue.presets": 1, "justfit.catalogue.speech_sets": 2,
    "justfit.catalogue.whisper_ct2": 4, "justfit.checks": 1, "justfit.cli._common": 6, "justfit.cli.check": 5,
    "justfit.cli.clean": 9, "justfit.cli.doctor": 4, "justfit.cli.evaluate": 11, "justfit.cli.export": 4,
    "justfit.cli.lr_find": 8, "justfit.cli.main": 5, "justfit.cli.predict": 13, "justfit.cli.report": 4,
    "justfit.cli.train": 19, "justfit.cli.tune": 17, "justfit.config": 1, "justfit.data": 13,
    "justfit.data.cleaning": 1, "justfit.data.formats": 3, "justfit.data.inputs": 5, "justfit.data.io": 5,
    "justfit.data.label_audit": 1, "justfit.data.media": 4, "justfit.data.stage": 7, "justfit.estimator": 6,
    "justfit.export": 1, "justfit.models.heads": 1, "justfit.models.saving": 1, "justfit.report.render": 1,
    "justfit.results": 1, "justfit.resume": 1, "justfit.run": 4, "justfit.tasks": 10,
    "justfit.tasks.image.models": 2, "justfit.tasks.tagging.audit": 1, "justfit.tasks.tagging.data": 1,
    "justfit.tasks.tagging.step": 2, "justfit.tasks.tagging.task": 1, "justfit.tasks.text.frozen": 1,
    "justfit.tasks.text.task": 2, "justfit.training.callbacks.early_stopping": 1, "justfit.training.fit": 3,
    "justfit.training.optim": 1, "justfit.training.trainer": 1, "justfit.tuning.tune": 8,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int | None:
    """The layer of ``module`` by its longest matching prefix; ``None`` when no layer holds it."""
    best: tuple[int, int] | None = None
    for number, prefixes in LAYERS.items():
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[1]):
                best = (number, len(prefix))
    return None if best is None else best[0]


def imports_of(tree: ast.AST, module: str, is_package: bool = False) -> list[tuple[str, int, bool]]:
    """``(imported module, line, inside a function)`` for each import of justfit in ``tree``: ``import`` and
    ``from`` statements (relative ones resolved against ``module``) and ``importlib.import_module``/
    ``__import__`` calls with a literal name, and the modules a lazy face names (a module-level ``_LAZY`` dict of
    name -> module, loaded on first use: counted as in-function imports). Imports under ``if TYPE_CHECKING:`` are not imports at run time
    and are left out."""
    package = module if is_package else module.rpartition(".")[0]
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, inline: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for other in child.orelse:
                    visit(other, inline)
                continue
            if isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - child.level + 1]
                    name = ".".join(base + ([child.module] if child.module else []))
                else:
                    name = child.module or ""
                if name == "justfit" or name.startswith("justfit."):
                    # `from justfit.x import y` where y is a submodule imports justfit.x.y
                    for alias in child.names:
                        sub = f"{name}.{alias.name}"
                        target = sub if (SRC.parent / (sub.replace(".", "/") + ".py")).exists() or \
                            (SRC.parent / sub.replace(".", "/")).is_dir() else name
                        found.append((target, child.lineno, inline))
            elif isinstance(child, ast.Import):
                found.extend((a.name, child.lineno, inline) for a in child.names
                             if a.name == "justfit" or a.name.startswith("justfit."))
            elif isinstance(child, ast.Assign) and not inline and isinstance(child.value, ast.Dict) and \
                    any(isinstance(t, ast.Name) and t.id == "_LAZY" for t in child.targets):
                # a lazy face (PEP 562): each name loads its module on first use, as an in-function import would
                found.extend((v.value, child.lineno, True) for v in child.value.values
                             if isinstance(v, ast.Constant) and str(v.value).startswith("justfit"))
            elif isinstance(child, ast.Call) and child.args and isinstance(child.args[0], ast.Constant) \
                    and isinstance(child.args[0].value, str) and child.args[0].value.startswith("justfit") \
                    and ast.unparse(child.func) in ("importlib.import_module", "import_module", "__import__"):
                found.append((child.args[0].value, child.lineno, True))
            visit(child, inline or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda))

    visit(tree, False)
    return found


def edges() -> list[tuple[str, str, int, bool]]:
    """``(importer, imported, line, inline)`` over every module of justfit."""
    out = []
    for path in sorted(SRC.rglob("*.py")):
        module = module_name(path)
        for target, line, inline in imports_of(ast.parse(path.read_text()), module, path.name == "__init__.py"):
            out.append((module, target, line, inline))
    return out


def test_every_module_has_a_layer():
    unplaced = sorted({module_name(p) for p in SRC.rglob("*.py") if layer_of(module_name(p)) is None})
    assert not unplaced, f"place these modules in a layer of LAYERS: {unplaced}"


def test_imports_point_down_the_layers():
    upward = {}
    for importer, target, line, _ in edges():
        if importer.startswith("justfit.catalogue"):
            continue
        if target.startswith("justfit.catalogue"):
            upward.setdefault(f"{importer} -> {target}", line)  # the leaf is imported by nobody
        elif layer_of(target) is not None and layer_of(target) > layer_of(importer):
            upward.setdefault(f"{importer} -> {target}", line)
    new = {e: line for e, line in upward.items() if e not in UPWARD_DEBT}
    assert not new, ("imports that point up the layers (move the code down, pass the value in, or declare a "
                     "hook the higher layer fills):\n" + "\n".join(f"{e} (line {line})" for e, line in new.items()))
    paid = sorted(UPWARD_DEBT - set(upward))
    assert not paid, f"an upward edge was removed; take it out of UPWARD_DEBT: {paid}"


def test_justfit_is_imported_at_module_level():
    counts: dict[str, list[str]] = {}
    for importer, target, line, inline in edges():
        if inline:
            counts.setdefault(importer, []).append(f"{line}: {target}")
    grown = {m: hits for m, hits in counts.items() if len(hits) > INLINE_DEBT.get(m, 0)}
    assert not grown, ("imports of justfit inside a function (import at module level; a cycle means the code is "
                       "in the wrong layer):\n" + "\n".join(f"{m} ({len(h)} > {INLINE_DEBT.get(m, 0)}): "
                                                          + ", ".join(h) for m, h in grown.items()))
    shrunk = {m: len(counts.get(m, [])) for m, n in INLINE_DEBT.items() if len(counts.get(m, [])) < n}
    assert not shrunk, f"the in-function imports fell; lower INLINE_DEBT to: {shrunk}"


def module_graph() -> dict[str, set[str]]:
    """Module -> the modules importing it runs at module level: its import statements, and the packages above
    each imported module (importing ``a.b.c`` runs ``a`` and ``a.b`` first), but not the importer's own packages
    (they are initialised before it)."""
    direct: dict[str, set[str]] = {}
    for importer, target, _, inline in edges():
        direct.setdefault(importer, set())
        if not inline:
            direct[importer].add(target)
    graph = {}
    for module, targets in direct.items():
        own = {".".join(module.split(".")[:i]) for i in range(1, len(module.split(".")))}
        runs = {".".join(t.split(".")[:i]) for t in targets for i in range(1, len(t.split(".")) + 1)}
        graph[module] = {m for m in runs - own - {module} if m in direct}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycle_at_module_level():
    """A cycle of module-level imports works only while no module of it reads a name of another too early; the
    layers rule out cycles across layers, and this rules them out within one."""
    assert not cycles(module_graph()), f"module-level import cycles: {cycles(module_graph())}"


def test_the_cycle_finder_finds_cycles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_finder_sees_every_kind_of_import():
    code = ("import justfit.run\nfrom justfit.tasks import base\nfrom . import config\nfrom ..x import y\n"
            "def f():\n    from justfit.estimator import Finetuner\n    importlib.import_module('justfit.cli')\n"
            "if TYPE_CHECKING:\n    from justfit.tuning import tune\n"
            "g = lambda: __import__('justfit.report')\nimport numpy\n_LAZY = {'load': 'justfit.run'}\n")
    found = imports_of(ast.parse(code), "justfit.data.io")
    assert found == [("justfit.run", 1, False), ("justfit.tasks.base", 2, False), ("justfit.data", 3, False),
                     ("justfit.x", 4, False), ("justfit.estimator", 6, True), ("justfit.cli", 7, True),
                     ("justfit.report", 10, True), ("justfit.run", 12, True)]


@pytest.mark.parametrize(("module", "layer"), [("justfit.errors", 0), ("justfit.tasks.base", 0),
                                               ("justfit.tasks.text.task", 4), ("justfit.data.stage", 5),
                                               ("justfit", 6), ("justfit.catalogue.presets", 7)])
def test_the_longest_prefix_places_a_module(module, layer):
    assert layer_of(module) == layer
