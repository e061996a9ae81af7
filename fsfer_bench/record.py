"""The record: one evaluation of one trained model on one split at one shot, as a type.

Every writer and reader of records goes through `Record`: `experiment.run` makes one
with `Record.from_run`, `results.Store` writes `to_dict()`, `results.load` reads files
back with `Record.from_dict`, which upgrades older schemas and refuses records whose
fields have the wrong type or impossible values (accuracies outside [0, 100]), and the
reports read `Record` attributes. A new field is one line here (with the default that
records written before it get); a report column is then one entry in
`report.tables.FRAME_COLUMNS` (see docs/architecture.md).

Schema history:

1. the first records: one seed drove both training and the test episodes;
2. `episode_seed` apart from `seed`; protocol fields (`support_rule`, `same_database`,
   `train_duplicates_removed`, `transductive`); the training hash covers the training
   pool's content; statistics undefined for one episode are `null` with a reason. Later:
   `train_near_duplicates_removed` (a protocol field: unknown in records written before it).

Upgrading a schema-1 record never guesses: fields it could not know get `UNKNOWN` (or
None where the field is a number or a flag) and are listed in `unknown_fields`. The
one exception is `episode_seed`, which schema 1 did know: it was the seed.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from fsfer_bench.config import weights_digest
from fsfer_bench.errors import StoreError
from fsfer_bench.stats import summarise

if TYPE_CHECKING:
    import torch

    from fsfer_bench.config import RunConfig
    from fsfer_bench.episodes import EpisodeSet
    from fsfer_bench.evaluate import EvaluationResult
    from fsfer_bench.experiment import Pools
    from fsfer_bench.training import TrainingReport

SCHEMA = 2
UNKNOWN = "unknown"
#: Fields every record must have to be read at all, whatever its schema.
REQUIRED = ("method", "split", "way", "shot", "query", "seed", "accuracies", "episode_hash")
#: The protocol fields: how support sets were drawn, where the model was trained, what it saw at test time.
#: A record that was not told them (schema 1, or a run that does not measure them) holds these: unknown.
PROTOCOL_UNKNOWN = {
    "support_rule": UNKNOWN,  # "people" | "images"
    "same_database": None,
    "train_duplicates_removed": None,
    "train_near_duplicates_removed": None,
    "transductive": None,
}


class RecordError(StoreError):
    """A record file that parses as JSON but is not a record this harness can use."""


@dataclass(frozen=True)
class Record:
    """What `run` stores per shot. Attribute names are the JSON keys."""

    method: str
    split: str
    way: int
    shot: int
    query: int
    seed: int  # seeds training
    accuracies: list[float]  # per episode, percent
    episode_hash: str
    episode_seed: int | None = None  # seeds the test episodes
    schema: int = SCHEMA
    record_id: str = ""
    run_id: str | None = None
    created: str | None = None
    target: str | None = None
    train_on: list[str] = field(default_factory=list)
    train_on_skipped: list[str] = field(default_factory=list)
    episodes: int | None = None
    subject_disjoint: bool | None = None
    # protocol (see PROTOCOL_UNKNOWN); None or UNKNOWN where not known, and then listed in `unknown_fields`
    support_rule: str = UNKNOWN
    same_database: bool | None = None
    train_duplicates_removed: int | None = None
    train_near_duplicates_removed: int | None = None  # the files: train_notes["near_duplicates"]
    transductive: bool | None = None
    # summary of `accuracies`; None where undefined, with the reason in `interval_note`
    mean: float | None = None
    ci95: float | None = None
    ci95_z: float | None = None
    std: float | None = None
    interval_note: str | None = None
    n_episodes: int = 0
    classes: list[str] = field(default_factory=list)
    confusion: list[list[int]] = field(default_factory=list)
    train_classes: list[str] = field(default_factory=list)
    overlap_classes: list[str] = field(default_factory=list)
    config: dict = field(default_factory=dict)
    config_hash: str | None = None
    training_hash: str | None = None
    training: dict = field(default_factory=dict)  # TrainingReport.to_dict(), plus "reused"
    evaluation: dict = field(default_factory=dict)
    target_notes: dict = field(default_factory=dict)
    train_notes: dict = field(default_factory=dict)
    device: str | None = None
    versions: dict = field(default_factory=dict)
    git_commit: str | None = None
    unknown_fields: list[str] = field(default_factory=list)  # filled by an upgrade, not measured
    # the training settings and method options this run set away from its profile's (experiment.method_variant),
    # e.g. "train.steps=246" or "geometry_weight=0.0"; "" for none
    variant: str = ""

    # --- reading ---------------------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Any) -> Record:
        """A record from its JSON form, upgraded to this schema; `RecordError` if it cannot be one."""
        if not isinstance(data, dict):
            raise RecordError(f"holds a JSON {type(data).__name__}, not a record")
        missing = [f for f in REQUIRED if f not in data]
        if missing:
            raise RecordError(f"record of schema {data.get('schema', UNKNOWN)} lacks field '{missing[0]}'")
        data = _upgrade(dict(data))
        known = {f.name for f in fields(cls)}
        record = cls(**{k: v for k, v in data.items() if k in known})
        record._check()
        return record.with_summary()

    def _check(self) -> None:
        for name, kinds in _TYPES.items():
            value = getattr(self, name)
            if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in _as_tuple(kinds)):
                raise RecordError(f"field '{name}' is {type(value).__name__} {_short(value)}, not {_names(kinds)}")
        for name in ("way", "shot", "query"):
            if getattr(self, name) < 1:
                raise RecordError(f"field '{name}' is {getattr(self, name)}; it must be at least 1")
        if not self.accuracies:
            raise RecordError("has no accuracies")
        for a in self.accuracies:
            if isinstance(a, bool) or not isinstance(a, (int, float)) or not 0 <= a <= 100:
                raise RecordError(f"holds accuracy {_short(a)}; accuracies are percentages in [0, 100]")
        if not isinstance(self.training, dict):
            raise RecordError(f"field 'training' is {type(self.training).__name__}, not an object")

    def with_summary(self) -> Record:
        """The record with mean, intervals and episode count recomputed from its accuracies.

        Recomputed on every read, so old records and new agree, and a record edited by
        hand cannot carry a mean that its accuracies do not give.
        """
        s = summarise(self.accuracies)
        one = s.n == 1
        return _replace(
            self, mean=s.mean, ci95=_finite(s.ci95), ci95_z=_finite(s.ci95_z), std=_finite(s.std), n_episodes=s.n,
            interval_note="n/a (1 episode): no interval from a single episode" if one else None,
        )  # fmt: skip

    # --- writing ---------------------------------------------------------------------------------------

    @classmethod
    def from_run(
        cls,
        config: RunConfig,
        pools: Pools,
        episodes: EpisodeSet,
        result: EvaluationResult,
        report: TrainingReport,
        run_id: str,
        device: torch.device,
        training_hash: str,
        reused: bool,
        environment: dict,
        protocol: dict | None = None,
        variant: str = "",
    ) -> Record:
        """The record of one shot of a run (`config` holds that one shot).

        `protocol` holds the PROTOCOL_UNKNOWN fields the run knows; the others stay unknown, and listed so.
        """
        shot = episodes.spec.shot
        protocol = dict(protocol or {})
        return cls(
            schema=SCHEMA,
            record_id=new_record_id(config.method, config.split, shot, config.seed),
            run_id=run_id,
            created=utc_now(),
            method=config.method,
            split=config.split,
            target=pools.target.sources[0] if len(pools.target) else None,
            train_on=list(pools.train_on),
            train_on_skipped=list(pools.skipped_sources),
            way=config.way,
            shot=shot,
            query=config.query,
            episodes=config.episodes,
            seed=config.seed,
            episode_seed=config.episode_seed,
            subject_disjoint=config.subject_disjoint and pools.target.has_subjects,
            accuracies=[round(float(a), 4) for a in result.accuracies],
            classes=list(pools.target.classes),
            confusion=result.confusion.tolist(),
            episode_hash=episodes.hash,
            train_classes=list(pools.train.classes),
            overlap_classes=list(pools.overlap_classes),
            config=config.to_dict(),
            config_hash=config.hash(),
            training_hash=training_hash,
            training={**report.to_dict(), "reused": reused, **_weights_identity(config)},
            evaluation={"seconds": result.seconds, "path": result.path},
            target_notes=pools.target.notes,
            train_notes=pools.train.notes,
            device=str(device),
            **environment,
            **{**PROTOCOL_UNKNOWN, **protocol},
            unknown_fields=[k for k in PROTOCOL_UNKNOWN if k not in protocol],
            variant=variant,
        ).with_summary()

    def to_dict(self) -> dict:
        """The JSON form (strict JSON: no NaN, see `files.write_json_atomic`)."""
        return asdict(self)

    # --- reading like the JSON it is written as --------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        """`record["mean"]`, so scripts that read records as JSON objects keep working."""
        if key not in _FIELD_NAMES:
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key) if key in _FIELD_NAMES else default

    def __contains__(self, key: object) -> bool:
        return key in _FIELD_NAMES

    # --- what readers derive -----------------------------------------------------------------------------

    @property
    def row_name(self) -> str:
        """What tables call the run: the method, and its `variant` in brackets, so that an ablation of an
        option is a row of its own instead of replacing the method's default run."""
        return f"{self.method} [{self.variant}]" if self.variant else self.method

    @property
    def image_size(self) -> int | None:
        return self.config.get("image_size")

    @property
    def images_seen(self) -> int | None:
        """Training images drawn over all steps (see `images_seen_returned` for the evaluated weights')."""
        return self.training.get("images_seen")

    @property
    def images_seen_returned(self) -> int | str | None:
        """Training images drawn up to the step of the returned weights; UNKNOWN where that cannot be told.

        Validation may return an earlier checkpoint than the last, trained on fewer images than
        `images_seen`. Records made before the report stored it are derived from their
        `training.returned` {stage, step}: the last step means every image drawn; an earlier step
        counts its share of the steps, where every trained stage drew alike (the same `needs`).
        None: the record says nothing of images at all.
        """
        stored = self.training.get("images_seen_returned")
        if isinstance(stored, int) and not isinstance(stored, bool):
            return stored
        return _images_behind_returned(self.training)

    @property
    def returned_final_stage(self) -> str:
        """Whether the returned weights come from the method's last training stage: "yes", "no", "n/a" or UNKNOWN.

        The stages are `training.stages` (names, or objects with a "name") in the order they
        ran, else the keys of `training.steps`. "n/a": nothing was trained. One stage: "yes"
        (there is no other). Several stages and `training.returned = {stage, step}`: "yes"
        if its stage is the last. Several stages without it (records before schema 2): UNKNOWN.
        """
        stages = _stage_names(self.training)
        returned = self.training.get("returned")
        if not stages:
            return "n/a"
        if len(stages) == 1:
            return "yes"
        if not isinstance(returned, dict):
            return UNKNOWN
        return "yes" if returned.get("stage") == stages[-1] else "no"

    def describe(self) -> str:
        """The one line `run` prints per shot."""
        interval = f"± {self.ci95:.2f} %" if self.ci95 is not None else "%  ± n/a (1 episode)"
        return (
            f"{self.method}  {self.split}  {self.way}-way {self.shot}-shot  {self.mean:.2f} {interval}  "
            f"({self.n_episodes} episodes, 95% t-CI)"
        )

    def summary(self) -> dict:
        """The few fields a sweep reports per cell."""
        out = {k: getattr(self, k) for k in ("record_id", "config_hash", "training_hash", "mean", "ci95", "n_episodes")}
        out["training"] = {k: self.training.get(k) for k in ("reused", "seconds", "resumed_from")}
        return out


