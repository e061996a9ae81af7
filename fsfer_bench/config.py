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
import hashlib
import json
import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from fsfer_bench.errors import ConfigError
from fsfer_bench.methods import TrainSettings

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
    seed: int = 0
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
    data_root: str | None = None
    data_paths: dict[str, str] = field(default_factory=dict)
    label_map: dict[str, str] = field(default_factory=dict)
    train: TrainSettings = field(default_factory=TrainSettings)
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def hash(self) -> str:
        """Identity of the results: everything but where data and records live and which device runs."""
        return _hash({k: v for k, v in self.to_dict().items() if k not in _NOT_HASHED})

    def training_hash(self) -> str:
        """Identity of the trained model: what shapes training, not what it is evaluated on."""
        keys = ("method", "train_on", "backbone", "image_size", "seed", "profile", "weights", "face_align",
                "align_margin", "subject_disjoint", "allow_overlap", "label_map", "strict", "train",
                "options")  # fmt: skip
        return _hash({k: self.to_dict()[k] for k in keys})


_NOT_HASHED = {"out", "device", "data_root", "data_paths"}


def _hash(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def read_toml(path: str | Path) -> dict:
    """Parse a TOML config file, with a one-line error naming the file and the problem."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc


def parse_shots(text: str | int | list | tuple) -> tuple[int, ...]:
    """'1,5' or [1, 5] -> (1, 5); anything else is a ConfigError naming the fix."""
    items = text.split(",") if isinstance(text, str) else [text] if isinstance(text, int) else list(text)
    try:
        shots = tuple(int(str(s).strip()) for s in items)
    except ValueError:
        shots = ()
    if not shots or any(s < 1 for s in shots) or len(set(shots)) != len(shots):
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


def _coerce(cls: type, values: dict, where: str) -> dict:
    """Check `values` against the dataclass `cls` and convert lists to tuples where the default is one."""
    names = {f.name: f for f in fields(cls)}
    _check_keys(values, set(names), where)
    out = {}
    defaults = cls()
    for key, value in values.items():
        default = getattr(defaults, key)
        if isinstance(default, tuple) and isinstance(value, (list, str)):
            value = tuple(value.split(",")) if isinstance(value, str) else tuple(value)
        elif isinstance(default, bool) and not isinstance(value, bool):
            raise ConfigError(f"{where}: '{key}' must be true or false, got {value!r}")
        elif isinstance(default, int) and not isinstance(default, bool) and not isinstance(value, int):
            raise ConfigError(f"{where}: '{key}' must be an integer, got {value!r}")
        elif isinstance(default, float) and not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: '{key}' must be a number, got {value!r}")
        out[key] = float(value) if isinstance(default, float) else value
    return out


@dataclass
class _Layers:
    """The flat run values, training values and method options, merged layer by layer."""

    run: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)

    def add(self, run: dict | None = None, train: dict | None = None, options: dict | None = None) -> None:
        self.run.update(run or {})
        self.train.update(train or {})
        self.options.update(options or {})


_RUN_FIELDS = {f.name for f in fields(RunConfig)} - {"train", "options"}


def _split_profile(profile: dict) -> tuple[dict, dict, dict]:
    run = {k: v for k, v in profile.items() if k not in ("train", "options")}
    return run, profile.get("train", {}), profile.get("options", {})


def _file_tables(file: dict) -> tuple[dict, dict, dict, dict]:
    """(run, train, data, methods) tables of a config file, checked for unknown sections."""
    _check_keys(file, {"run", "train", "data", "method"}, "the config file (sections)")
    run = dict(file.get("run", {}))
    if "shot" in run:
        run["shots"] = run.pop("shot")
    data = file.get("data", {})
    _check_keys(data, {"root", "paths", "label_map"}, "[data]")
    return run, file.get("train", {}), data, file.get("method", {})


def _flag_layers(flags: dict, assignments: list[str]) -> tuple[dict, dict, dict]:
    run = {k: v for k, v in flags.items() if v is not None}
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
            run[name] = value
        else:
            raise ConfigError(f"--set {key}: use train.<key>, option.<key> or a run key such as seed")
    return run, train, options


def resolve_config(
    flags: dict[str, Any] | None = None,
    config_file: str | Path | dict | None = None,
    assignments: list[str] | None = None,
) -> RunConfig:
    """The RunConfig from defaults < method profile < config file < flags (see module docstring).

    `config_file` may also be the file's tables already parsed (a sweep reads its file once for all cells).
    """
    from fsfer_bench.registry import get_method

    file = dict(config_file) if isinstance(config_file, dict) else read_toml(config_file) if config_file else {}
    file_run, file_train, data, file_methods = _file_tables(file)
    flag_run, flag_train, flag_options = _flag_layers(dict(flags or {}), list(assignments or []))
    method_name = flag_run.get("method") or file_run.get("method") or RunConfig.method
    method_cls = get_method(method_name)
    method_table = dict(file_methods.get(method_name, {}))
    file_profiles = method_table.pop("profiles", {})
    profile_name = flag_run.get("profile") or file_run.get("profile") or DEFAULT_PROFILE
    profile = file_profiles.get(profile_name, method_cls.profiles.get(profile_name))
    if profile is None and profile_name != DEFAULT_PROFILE:
        known = sorted(set(method_cls.profiles) | set(file_profiles))
        raise ConfigError(
            f"method {method_name} has no profile '{profile_name}' (profiles: {', '.join(known) or 'none'})"
        )

    layers = _Layers()
    layers.add(*_split_profile(profile or {}))
    data_run = {"data_root": data.get("root"), "data_paths": data.get("paths"), "label_map": data.get("label_map")}
    layers.add({k: v for k, v in data_run.items() if v is not None})
    layers.add(file_run, file_train, method_table)
    layers.add(flag_run, flag_train, flag_options)
    return _build(layers, method_cls)


def _build(layers: _Layers, method_cls: type) -> RunConfig:
    _check_keys(layers.run, _RUN_FIELDS, "the run settings")
    if "shots" in layers.run:
        layers.run["shots"] = parse_shots(layers.run["shots"])
    run = _coerce(RunConfig, layers.run, "[run]")
    if "train_on" in run:
        run["train_on"] = tuple(s.strip() for s in run["train_on"] if s.strip())
    train = replace(TrainSettings(), **_coerce(TrainSettings, layers.train, "[train]"))
    if train.schedule not in ("cosine", "constant"):
        raise ConfigError(f"[train] schedule must be 'cosine' or 'constant', got '{train.schedule}'")
    where = f"[method.{method_cls.name}]"
    options = _coerce(method_cls.Options, layers.options, where)
    method_cls.Options(**options)  # let the method's own checks run now, before any work
    config = replace(RunConfig(), **run, train=train, options=options)
    if not config.train_on:  # spelt out, so hashes say what was trained on
        from fsfer_bench.splits import get_split

        config = replace(config, train_on=get_split(config.split).train_on)
    return config


def method_options(config: RunConfig, method_cls: type) -> Any:
    """The method's Options dataclass filled from the resolved config."""
    return method_cls.Options(**config.options)
