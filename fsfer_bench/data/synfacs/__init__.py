"""SynFACS: parametric faces rendered from FACS action units, the dataset that needs no download.

`generate(domain, ...)` makes a set; `render_sample(...)` one image. The
dataset adapters in `fsfer_bench.data.adapters.synfacs` cache the default sets.
"""

from fsfer_bench.data.synfacs.aus import AUS, CLASSES, sample_aus
from fsfer_bench.data.synfacs.generator import (
    DOMAINS,
    GENERATOR_VERSION,
    Sample,
    SynfacsImages,
    generate,
    render_sample,
)

__all__ = [
    "AUS",
    "CLASSES",
    "DOMAINS",
    "GENERATOR_VERSION",
    "Sample",
    "SynfacsImages",
    "generate",
    "render_sample",
    "sample_aus",
]
