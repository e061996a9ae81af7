"""The built-in dataset adapters, one module per native layout.

Importing this package imports every module in it, and each module registers
its adapter with `fsfer_bench.data.registry.register_dataset`.
"""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
