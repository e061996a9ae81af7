"""One canonical vocabulary for expression labels, so label spaces of datasets merge.

Datasets spell the same expression differently ("Happiness", "HA", "happy", "5").
Adapters map their native codes to these names; `canonical` maps free-text
names (folder names, manifest labels) through a table of known spellings.
Compound names follow Du, Tao & Martinez (PNAS 2014), adverb first.
"""

from __future__ import annotations

import re

from fsfer_bench.errors import DataError

NEUTRAL = "neutral"
BASIC = ("happy", "sad", "fearful", "angry", "surprised", "disgusted")
#: The 7 "basic" classes of FER papers: neutral plus Ekman's six.
BASIC_WITH_NEUTRAL = (NEUTRAL, *BASIC)
CONTEMPT = "contempt"
#: The 15 compound classes of Du et al. 2014 (Table 1), in that paper's order.
COMPOUND = (
    "happily_surprised",
    "happily_disgusted",
    "sadly_fearful",
    "sadly_angry",
    "sadly_surprised",
    "sadly_disgusted",
    "fearfully_angry",
    "fearfully_surprised",
    "fearfully_disgusted",
    "angrily_surprised",
    "angrily_disgusted",
    "disgustedly_surprised",
    "appalled",
    "hatred",
    "awed",
)
#: Every expression name the harness knows, basic first.
EXPRESSIONS = (*BASIC_WITH_NEUTRAL, CONTEMPT, *COMPOUND)

_ALIASES = {
    "neutral": NEUTRAL,
    "ne": NEUTRAL,
    "happy": "happy",
    "happiness": "happy",
    "joy": "happy",
    "ha": "happy",
    "sad": "sad",
    "sadness": "sad",
    "sa": "sad",
    "fear": "fearful",
    "fearful": "fearful",
    "fe": "fearful",
    "anger": "angry",
    "angry": "angry",
    "an": "angry",
    "surprise": "surprised",
    "surprised": "surprised",
    "su": "surprised",
    "disgust": "disgusted",
    "disgusted": "disgusted",
    "di": "disgusted",
    "contempt": CONTEMPT,
    "hate": "hatred",
    "awe": "awed",
}


def _key(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def canonical(name: str, label_map: dict[str, str] | None = None) -> str:
    """The canonical expression name for `name`, or a DataError naming the fix.

    `label_map` (from `--label-map`) is consulted first, so users can map names
    this table does not know, or override it.
    """
    native = name
    if label_map:
        mapped = label_map.get(name, label_map.get(_key(name)))
        if mapped is not None:
            name = mapped
    known = _known(name)
    if known is not None:
        return known
    if name != native:
        raise DataError(mapped_to_unknown(native, name))
    raise DataError(
        f"unknown expression label '{name}'; map it with --label-map '{name}=<name>' "
        f"(known names: {', '.join(EXPRESSIONS)})"
    )


def _known(name: str) -> str | None:
    """The canonical name of `name` by the vocabulary alone, or None."""
    key = _key(name)
    return _ALIASES.get(key, key if key in EXPRESSIONS else None)


def mapped_to_unknown(native: str, name: str) -> str:
    """Why --label-map 'native=name' cannot work: `name` is no expression; a swapped entry says so."""
    if _known(native) is not None:
        return (
            f"--label-map '{native}={name}' maps to '{name}', which is not an expression name; entries are "
            f"NATIVE=canonical: write '{name}={_known(native)}'"
        )
    return (
        f"--label-map '{native}={name}' maps to '{name}', which is not an expression name; "
        f"map to one of: {', '.join(EXPRESSIONS)}"
    )


def is_compound(name: str) -> bool:
    return name in COMPOUND


def sort_classes(names: list[str] | set[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Expressions in vocabulary order, then anything else alphabetically."""
    order = {n: i for i, n in enumerate(EXPRESSIONS)}
    return tuple(sorted(names, key=lambda n: (order.get(n, len(order)), n)))


def parse_label_map(text: str | None) -> dict[str, str]:
    """Parse `--label-map 'Happiness=happy,Fear=fearful'` into a dict."""
    if not text:
        return {}
    pairs = {}
    for item in text.split(","):
        native, sep, name = item.partition("=")
        if not sep or not native.strip() or not name.strip():
            raise DataError(f"malformed --label-map entry '{item}'; write NATIVE=canonical, e.g. 'Joy=happy'")
        pairs[native.strip()] = name.strip()
    unknown = next(((n, c) for n, c in pairs.items() if _known(c) is None), None)
    if unknown is not None:
        raise DataError(mapped_to_unknown(*unknown))
    return pairs
