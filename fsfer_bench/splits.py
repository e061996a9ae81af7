"""The named evaluation splits of the literature, as data.

A split names a target dataset, the classes its test pool holds, and the
default training sources. Training always uses the non-compound classes of its
sources: models learn basic expressions, then meet compound ones as novel
classes. Where target and training classes coincide (a basic target), the split
tests transfer to a new domain, and the record lists the shared classes.
"""

from __future__ import annotations

from dataclasses import dataclass

from fsfer_bench.data.vocabulary import BASIC_WITH_NEUTRAL, COMPOUND, is_compound
from fsfer_bench.plugins import Registry
from fsfer_bench.registry import SPLIT_GROUP

#: Class selectors resolved against the target dataset's own class list.
ALL, BASIC, COMPOUND_PRESENT = "all", "basic", "compound"


@dataclass(frozen=True)
class Split:
    name: str
    target: str
    classes: tuple[str, ...] | str  # explicit names, or ALL / BASIC / COMPOUND_PRESENT
    train_on: tuple[str, ...]
    description: str
    target_domain: str | None = None  # keep only this domain of the target
    #: training sources from the target's own database that the split's protocol prescribes (see leakage.py)
    same_database_train: tuple[str, ...] = ()

    def target_classes(self, available: tuple[str, ...]) -> tuple[str, ...]:
        """The test classes, given the classes the target dataset actually has."""
        if self.classes == ALL:
            return available
        if self.classes == BASIC:
            return tuple(c for c in available if not is_compound(c))
        if self.classes == COMPOUND_PRESENT:
            return tuple(c for c in available if is_compound(c))
        return tuple(self.classes)

    @property
    def kind(self) -> str:
        """'novel classes' when the test classes are compound, else 'new domain'."""
        if self.classes == COMPOUND_PRESENT or (
            isinstance(self.classes, tuple) and all(is_compound(c) for c in self.classes)
        ):
            return "novel classes"
        return "new domain"


#: `--train-on` shorthands: "single" and "multiple" from EGS-Net (Zou et al., AAAI 2022); "wild", the
#: large in-the-wild basic-expression sets the FER few-shot literature pretrains on. A shorthand of
#: several datasets trains on those present (the record's `train_on`/`train_on_skipped` say which).
TRAIN_SETS = {
    "single": ("RAF-DB",),
    "multiple": ("RAF-DB", "SFEW", "CKplus", "MMI", "Oulu-CASIA"),
    "wild": ("FER2013", "SFEW", "RAF-DB", "AffectNet"),
}

#: RAF-DB's 11 compound classes: Du et al.'s 15 without these four.
RAF_COMPOUND = tuple(c for c in COMPOUND if c not in ("fearfully_disgusted", "appalled", "hatred", "awed"))

_BUILTIN_SPLITS = (
    Split(
        "SynFACS_C",
        "SynFACS-wild",
        COMPOUND,
        ("SynFACS-lab",),
        "15 compound classes of rendered in-the-wild faces; train on lab basic",
        "wild",
    ),
    Split(
        "SynFACS_B",
        "SynFACS-wild",
        BASIC_WITH_NEUTRAL,
        ("SynFACS-lab",),
        "7 basic classes of rendered in-the-wild faces; train on lab basic",
        "wild",
    ),
    Split("CFEE_C", "CFEE", COMPOUND, TRAIN_SETS["single"], "CFEE, 15 compound classes (Du et al. 2014)"),
    Split("CFEE_B", "CFEE", BASIC_WITH_NEUTRAL, TRAIN_SETS["single"], "CFEE, 7 basic classes with neutral"),
    Split("EmotioNet_C", "EmotioNet", COMPOUND_PRESENT, TRAIN_SETS["single"], "EmotioNet, its compound classes"),
    Split("EmotioNet_B", "EmotioNet", BASIC, TRAIN_SETS["single"], "EmotioNet, its basic classes"),
    Split(
        "RAF_C",
        "RAF-DB-compound",
        RAF_COMPOUND,
        ("CKplus",),
        "RAF-DB compound, 11 classes; RAF-DB basic may train it (--train-on single), as in EGS-Net",
        same_database_train=("RAF-DB",),
    ),
    Split(
        "RAF_B",
        "RAF-DB",
        BASIC_WITH_NEUTRAL,
        ("miniImageNet",),
        "RAF-DB basic, 7 classes (Ciubotaru et al.: mini-ImageNet -> RAF-DB)",
    ),
    Split(
        "CKplus",
        "CKplus",
        ALL,
        TRAIN_SETS["single"],
        "CK+ basic classes (Ciubotaru et al.: RAF-DB or mini-ImageNet -> CK+)",
    ),
    Split("JAFFE", "JAFFE", ALL, TRAIN_SETS["single"], "JAFFE, 7 classes with neutral"),
    Split("FER2013", "FER2013", ALL, ("RAF-DB",), "FER2013, 7 classes with neutral"),
    Split("SFEW", "SFEW", ALL, ("RAF-DB",), "SFEW 2.0, 7 classes with neutral"),
)


def _adopt_split(_name: str, obj: object) -> None:
    # An entry point may name a Split object, or a module whose import registers its splits.
    if isinstance(obj, Split):
        register_split(obj)


SPLIT_REGISTRY: Registry[Split] = Registry(
    "split",
    SPLIT_GROUP,
    builtins=lambda: [SPLIT_REGISTRY.register(s.name, s) for s in _BUILTIN_SPLITS],
    adopt=_adopt_split,
    same=lambda a, b: a == b,
    describe=lambda split: f"the split '{split.name}' ({split.description})",
)


def register_split(split: Split, *, replace: bool = False) -> Split:
    """Add a split (e.g. from a plugin or a test). A name taken by a different split is refused
    unless `replace=True`, so that a plugin cannot silently change what a built-in split means."""
    return SPLIT_REGISTRY.register(split.name, split, replace=replace)


def split_names() -> list[str]:
    """Every split, the plugins' (entry-point group `fsfer_bench.splits`) included, built-in ones first."""
    return SPLIT_REGISTRY.names()


def get_split(name: str) -> Split:
    """The split registered as `name` (case-insensitive)."""
    return SPLIT_REGISTRY.get(name)


def expand_train_on(names: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Replace the shorthands of `TRAIN_SETS` ('single', 'multiple', 'wild') by their dataset lists."""
    out: list[str] = []
    for n in names:
        out.extend(TRAIN_SETS.get(n.lower(), (n,)))
    return tuple(dict.fromkeys(out))
