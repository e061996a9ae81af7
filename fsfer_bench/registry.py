"""The method registry, and the harness's front door to every registry.

The harness never imports `baselines` or `egsnet`: they, like any outside package,
declare entry points in `METHOD_GROUP`, and are imported only when a name is looked up,
listed or registered (`fsfer_bench.plugins` loads them, before any `--plugin` module).
Datasets are registered in the data layer (`fsfer_bench.data.registry`) and splits in
`fsfer_bench.splits`; both are re-exported here so that plugins written against this
module keep working.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from fsfer_bench.data.registry import DATASET_GROUP, dataset_names, get_dataset, register_dataset
from fsfer_bench.plugins import Registry

if TYPE_CHECKING:
    from fsfer_bench.methods import FewShotMethod

METHOD_GROUP = "fsfer_bench.methods"
SPLIT_GROUP = "fsfer_bench.splits"

__all__ = [
    "DATASET_GROUP",
    "METHOD_GROUP",
    "METHODS",
    "SPLIT_GROUP",
    "dataset_names",
    "get_dataset",
    "get_method",
    "method_names",
    "register_dataset",
    "register_method",
]

M = TypeVar("M")


def _adopt_method(name: str, obj: Any) -> None:
    # An entry point may name a class directly (its name is then the method's) or a module
    # whose import registers its methods through the decorator.
    if isinstance(obj, type) and name not in METHODS.names():
        register_method(name)(obj)


METHODS: Registry[type[FewShotMethod]] = Registry("method", METHOD_GROUP, adopt=_adopt_method)


def register_method(name: str, *, replace: bool = False) -> Callable[[M], M]:
    """Class decorator: make a FewShotMethod subclass available as `--method name`.

    A name that is taken is refused unless `replace=True`, so that two plugins cannot
    silently shadow each other. Re-running the same class definition (a module imported
    again) is not a clash.
    """

    def decorate(cls: M) -> M:
        METHODS.register(name, cls, replace=replace)  # type: ignore[arg-type]
        cls.name = name  # type: ignore[attr-defined]
        return cls

    return decorate


def method_names() -> list[str]:
    """Every registered method, sorted."""
    return sorted(METHODS.names())


def get_method(name: str) -> type[FewShotMethod]:
    """The method class registered as `name`."""
    return METHODS.get(name)
