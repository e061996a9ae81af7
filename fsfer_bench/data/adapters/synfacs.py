"""SynFACS-lab and SynFACS-wild: the built-in rendered datasets, generated on first use and cached.

No files are read: `root` is ignored. Both domains use the same seed but draw
their subjects from different streams, so "lab-0007" and "wild-0007" are two
people, and no wild test subject is ever seen in lab training.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from fsfer_bench.data.cache import cached_dataset
from fsfer_bench.data.dataset import FaceDataset, make_dataset, short_hash
from fsfer_bench.data.options import LoadOptions
from fsfer_bench.data.registry import register_dataset
from fsfer_bench.data.synfacs.aus import CLASSES
from fsfer_bench.data.synfacs.generator import (
    DEFAULT_IMAGES_PER_CLASS,
    DEFAULT_SUBJECTS,
    GENERATOR_VERSION,
    check_domain,
    check_size,
    generate,
)

SOURCE = "SynFACS"
LAYOUT = "no files: faces rendered from FACS action units by fsfer_bench.data.synfacs"
#: What the registered datasets hold; read at load time, so tests can shrink them.
SUBJECTS, IMAGES_PER_CLASS, SEED = DEFAULT_SUBJECTS, DEFAULT_IMAGES_PER_CLASS, 0


def load_synfacs(
    domain: str,
    options: LoadOptions | None = None,
    *,
    n_subjects: int | None = None,
    images_per_class: int | None = None,
    seed: int | None = None,
    first_subject: int = 0,
) -> FaceDataset:
    """The SynFACS set of `domain` at `options.image_size`, from the cache or generated (and cached) now.

    Unset counts take the module defaults (200 subjects, 2 images per class, seed 0). `first_subject`
    shifts the people drawn (the calibration set, `fsfer_bench.data.synfacs.calibration`, starts far above
    the registered sets' people).
    """
    n_subjects = SUBJECTS if n_subjects is None else n_subjects
    images_per_class = IMAGES_PER_CLASS if images_per_class is None else images_per_class
    seed = SEED if seed is None else seed
    check_domain(domain)
    size = check_size((options or LoadOptions()).image_size)
    name = f"SynFACS-{domain}"
    people = (str(n_subjects),) if not first_subject else (str(n_subjects), f"from {first_subject}")
    key = short_hash("SynFACS", str(GENERATOR_VERSION), domain, str(size), *people, str(images_per_class), str(seed))

    def build() -> FaceDataset:
        made = generate(domain, n_subjects=n_subjects, images_per_class=images_per_class, image_size=size, seed=seed,
                        first_subject=first_subject)  # fmt: skip
        dataset = make_dataset(
            name,
            made.images,
            made.labels,
            subjects=made.subjects,
            domain=domain,
            landmarks=made.landmarks,
            classes=CLASSES,
        )
        # make_dataset names the source after the dataset; both domains come from one source
        return replace(dataset, sources=np.full(len(dataset), SOURCE))

    # set after the cache, so entries cached before this note existed carry it too
    content = {"generator": f"SynFACS v{GENERATOR_VERSION}", "seed": seed, "subjects": n_subjects}
    if first_subject:  # left out at 0, so that the registered sets' content ids (and episode hashes) stay
        content["first_subject"] = first_subject
    return replace(cached_dataset(f"synfacs-{domain}-{key}", build), notes={"content": content})


@register_dataset("SynFACS-lab", layout=LAYOUT, source=SOURCE, needs_files=False, database="SynFACS-lab")
def load_lab(root: Path, options: LoadOptions) -> FaceDataset:
    """Frontal faces on plain backgrounds under even light, like CK+ or CFEE."""
    return load_synfacs("lab", options)


@register_dataset("SynFACS-wild", layout=LAYOUT, source=SOURCE, needs_files=False, database="SynFACS-wild")
def load_wild(root: Path, options: LoadOptions) -> FaceDataset:
    """Turned heads in clutter, uneven light, blur, noise and occluders, like RAF-DB or SFEW."""
    return load_synfacs("wild", options)
