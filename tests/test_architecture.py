"""The package's layering (docs/architecture.md): data flows one way, no module imports a higher one.

Reads every module's imports with :mod:`ast` (top-level and function-level alike) and checks:

- ``seqformer/`` never imports ``data_prep/`` (the dataset builders sit above the package);
- no import cycle between modules (a package's ``__init__`` counts as a module);
- each module imports only its own package, or packages of lower layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: The stack, bottom first; a module may import its own package and the packages of lower layers.
LAYERS: list[tuple[str, ...]] = [
    ("seqformer.errors",),
    ("seqformer.device",),
    ("seqformer.io",),
    ("seqformer.figures",),
    ("seqformer.tokenizers",),
    ("seqformer.data",),
    ("seqformer.attention",),
    ("seqformer.models",),
    ("seqformer.convert",),
    ("seqformer.training",),
    ("seqformer.predict",),
    ("seqformer.evaluation",),
    ("seqformer.tasks",),
    ("seqformer.variants", "seqformer.analysis"),
    ("seqformer.bench",),
    ("seqformer.cli",),
    ("seqformer.__main__", "data_prep"),
]


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted([*ROOT.glob("seqformer/**/*.py"), *ROOT.glob("data_prep/**/*.py")]):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The project modules ``name`` imports (``from pkg import sub`` counts as importing ``pkg.sub``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            subs = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES]
            found.update(subs if len(subs) == len(node.names) else [base, *subs])
    return {target for target in found if target in MODULES and target != name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _layer(name: str) -> tuple[int, str]:
    """(layer index, the package that places it) of a module."""
    best = None
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and (best is None or len(prefix) > len(best[1])):
                best = (index, prefix)
    if best is None:
        raise AssertionError(f"{name} is in no layer of LAYERS; add its package there and to docs/architecture.md")
    return best


def test_every_module_has_a_layer():
    for name in MODULES:
        if name != "seqformer":
            _layer(name)


def test_seqformer_never_imports_data_prep():
    offenders = {name: sorted(t for t in targets if t.startswith("data_prep"))
                 for name, targets in GRAPH.items() if name.startswith("seqformer")}
    assert {k: v for k, v in offenders.items() if v} == {}
    for path in ROOT.glob("seqformer/**/*.py"):
        assert "data_prep" not in path.read_text(), path


def test_no_import_cycles():
    """Tarjan's strongly connected components: every one must be a single module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in GRAPH[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in GRAPH:
        if node not in index:
            visit(node)
    assert cycles == []


def test_each_layer_imports_only_lower_ones():
    wrong = []
    for name, targets in GRAPH.items():
        if name == "seqformer":
            continue
        layer, package = _layer(name)
        for target in targets:
            if target == "seqformer":
                continue
            other, other_package = _layer(target)
            if other > layer or (other == layer and other_package != package):
                wrong.append(f"{name} (layer {layer}) imports {target} (layer {other})")
    assert sorted(wrong) == []


@pytest.mark.parametrize("module", ["seqformer.io", "seqformer.tokenizers", "seqformer.data", "seqformer.models"])
def test_low_layers_import_without_the_cli(module):
    """Importing a low layer loads nothing of the layers above it (checked in a fresh interpreter)."""
    import subprocess
    import sys

    code = (f"import sys, {module}; loaded = sorted(m for m in sys.modules if m.startswith(('seqformer.cli', "
            "'seqformer.tasks', 'seqformer.training', 'seqformer.predict', 'data_prep'))); print(loaded)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_the_dataset_builders_come_in_through_the_entry_point():
    """`seqformer data` is data_prep's typer app, registered by the `seqformer.commands` entry point."""
    from importlib.metadata import entry_points

    import typer

    from data_prep.cli import data_app
    from seqformer.cli import app
    from seqformer.cli.app import PLUGIN_GROUP

    points = {point.name: point.value for point in entry_points(group=PLUGIN_GROUP)}
    assert points == {"data": "data_prep.cli:data_app"}
    groups = {group.name: group.typer_instance for group in app.registered_groups}
    assert groups["data"] is data_app
    names = sorted(cmd.name for cmd in typer.main.get_command(data_app).commands.values())
    assert names == ["chromatin", "promoters", "protein-split", "tf-binding"]
