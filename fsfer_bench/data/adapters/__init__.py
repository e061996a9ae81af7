"""The built-in dataset adapters, one module per native layout.

Importing this package imports every module in it, and each layout module
registers its adapter with `register_layout` from `api`, the public module for
adapter writers (`listing`, `reading` and `building` hold what it exports, by job).
"""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
