"""Few-shot methods from the literature, one module per method.

Importing this package registers every method in it; fsfer_bench finds it
through the `fsfer_bench.methods` entry point, as it would an outside plugin.
"""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
