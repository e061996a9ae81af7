"""Run configuration: defaults, method profiles, a TOML file and flags, in that order.

Precedence, lowest first (each layer overrides the ones before it):

1. the harness defaults (`RunConfig`, `TrainSettings`, the method's `Options`);
2. the method's built-in profile (`--profile`, default "quick");
3. a profile of the same name in the config file (`[method.<name>.profiles.<profile>]`),
   which replaces the built-in one as a whole;
4. the config file's `[run]`, `[train]`, `[data]` and `[method.<name>]` tables;
5. command-line flags, including `--set key=value`.

The resolved config goes into every record, with a hash for matching runs.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from fsfer_bench.backbones import MAX_WEIGHTS_BYTES, check_weights_settings
from fsfer_bench.errors import ConfigError
from fsfer_bench.files import DamagedFileError, read_bounded
from fsfer_bench.methods import OPTIMISERS, REGIMES, SCHEDULES, TrainSettings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_PROFILE = "quick"


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run. Field names are the TOML keys of `[run]`."""

    method: str = "protonet"
    split: str = "SynFACS_C"
    train_on: tuple[str, ...] = ()  # empty: the split's default sources
    way: int = 5
    shots: tuple[int, ...] = (1, 5)
    query: int = 15
    episodes: int = 600
    seed: int = 0  # seeds training
    episode_seed: int = 0  # seeds the test episodes, so every training seed faces the same test
    backbone: str = "conv4"
    image_size: int = 64
    device: str = "auto"
    out: str = "runs"  # git-ignored; the committed reference study is results/reference/, never a default
    subject_disjoint: bool = True
    feature_cache: bool = True
    min_per_class: int | None = None
    allow_overlap: bool = False
    face_align: bool = False
    align_margin: float = 0.4
    strict: bool = False
    profile: str = DEFAULT_PROFILE
    weights: str | None = None
    weights_preset: str | None = None  # input normalisation of the weights: imagenet, msceleb, none
    data_root: str | None = None
    data_paths: dict[str, str] = field(default_factory=dict)
    label_map: dict[str, str] = field(default_factory=dict)
    train: TrainSettings = field(default_factory=TrainSettings)
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def hash(self) -> str:
        """Identity of the results: everything but where data and records live and which device runs."""
        return _hash({k: v for k, v in self._identity_dict().items() if k not in _NOT_HASHED})

    def _identity_dict(self) -> dict:
        """`to_dict` with the weights file named by its content, not its path: the same file reached by
        another path is the same run, and a file rewritten in place (a new export) is another one."""
        settings = self.to_dict()
        if self.weights:
            settings["weights"] = f"sha256:{weights_digest(self.weights)}"
        return settings

    def training_settings_hash(self) -> str:
        """The settings that shape the trained model, not what it is evaluated on.

        Leaves out the episode seed, the test episodes' shape, `subject_disjoint`,
        `allow_overlap` (test-time or permission flags that training ignores) and the
        method's test-time options (training runs with their defaults). The record's
        training hash adds the training pool's content to this
        (`experiment.training_hash`), which settings alone cannot know.
        """
        from fsfer_bench.registry import get_method

        keys = ("method", "train_on", "backbone", "image_size", "seed", "profile", "weights", "weights_preset",
                "face_align", "align_margin", "label_map", "strict", "train", "options")  # fmt: skip
        identity = self._identity_dict()
        settings = {k: identity[k] for k in keys}
        # Options that act only at test time (a method's `test_time_options`) leave the identity, so one
        # trained model serves every value of them: e.g. the geometry weight of `landmarks+features`.
        test_time = get_method(self.method).test_time_options
        settings["options"] = {k: v for k, v in settings["options"].items() if k not in test_time}
        return _hash(settings)


_NOT_HASHED = {"out", "device", "data_root", "data_paths"}