_FIELD_NAMES = frozenset(f.name for f in fields(Record))
_TYPES: dict[str, type | tuple[type, ...]] = {
    "method": str, "split": str, "way": int, "shot": int, "query": int, "seed": int, "accuracies": list,
    "episode_hash": str, "episode_seed": (int, type(None)), "record_id": str, "created": (str, type(None)),
    "train_on": list, "config": dict, "training": dict, "evaluation": dict, "classes": list, "confusion": list,
    "support_rule": str, "same_database": (bool, type(None)), "transductive": (bool, type(None)),
    "train_duplicates_removed": (int, type(None)), "train_near_duplicates_removed": (int, type(None)),
    "variant": str,
}  # fmt: skip


def _weights_identity(config: RunConfig) -> dict[str, str]:
    """What the backbone started from, by content: {"weights_sha256": ...} for a run with --weights, else {}."""
    return {"weights_sha256": weights_digest(config.weights)} if config.weights else {}


def _upgrade(data: dict) -> dict:
    """A record of an older schema in this schema's shape; raises on an unknown (newer) schema."""
    schema = data.get("schema", 1)
    if not isinstance(schema, int) or isinstance(schema, bool) or schema > SCHEMA:
        raise RecordError(f"has schema {schema!r}; this fsfer-bench reads schemas up to {SCHEMA} (upgrade it)")
    if schema == 1:
        data.setdefault("episode_seed", data.get("seed"))  # schema 1 drew the test episodes with the seed
    # protocol fields the record's writer did not measure (schema 1, or a field added since): unknown
    unknown = [k for k in PROTOCOL_UNKNOWN if k not in data]
    if unknown:
        data.update({k: PROTOCOL_UNKNOWN[k] for k in unknown})
        listed = data.get("unknown_fields") if isinstance(data.get("unknown_fields"), list) else []
        data["unknown_fields"] = [*listed, *(k for k in unknown if k not in listed)]
    data.setdefault("record_id", "")
    data["schema"] = SCHEMA
    return data


