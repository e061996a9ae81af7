"""The package's layers import only downwards, checked on the source with `ast`.

Bottom: `errors`, `files` and `plugins`, which import nothing else of the harness. The data
layer (`fsfer_bench/data/`) imports only itself, the bottom, and `episodes` (episode sets are
values over a dataset, used by `data check`); never `fsfer_bench.registry` or anything else above.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "fsfer_bench"
BOTTOM = {"fsfer_bench.errors", "fsfer_bench.files", "fsfer_bench.plugins"}
DATA_MAY_IMPORT = BOTTOM | {"fsfer_bench.episodes"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def harness_imports(source: str, module: str, is_package: bool = False) -> set[str]:
    """Every fsfer_bench name `module` imports, at the top or inside a function, relative imports resolved."""
    package = module if is_package else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name == "fsfer_bench" or name.startswith("fsfer_bench.")}


def _imports_of(path: Path) -> set[str]:
    return harness_imports(path.read_text(encoding="utf-8"), _module_name(path), path.name == "__init__.py")


def _modules_of(names: set[str]) -> set[str]:
    """The imported names that are modules of the package (`from x import y` may name a function)."""
    modules = {_module_name(p) for p in PACKAGE.rglob("*.py")}
    return {n for n in names if n in modules}


def test_the_bottom_imports_nothing_else_of_the_harness() -> None:
    for name in BOTTOM:
        path = PACKAGE / f"{name.rpartition('.')[2]}.py"
        assert _modules_of(_imports_of(path)) <= BOTTOM, name


def test_the_data_layer_imports_only_itself_and_the_bottom() -> None:
    offenders = {}
    for path in (PACKAGE / "data").rglob("*.py"):
        upward = {m for m in _modules_of(_imports_of(path)) if not m.startswith("fsfer_bench.data")}
        if upward - DATA_MAY_IMPORT:
            offenders[str(path.relative_to(PACKAGE))] = sorted(upward - DATA_MAY_IMPORT)
    assert offenders == {}


def test_the_import_reader_sees_imports_inside_functions_and_relative_ones() -> None:
    """The checks above can fail: an import of the registry is found however it is written."""
    modules = {"fsfer_bench.registry"}
    relative = harness_imports("from ...registry import get_method\n", "fsfer_bench.data.adapters.cfee")
    inside = harness_imports("def f():\n    import fsfer_bench.registry\n", "fsfer_bench.data.loading")
    assert _modules_of(relative) == modules and _modules_of(inside) == modules
    assert "fsfer_bench.data.registry" in _modules_of(harness_imports("from . import registry\n", "fsfer_bench.data.x"))


def test_plugins_written_against_the_old_front_door_still_register_datasets() -> None:
    import fsfer_bench.data.registry as data_registry
    import fsfer_bench.registry as registry

    assert registry.register_dataset is data_registry.register_dataset
    assert registry.get_dataset is data_registry.get_dataset and registry.dataset_names is data_registry.dataset_names