def weights_digest(path: str | Path) -> str:
    """SHA-256 of a weights file's bytes; a missing file is the ConfigError `--weights` gives.

    Cached by the file's path, size and modification time: a sweep hashes every cell's config, and a
    ResNet-18 file is 45 MB."""
    try:
        st = os.stat(path)
    except FileNotFoundError as exc:
        raise ConfigError(f"weights file {path} does not exist") from exc
    return _file_digest(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    return hashlib.sha256(read_bounded(path, MAX_WEIGHTS_BYTES)).hexdigest()


def _hash(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


#: A config file is a few kilobytes; this bounds what `--config /dev/zero` or a huge file could cost.
MAX_CONFIG_BYTES = 4 * 2**20
_BOM = b"\xef\xbb\xbf"


def read_toml(path: str | Path) -> dict:
    """Parse a TOML config file, with a one-line error naming the file and the problem.

    Only a regular file of at most `MAX_CONFIG_BYTES` is read; a UTF-8 byte-order mark (which some
    Windows editors write) is accepted and skipped; nesting deeper than Python's recursion limit is refused.
    """
    path = Path(path)
    try:
        data = read_bounded(path, MAX_CONFIG_BYTES)
        return tomllib.loads(data.removeprefix(_BOM).decode("utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} does not exist") from exc
    except DamagedFileError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.reason}; give a TOML file") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not TOML: it is not UTF-8 text (a binary file?)") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    except RecursionError as exc:
        raise ConfigError(f"config file {path} is nested too deeply to be a config; give a TOML file") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc


def parse_shots(text: str | int | list | tuple) -> tuple[int, ...]:
    """'1,5' or [1, 5] -> (1, 5); anything else is a ConfigError naming the fix."""
    items = text.split(",") if isinstance(text, str) else [text] if isinstance(text, int) else text
    try:
        shots = tuple(int(str(s).strip()) for s in items if not isinstance(s, (bool, float)))  # type: ignore[union-attr]
        if len(shots) != len(items):  # type: ignore[arg-type]
            shots = ()
    except (TypeError, ValueError):
        shots = ()
    if not shots or any(s < 1 or s > INT_MAX for s in shots) or len(set(shots)) != len(shots):
        raise ConfigError(f"malformed shot list '{text}'; give distinct positive integers, e.g. --shot 1,5")
    return shots


def parse_assignment(text: str) -> tuple[str, Any]:
    """`--set key=value`: the value is read as TOML ('3', '1e-3', 'true', '"x"'), else kept as a string."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"malformed --set '{text}'; write KEY=VALUE, e.g. --set train.steps=200")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.strip(), value


def _check_keys(table: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        from fsfer_bench.errors import closest

        hint = closest(unknown[0], sorted(allowed))
        raise ConfigError(f"unknown key '{unknown[0]}' in {where}{hint} (valid: {', '.join(sorted(allowed))})")


def config_table(value: Any, where: str) -> dict:
    """`value` if it is a table (TOML's `[section]` or `{...}`), else a ConfigError naming `where`.

    Every section of a config, sweep or profile goes through here, so that
    `run = 5` is an error naming `run`, not a crash deep in the resolver.
    """
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a table of settings, got {value!r}")
    return dict(value)


# ---------------------------------------------------------------- the one validation layer

#: The largest integer a count setting may take (numpy, torch and range() all handle it).
INT_MAX = 2**31 - 1
#: Seeds go to numpy's generators and torch.manual_seed, which take 0..2**32-1.
SEED_MAX = 2**32 - 1
DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d{1,3})?)$")


@dataclass(frozen=True)
class Rule:
    """What one setting may hold: its type, an inclusive or exclusive range, choices, a pattern.

    `kind` is int, float, bool, str, "names" (a list or comma-separated string of
    names), "ints", "list" (any items) or "table" (names to strings). `optional` settings may be unset.
    """

    kind: Any
    min: float | None = None
    max: float | None = None
    above: float | None = None  # exclusive minimum
    below: float | None = None  # exclusive maximum
    choices: tuple[str, ...] | None = None
    pattern: re.Pattern | None = None
    hint: str = ""
    optional: bool = False
    nonempty: bool = False
    path: bool = False  # a str that may also be given as a Path (from Python)


_COUNT = Rule(int, min=1, max=INT_MAX)
_SWITCH = Rule(bool)
RUN_RULES: dict[str, Rule] = {
    "method": Rule(str, nonempty=True),
    "split": Rule(str, nonempty=True),
    "train_on": Rule(
        "names",
        nonempty=True,
        hint="give source names, e.g. --train-on CKplus,JAFFE, or leave it out for the split's own",
    ),
    "way": Rule(int, min=2, max=INT_MAX, hint="an episode needs two classes to tell apart"),
    "shots": Rule("ints"),
    "query": _COUNT,
    "episodes": _COUNT,
    "seed": Rule(int, min=0, max=SEED_MAX),
    "backbone": Rule(str, nonempty=True),
    "image_size": Rule(int, min=8, max=1024),
    "device": Rule(str, pattern=DEVICE_PATTERN, hint="use auto, cpu, cuda or cuda:N"),
    "out": Rule(str, nonempty=True, hint="give the folder of the results store", path=True),
    "subject_disjoint": _SWITCH,
    "feature_cache": _SWITCH,
    "min_per_class": Rule(int, min=1, max=INT_MAX, optional=True),
    "allow_overlap": _SWITCH,
    "face_align": _SWITCH,
    "align_margin": Rule(float, min=0, max=3),
    "strict": _SWITCH,
    "profile": Rule(str, nonempty=True),
    "weights": Rule(str, optional=True, nonempty=True, path=True),
    "data_root": Rule(str, optional=True, nonempty=True, path=True),
    "data_paths": Rule("table"),
    "label_map": Rule("table"),
}
TRAIN_RULES: dict[str, Rule] = {
    "steps": Rule(int, min=0, max=INT_MAX),
    "lr": Rule(float, above=0, max=10),
    "weight_decay": Rule(float, min=0, max=10),
    "schedule": Rule(str, choices=SCHEDULES),
    "warmup_steps": Rule(int, min=0, max=INT_MAX),
    "step_size": Rule(int, min=0, max=INT_MAX, hint="0: a third of the stage"),
    "gamma": Rule(float, above=0, max=1),
    "optimizer": Rule(str, choices=OPTIMISERS),
    "momentum": Rule(float, min=0, below=1),
    "nesterov": _SWITCH,
    "regime": Rule(str, choices=REGIMES),
    "backbone_lr_scale": Rule(float, min=0, max=10, hint="the backbone's learning rate over the head's"),
    "batch_size": _COUNT,
    "way": Rule(int, min=2, max=INT_MAX, hint="an episode needs two classes to tell apart"),
    "shot": _COUNT,
    "query": _COUNT,
    "augment": _SWITCH,
    "val_every": Rule(int, min=0, max=INT_MAX, hint="0 turns validation off"),
    "val_episodes": Rule(int, min=0, max=INT_MAX),
    "val_fraction": Rule(float, min=0, below=1, hint="the share of training subjects held out to validate"),
    "patience": Rule(int, min=0, max=INT_MAX),
    "checkpoint_every": Rule(int, min=1, max=INT_MAX, hint="the number of steps between checkpoints"),
}


def check_value(value: Any, rule: Rule, name: str) -> Any:
    """`value` checked against `rule` (and normalised: ints to floats, lists to tuples), else a
    ConfigError that names the setting as the user wrote it (`name`, e.g. `--seed` or `[train] lr`)."""
    if value is None and rule.optional:
        return None
    value = _check_kind(value, rule, name)
    if rule.nonempty and value in ("", ()):  # (): a list of names such as '' or ',,' with no name in it
        raise ConfigError(f"{name} must not be empty{_hint(rule)}")
    if rule.choices is not None and value not in rule.choices:
        raise ConfigError(f"{name} must be one of {', '.join(rule.choices)}, got {value!r}")
    if rule.pattern is not None and not rule.pattern.match(value):
        raise ConfigError(f"{name}: {value!r} is not valid{_hint(rule)}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        _check_range(value, rule, name)
    return value


def _hint(rule: Rule) -> str:
    return f" ({rule.hint})" if rule.hint else ""


def _check_kind(value: Any, rule: Rule, name: str) -> Any:
    kind = rule.kind
    if kind is bool and not isinstance(value, bool):
        raise ConfigError(f"{name} must be true or false, got {value!r}")
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{name} must be a finite number, got {value!r}")
        return float(value)
    if kind is str and rule.path and isinstance(value, os.PathLike):
        return os.fspath(value)
    if kind is str and not isinstance(value, str):
        raise ConfigError(f"{name} must be a string, got {value!r}")
    if kind == "names":
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)) or not all(isinstance(v, str) for v in items):
            raise ConfigError(f"{name} must be a list of names or a comma-separated string, got {value!r}")
        return tuple(v.strip() for v in items if v.strip())
    if kind == "ints":
        return parse_shots(value)
    if kind == "list":
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name} must be a list, got {value!r}")
        return tuple(value)
    if kind == "table":
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ConfigError(f"{name} must be a table of names to strings (e.g. {{ CFEE = \"/data/cfee\" }}), "
                              f"got {value!r}")  # fmt: skip
        return dict(value)
    return value


def _check_range(value: float, rule: Rule, name: str) -> None:
    inside = (
        (rule.min is None or value >= rule.min)
        and (rule.above is None or value > rule.above)
        and (rule.max is None or value <= rule.max)
        and (rule.below is None or value < rule.below)
    )
    if not inside:
        lower = f"at least {_num(rule.min)}" if rule.min is not None else f"greater than {_num(rule.above)}"
        upper = f"at most {_num(rule.max)}" if rule.max is not None else f"below {_num(rule.below)}"
        bounds = [b for b, unset in ((lower, rule.min is None and rule.above is None),
                                     (upper, rule.max is None and rule.below is None)) if not unset]  # fmt: skip
        raise ConfigError(f"{name} must be {' and '.join(bounds)}, got {value!r}{_hint(rule)}")


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _coerce(cls: type, values: dict, names: dict[str, str], rules: dict[str, Rule] | None = None) -> dict:
    """Check `values` for the dataclass `cls` by `rules`, or, for a method's options, by each default's type.

    `names` says how the user wrote each key (`--seed`, `[train] lr in c.toml`, ...).
    """
    out = {}
    defaults = cls()
    for key, value in values.items():
        rule = (rules or {}).get(key) or _rule_of(getattr(defaults, key))
        out[key] = check_value(value, rule, names.get(key, key))
    return out


def _rule_of(default: Any) -> Rule:
    """A method option's rule, from its default: the type, and `optional` where it defaults to None."""
    if default is None:
        return Rule(None, optional=True)
    if isinstance(default, tuple):
        return Rule("names" if all(isinstance(x, str) for x in default) else "list")
    return Rule(type(default) if isinstance(default, (bool, int, float, str)) else None)


@dataclass
class _Layers:
    """The flat run values, training values and method options, merged layer by layer.

    `names` remembers, for each (section, key), how the layer that set it last
    wrote it, so an error names `--set train.way`, not `--way`. Each layer's values
    are checked as it is added, so a bad value in a file is refused even where a
    flag overrides it (unknown keys are left to `_build`, which lists the valid ones).
    """

    method_cls: type
    run: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    names: dict = field(default_factory=lambda: {"run": {}, "train": {}, "options": {}})

    def add(self, name: Callable[[str, str], str], run: dict | None = None, train: dict | None = None,
            options: dict | None = None) -> None:  # fmt: skip
        for section, values in (("run", run), ("train", train), ("options", options)):
            values = values or {}
            for key, value in values.items():
                rule = self._rule(section, key)
                if rule is not None:
                    check_value(value, rule, name(section, key))
            getattr(self, section).update(values)
            self.names[section].update({k: name(section, k) for k in values})

    def _rule(self, section: str, key: str) -> Rule | None:
        if section == "options":
            defaults = self.method_cls.Options()
            return _rule_of(getattr(defaults, key)) if hasattr(defaults, key) else None
        return (RUN_RULES if section == "run" else TRAIN_RULES).get(key)


_RUN_FIELDS = {f.name for f in fields(RunConfig)} - {"train", "options"}
#: The flags whose names differ from their keys.
_FLAG_NAMES = {"shots": "--shot", "data_paths": "--data-path", "train_on": "--train-on", "config": "--config"}
_TOML_SECTIONS = {"run": "[run]", "train": "[train]", "options": "[method.{method}]"}


def _flag_name(section: str, key: str) -> str:
    return _FLAG_NAMES.get(key, f"--{key.replace('_', '-')}")


def _set_name(section: str, key: str) -> str:
    return f"--set {'train.' if section == 'train' else 'option.' if section == 'options' else ''}{key}"


def _file_name(file: str, method: str) -> Callable[[str, str], str]:
    def name(section: str, key: str) -> str:
        return f"{_TOML_SECTIONS[section].format(method=method)} {key} in {file}"

    return name


def _profile_name(profile: str, method: str) -> Callable[[str, str], str]:
    """Names of a profile's settings; `profile` says where it is (a file's table, or the built-in one)."""

    def name(section: str, key: str) -> str:
        prefix = {"run": "", "train": "train.", "options": "options."}[section]
        return f"'{prefix}{key}' of {profile} of {method}"

    return name


def _split_profile(profile: Any, where: str) -> tuple[dict, dict, dict]:
    profile = config_table(profile, where)
    run = {k: v for k, v in profile.items() if k not in ("train", "options")}
    train = config_table(profile.get("train"), f"{where}: train")
    return run, train, config_table(profile.get("options"), f"{where}: options")


def _file_tables(file: dict, source: str) -> tuple[dict, dict, dict, dict]:
    """(run, train, data, methods) tables of a config file, checked for unknown sections and shapes."""
    _check_keys(file, {"run", "train", "data", "method"}, "the config file (sections)")
    run = config_table(file.get("run"), f"[run] in {source}")
    if "shot" in run:
        run["shots"] = run.pop("shot")
    data = config_table(file.get("data"), f"[data] in {source}")
    _check_keys(data, {"root", "paths", "label_map"}, "[data]")
    methods = config_table(file.get("method"), f"[method] in {source}")
    for name, table in methods.items():
        config_table(table, f"[method.{name}] in {source}")
    return run, config_table(file.get("train"), f"[train] in {source}"), data, methods


def _flag_layers(flags: dict, assignments: list[str]) -> tuple[dict, dict, dict, dict]:
    """(run flags, and the run, train and option values that --set sets), kept apart to name them right."""
    run = {k: v for k, v in flags.items() if v is not None}
    set_run: dict = {}
    train: dict = {}
    options: dict = {}
    for text in assignments:
        key, value = parse_assignment(text)
        section, _, name = key.rpartition(".")
        if section == "train":
            train[name] = value
        elif section in ("option", "options", "method"):
            options[name] = value
        elif section == "":
            set_run[name] = value
        else:
            raise ConfigError(f"--set {key}: use train.<key>, option.<key> or a run key such as seed")
    return run, set_run, train, options


def resolve_config(
    flags: dict[str, Any] | None = None,
    config_file: str | Path | dict | None = None,
    assignments: list[str] | None = None,
) -> RunConfig:
    """The RunConfig from defaults < method profile < config file < flags (see module docstring).

    `config_file` may also be the file's tables already parsed (a sweep reads its file once for all cells).
    Every value is checked (type, range, shape) by the one validation layer above, before any work,
    and an error names the setting as the user wrote it.
    """
    from fsfer_bench.registry import get_method

    source = Path(config_file).name if isinstance(config_file, (str, Path)) else "the config file"
    file = dict(config_file) if isinstance(config_file, dict) else read_toml(config_file) if config_file else {}
    file_run, file_train, data, file_methods = _file_tables(file, source)
    flag_run, set_run, flag_train, flag_options = _flag_layers(dict(flags or {}), list(assignments or []))
    method_name = _pick("method", set_run, flag_run, file_run, source)
    method_cls = get_method(method_name)
    method_table = config_table(file_methods.get(method_name), f"[method.{method_name}] in {source}")
    file_profiles = config_table(method_table.pop("profiles", None), f"[method.{method_name}.profiles] in {source}")
    profile_name = _pick("profile", set_run, flag_run, file_run, source)
    profile = file_profiles.get(profile_name, method_cls.profiles.get(profile_name))
    if profile is None and profile_name != DEFAULT_PROFILE:
        raise ConfigError(_no_profile(method_name, profile_name, method_cls, file_profiles))

    layers = _Layers(method_cls)
    in_file = profile_name in file_profiles
    where = f"[method.{method_name}.profiles.{profile_name}] in {source}" if in_file else f"profile '{profile_name}'"
    layers.add(_profile_name(where, method_name), *_split_profile(profile, where))
    data_run = {"data_root": data.get("root"), "data_paths": data.get("paths"), "label_map": data.get("label_map")}
    data_keys = {"data_root": "root", "data_paths": "paths", "label_map": "label_map"}
    layers.add(lambda _s, k: f"[data] {data_keys[k]} in {source}", {k: v for k, v in data_run.items() if v is not None})
    layers.add(_file_name(source, method_name), file_run, file_train, method_table)
    layers.add(_flag_name, flag_run)
    layers.add(_set_name, set_run, flag_train, flag_options)
    return _build(layers, method_cls)


def _pick(key: str, *layers_and_source: Any) -> str:
    """The method or profile name from the highest layer that sets it (--set, flag, file), checked."""
    *layers, source = layers_and_source
    names = (f"--set {key}", _flag_name("run", key), f"[run] {key} in {source}")
    default = RunConfig.method if key == "method" else DEFAULT_PROFILE
    for layer, name in zip(layers, names):
        if layer.get(key) is not None:
            return check_value(layer[key], RUN_RULES[key], name)
    return default


def _no_profile(method: str, profile: str, method_cls: type, file_profiles: dict) -> str:
    known = sorted(set(method_cls.profiles) | set(file_profiles) | {DEFAULT_PROFILE})
    plain = "" if method_cls.profiles else f"; {method} has no built-in profiles: '{DEFAULT_PROFILE}' is the defaults"
    return (
        f"method {method} has no profile '{profile}' (its profiles: {', '.join(known)}){plain}; "
        f"define [method.{method}.profiles.{profile}] in a config file to add one"
    )


def _build(layers: _Layers, method_cls: type) -> RunConfig:
    _check_keys(layers.run, _RUN_FIELDS, "the run settings")
    _check_keys(layers.train, set(TRAIN_RULES), "[train]")
    run = _coerce(RunConfig, layers.run, layers.names["run"], RUN_RULES)
    train = replace(TrainSettings(), **_coerce(TrainSettings, layers.train, layers.names["train"], TRAIN_RULES))
    options = _method_options(method_cls, layers)
    train.stage_optimiser()  # the optimiser's and the schedule's own checks of their names, before any work
    train.stage_schedule()
    config = replace(RunConfig(), **run, train=train, options=options)
    config = replace(config, weights_preset=check_weights_settings(config.weights, config.weights_preset))
    if config.episode_seed < 0:
        raise ConfigError(f"episode_seed must be a whole number >= 0, got {config.episode_seed}; e.g. --episode-seed 0")
    if not config.train_on:  # spelt out, so hashes say what was trained on
        from fsfer_bench.splits import get_split

        config = replace(config, train_on=get_split(config.split).train_on)
    return config


def _method_options(method_cls: type, layers: _Layers) -> dict:
    """The method's options, checked by type, then by the method's own checks, before any work."""
    allowed = {f.name for f in fields(method_cls.Options)}
    if layers.options and not allowed:
        first = next(iter(layers.options))
        raise ConfigError(f"{layers.names['options'][first]}: method {method_cls.name} has no options")
    _check_keys(layers.options, allowed, f"the options of method {method_cls.name}")
    options = _coerce(method_cls.Options, layers.options, layers.names["options"])
    try:
        method_cls.Options(**options)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"method {method_cls.name}: {exc}") from None
    return options


def method_options(config: RunConfig, method_cls: type) -> Any:
    """The method's Options dataclass filled from the resolved config."""
    return method_cls.Options(**config.options)
