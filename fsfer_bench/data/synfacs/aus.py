"""The action units SynFACS renders, and which of them make each of its 22 expressions.

The table follows Du, Tao & Martinez, "Compound facial expressions of emotion"
(PNAS 2014), Table 1: prototypical AUs are always on, with an intensity drawn
from PROTOTYPICAL_RANGE; optional (bracketed) AUs are on with the probability
the paper reports, or DEFAULT_OPTIONAL_P where it gives none, with an intensity
from OPTIONAL_RANGE. Neutral has no AU.

Appalled and hatred share their prototypical AUs (4, 10), so the table alone
would make them one distribution. People produce them differently: appalled is
a recoil of disgust, hatred a cold, tense anger. SynFACS keeps them apart this
way (they overlap, but are not the same distribution):

- appalled: a strong upper-lip raiser AU10 (0.7-1.0) under a moderate brow
  lowerer AU4 (0.5-0.85); the nose wrinkler AU9 often and strong (p 0.65,
  0.5-1.0); cheek raiser AU6 (p 0.4), AU17 (p 0.4), the lip pressor AU24
  rarely (p 0.15); never the lid tightener AU7;
- hatred: a strong brow lowerer AU4 (0.65-1.0) with a weaker AU10 (0.5-0.85);
  the lid tightener AU7 (p 0.55, 0.4-0.9) and the lip pressor AU24 (p 0.55)
  often; AU9 rarely and weaker (p 0.3, 0.3-0.7); AU17 (p 0.5); never AU6.

The optional AUs of each follow Du et al.'s table (6 only for appalled, 7 only
for hatred); the probabilities and ranges are this module's choice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fsfer_bench.data.vocabulary import BASIC_WITH_NEUTRAL, COMPOUND
from fsfer_bench.errors import unknown_name

#: The action units SynFACS can render, in the order of every AU vector.
AUS = (1, 2, 4, 5, 6, 7, 9, 10, 11, 12, 15, 17, 20, 23, 24, 25, 26)
AU_NAMES = {
    1: "inner brow raiser",
    2: "outer brow raiser",
    4: "brow lowerer",
    5: "upper lid raiser",
    6: "cheek raiser",
    7: "lid tightener",
    9: "nose wrinkler",
    10: "upper lip raiser",
    11: "nasolabial deepener",
    12: "lip corner puller",
    15: "lip corner depressor",
    17: "chin raiser",
    20: "lip stretcher",
    23: "lip tightener",
    24: "lip pressor",
    25: "lips part",
    26: "jaw drop",
}
AU_INDEX = {au: i for i, au in enumerate(AUS)}

PROTOTYPICAL_RANGE = (0.8, 1.0)
OPTIONAL_RANGE = (0.3, 0.8)
DEFAULT_OPTIONAL_P = 0.4

#: The 22 SynFACS classes: the vocabulary's basic ones with neutral, then the 15 compound.
CLASSES = (*BASIC_WITH_NEUTRAL, *COMPOUND)


@dataclass(frozen=True)
class Expression:
    """Which AUs make an expression: always-on ones with intensity ranges, optional ones with probabilities."""

    prototypical: dict[int, tuple[float, float]]
    optional: dict[int, float] = field(default_factory=dict)
    optional_ranges: dict[int, tuple[float, float]] = field(default_factory=dict)


def _expression(prototypical: tuple[int, ...], optional: dict[int, float] | tuple[int, ...] = ()) -> Expression:
    probabilities = optional if isinstance(optional, dict) else dict.fromkeys(optional, DEFAULT_OPTIONAL_P)
    return Expression(dict.fromkeys(prototypical, PROTOTYPICAL_RANGE), probabilities)


EXPRESSIONS: dict[str, Expression] = {
    "neutral": Expression({}),
    "happy": _expression((12, 25), {6: 0.51}),
    "sad": _expression((4, 15), {1: 0.60, 6: 0.50, 11: 0.26, 17: 0.67}),
    "fearful": _expression((1, 4, 20, 25), {2: 0.57, 5: 0.63, 26: 0.33}),
    "angry": _expression((4, 7, 24), {10: 0.26, 17: 0.52, 23: 0.29}),
    "surprised": _expression((1, 2, 25, 26), {5: 0.66}),
    "disgusted": _expression((9, 10, 17), {4: 0.31, 24: 0.26}),
    "happily_surprised": _expression((1, 2, 12, 25), (5, 26)),
    "happily_disgusted": _expression((10, 12, 25), (4, 6, 9)),
    "sadly_fearful": _expression((1, 4, 20, 25), (2, 5, 6, 15)),
    "sadly_angry": _expression((4, 15), (6, 7, 11, 17)),
    "sadly_surprised": _expression((1, 4, 25, 26), (2, 6)),
    "sadly_disgusted": _expression((4, 10), (1, 6, 9, 11, 15, 17, 25)),
    "fearfully_angry": _expression((4, 20, 25), (5, 7, 10, 11)),
    "fearfully_surprised": _expression((1, 2, 5, 20, 25), (4, 10, 11, 26)),
    "fearfully_disgusted": _expression((1, 4, 10, 20, 25), (2, 5, 6, 9, 15)),
    "angrily_surprised": _expression((4, 25, 26), (5, 7, 10)),
    "angrily_disgusted": _expression((4, 10, 17), (7, 9, 24)),
    "disgustedly_surprised": _expression((1, 2, 5, 10), (4, 9, 17, 24)),
    "appalled": Expression(
        prototypical={4: (0.5, 0.85), 10: (0.7, 1.0)},
        optional={9: 0.65, 6: 0.4, 17: 0.4, 24: 0.15},
        optional_ranges={9: (0.5, 1.0)},
    ),
    "hatred": Expression(
        prototypical={4: (0.65, 1.0), 10: (0.5, 0.85)},
        optional={7: 0.55, 24: 0.55, 9: 0.3, 17: 0.5},
        optional_ranges={7: (0.4, 0.9), 9: (0.3, 0.7)},
    ),
    "awed": _expression((1, 2, 5, 25), (4, 20, 26)),
}
assert set(EXPRESSIONS) == set(CLASSES), "every SynFACS class needs an AU recipe"


def check_classes(names: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """`names` in SynFACS order (all 22 when None); an UnknownNameError for a name it does not render."""
    if names is None:
        return CLASSES
    for name in names:
        if name not in EXPRESSIONS:
            raise unknown_name("SynFACS class", name, CLASSES)
    wanted = set(names)
    return tuple(c for c in CLASSES if c in wanted)


def sample_aus(expression: str, rng: np.random.Generator) -> np.ndarray:
    """One AU intensity vector (len(AUS),) in [0, 1] for `expression`.

    Draws happen in a fixed order whatever the AU is on, so one image's draws
    never depend on another AU's outcome: the same generator state gives the
    same vector.
    """
    if expression not in EXPRESSIONS:
        raise unknown_name("SynFACS class", expression, CLASSES)
    spec = EXPRESSIONS[expression]
    on = rng.random(len(AUS))
    level = rng.random(len(AUS))
    out = np.zeros(len(AUS))
    for au, i in AU_INDEX.items():
        if au in spec.prototypical:
            low, high = spec.prototypical[au]
        elif au in spec.optional and on[i] < spec.optional[au]:
            low, high = spec.optional_ranges.get(au, OPTIONAL_RANGE)
        else:
            continue
        out[i] = low + (high - low) * level[i]
    return out


def au_vector(intensities: dict[int, float]) -> np.ndarray:
    """An AU vector from {au: intensity}; handy in tests and previews."""
    out = np.zeros(len(AUS))
    for au, value in intensities.items():
        if au not in AU_INDEX:
            raise unknown_name("action unit", str(au), [str(a) for a in AUS])
        out[AU_INDEX[au]] = value
    return out
