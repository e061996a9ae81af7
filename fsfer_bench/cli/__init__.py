"""The `fsfer-bench` command line: a thin shell over the library.

Each submodule adds its commands to `main`. Commands parse, resolve the config,
call the library and format; errors become one-line messages (see `common`).
"""

import importlib

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="fsfer-bench")
def main() -> None:
    """Benchmark few-shot facial expression recognition methods."""


for _name in ("run", "listing", "data", "report", "sweep", "export"):
    importlib.import_module(f"{__name__}.{_name}")