def _images_behind_returned(training: dict) -> int | str | None:
    seen, returned, steps = training.get("images_seen"), training.get("returned"), training.get("steps")
    if not isinstance(seen, int):
        return None
    if seen == 0:
        return 0
    if not isinstance(returned, dict) or not isinstance(steps, dict) or returned.get("stage") not in steps:
        return UNKNOWN
    names = list(steps)
    stage, step = returned["stage"], returned.get("step")
    if not isinstance(step, int) or not all(isinstance(n, int) for n in steps.values()):
        return UNKNOWN
    if stage == names[-1] and step == steps[stage]:
        return seen
    if not _stages_draw_alike(training, names):
        return UNKNOWN
    upto = sum(steps[n] for n in names[: names.index(stage)]) + step
    total = sum(steps.values())
    return seen * upto // total if total and (seen * upto) % total == 0 else UNKNOWN


def _stages_draw_alike(training: dict, names: list[str]) -> bool:
    """Whether every trained stage drew the same kinds of data per step (as `training.stages` says)."""
    stages = training.get("stages")
    if not isinstance(stages, list):
        return len(names) == 1
    needs = {tuple(s.get("needs") or ()) for s in stages if isinstance(s, dict) and s.get("name") in names}
    return len(needs) == 1


def _stage_names(training: dict) -> list[str]:
    stages = training.get("stages")
    if isinstance(stages, list) and stages:
        return [s.get("name") if isinstance(s, dict) else s for s in stages]
    if isinstance(stages, dict) and stages:
        return list(stages)
    steps = training.get("steps")
    return list(steps) if isinstance(steps, dict) else []


def _replace(record: Record, **changes: Any) -> Record:
    from dataclasses import replace

    return replace(record, **changes)


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _as_tuple(kinds: type | tuple[type, ...]) -> tuple[type, ...]:
    return kinds if isinstance(kinds, tuple) else (kinds,)


def _names(kinds: type | tuple[type, ...]) -> str:
    return " or ".join("null" if k is type(None) else k.__name__ for k in _as_tuple(kinds))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def new_record_id(method: str, split: str, shot: int, seed: int) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    return f"{method}_{split}_{shot}shot_seed{seed}_{stamp}_{uuid.uuid4().hex[:8]}"


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
