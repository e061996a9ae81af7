"""The data layer's front door (issue 25 item 4): adapters take what they need from one public module."""

from __future__ import annotations

import ast
from pathlib import Path

import fsfer_bench.data.adapters.api as api

DATA = Path(api.__file__).resolve().parents[1]
ADAPTERS = DATA / "adapters"
#: The modules behind the door, one job each; adapters reach them only through `api`.
BEHIND_THE_DOOR = {"fsfer_bench.data.adapters.listing", "fsfer_bench.data.adapters.reading",
                   "fsfer_bench.data.adapters.building"}  # fmt: skip


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module} | {
        alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }


def test_the_data_layer_takes_dataset_registration_from_one_place():
    def importers(module: str) -> list[str]:
        return sorted(p.relative_to(DATA).as_posix() for p in ADAPTERS.glob("*.py") if module in imported_modules(p))

    assert importers("fsfer_bench.data.registry") == ["adapters/api.py"]
    assert importers("fsfer_bench.registry") == []  # the harness's registry sits above the data layer


def test_builtin_adapters_use_the_public_module():
    layouts = [p for p in ADAPTERS.glob("*.py") if p.stem not in {"__init__", "api", "listing", "reading", "building"}]
    assert len(layouts) >= 13
    for path in layouts:
        modules = imported_modules(path)
        assert "fsfer_bench.data.adapters.api" in modules, path.name
        assert not modules & BEHIND_THE_DOOR, f"{path.name} reaches behind the door: {modules & BEHIND_THE_DOOR}"


def test_everything_the_door_names_is_there():
    assert {"register_layout", "register_dataset", "Listing", "Item", "Problem", "listed_path", "read_csv"} <= set(
        api.__all__
    )
    missing = [name for name in api.__all__ if not hasattr(api, name)]
    assert not missing
