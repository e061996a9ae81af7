"""The method interface: what a few-shot method must say, and nothing the harness owns.

A method is an `nn.Module` around a backbone. It answers one episode at a time
(`predict`), says how it trains (`training_stages`, run by the harness's loops),
and, if its answer depends only on per-image features, subclasses
`FeatureMethod` so the evaluator can embed each test image once.

The smallest method is a `FeatureMethod` with one `classify`; see
`baselines/protonet.py`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from fsfer_bench.backbones import Backbone
from fsfer_bench.errors import ConfigError
from fsfer_bench.registry import register_method

__all__ = [
    "Batch",
    "Episode",
    "FeatureMethod",
    "FewShotMethod",
    "NoOptions",
    "Optimiser",
    "ParamGroup",
    "Schedule",
    "Stage",
    "StepData",
    "TrainSettings",
    "class_means",
    "register_method",
]


@dataclass
class Episode:
    """One N-way episode on the method's device. Labels are 0..N-1 within the episode;
    `classes[n]` is the base-class id of episode label n (for methods that also keep
    a classifier over all base classes)."""

    support: torch.Tensor  # (N*K, 3, H, W)
    support_labels: torch.Tensor  # (N*K,)
    query: torch.Tensor  # (N*Q, 3, H, W)
    query_labels: torch.Tensor  # (N*Q,)
    classes: torch.Tensor  # (N,)

    @property
    def way(self) -> int:
        return len(self.classes)


@dataclass
class Batch:
    """A plain supervised batch over all base classes."""

    images: torch.Tensor
    labels: torch.Tensor


@dataclass
class StepData:
    """What the training loop hands a stage's loss at each step: what it asked for.

    `episodes` holds the stage's `episodes_per_step` episodes (a meta-batch);
    `episode` is the first of them.
    """

    step: int
    episodes: list[Episode] = field(default_factory=list)
    batch: Batch | None = None

    @property
    def episode(self) -> Episode | None:
        return self.episodes[0] if self.episodes else None


OPTIMISERS = ("adam", "adamw", "sgd")
SCHEDULES = ("cosine", "step", "constant")
#: How much of a (typically pretrained) backbone training may change; see `TrainSettings.regime`.
REGIMES = ("full", "linear-probe", "frozen")


@dataclass(frozen=True)
class Optimiser:
    """Which optimiser a stage uses. `momentum` and `nesterov` apply to SGD only."""

    name: str = "adam"
    weight_decay: float = 5e-4
    momentum: float = 0.9
    nesterov: bool = False

    def __post_init__(self) -> None:
        if self.name not in OPTIMISERS:
            raise ConfigError(f"[train] optimizer must be one of {', '.join(OPTIMISERS)}, got '{self.name}'")
        if self.name == "sgd" and self.nesterov and self.momentum <= 0:
            raise ConfigError("[train] nesterov needs momentum > 0; set train.momentum or train.nesterov=false")

    def build(self, groups: list[dict], lr: float) -> torch.optim.Optimizer:
        """The torch optimiser over `groups` (dicts with "params" and "lr")."""
        if self.name == "sgd":
            return torch.optim.SGD(
                groups, lr=lr, momentum=self.momentum, nesterov=self.nesterov, weight_decay=self.weight_decay
            )
        kind = torch.optim.AdamW if self.name == "adamw" else torch.optim.Adam
        return kind(groups, lr=lr, weight_decay=self.weight_decay)

    def describe(self) -> dict[str, Any]:
        """For the record: the settings that act (momentum and nesterov only for SGD)."""
        out: dict[str, Any] = {"name": self.name, "weight_decay": self.weight_decay}
        if self.name == "sgd":
            out.update(momentum=self.momentum, nesterov=self.nesterov)
        return out


@dataclass(frozen=True)
class Schedule:
    """A stage's learning-rate schedule: linear warm-up over `warmup_steps`, then cosine decay to zero,
    a step decay (x `gamma` every `step_size` steps; 0: a third of the steps after warm-up), or constant."""

    name: str = "cosine"
    warmup_steps: int = 0
    step_size: int = 0
    gamma: float = 0.1

    def __post_init__(self) -> None:
        if self.name not in SCHEDULES:
            raise ConfigError(f"[train] schedule must be one of {', '.join(SCHEDULES)}, got '{self.name}'")

    def lr_at(self, lr: float, step: int, steps: int) -> float:
        """The learning rate of 0-based `step` of a stage of `steps` steps whose peak rate is `lr`."""
        if step < self.warmup_steps:
            return lr * (step + 1) / self.warmup_steps
        t, total = step - self.warmup_steps, steps - self.warmup_steps
        if self.name == "constant" or total <= 1:
            return lr
        if self.name == "step":
            return lr * self.gamma ** (t // (self.step_size or max(1, total // 3)))
        return lr * 0.5 * (1 + math.cos(math.pi * t / total))

    def describe(self) -> dict[str, Any]:
        """For the record: the settings that act."""
        out: dict[str, Any] = {"name": self.name, "warmup_steps": self.warmup_steps}
        if self.name == "step":
            out.update(step_size=self.step_size, gamma=self.gamma)
        return out


@dataclass(frozen=True, eq=False)
class ParamGroup:
    """Parameters a stage optimises together, at `lr_scale` times the stage's learning rate
    (e.g. a pretrained backbone at 0.1 and a new head at 1)."""

    name: str
    params: tuple[nn.Parameter, ...]
    lr_scale: float = 1.0


@dataclass
class Stage:
    """One phase of training, run by the harness's loop (`fsfer_bench.training.Trainer`).

    `needs` says which inputs each step gets ("episode", "batch" or both);
    `episodes_per_step` is the meta-batch size of episodic stages.

    What learns: `groups`, the parameters this stage optimises (default: one group
    "all" of every parameter that requires a gradient). Nothing else moves, not
    even through momentum or weight decay, because no optimiser holds it. A stage
    whose learners change from step to step (EGS-Net's alternation) names
    `phases` (phase -> the groups that learn in it) and `phase_of(step)`; each
    phase has its own optimiser, which keeps its state across the phase's turns.

    `steps`, `lr`, `optimiser` and `schedule` default to the run's training settings.
    """

    name: str
    loss: Callable[[StepData], torch.Tensor]
    needs: tuple[str, ...] = ("episode",)
    steps: int | None = None
    lr: float | None = None
    episodes_per_step: int = 1
    groups: Sequence[ParamGroup] | None = None
    phases: dict[str, tuple[str, ...]] | None = None
    phase_of: Callable[[int], str] | None = None
    optimiser: Optimiser | None = None
    schedule: Schedule | None = None


@dataclass(frozen=True)
class TrainSettings:
    """The run's training budget and episode shape; methods read it to size their stages.

    The defaults are the "quick" CPU budget every method shares unless its profile
    says otherwise: about 150 steps of a 50-image episode (plus a 32-image batch for
    methods that also train on batches), a few minutes of a 2-core CPU at 64 px.

    The optimiser and schedule fields apply to every stage that does not declare
    its own; their defaults (Adam, cosine decay without warm-up) are what the
    harness always used, so they reproduce earlier runs exactly.
    """

    steps: int = 150
    lr: float = 1e-3
    weight_decay: float = 5e-4
    schedule: str = "cosine"  # cosine | step | constant (see `Schedule`)
    warmup_steps: int = 0  # linear warm-up at the start of each stage
    step_size: int = 0  # step schedule: steps between decays (0: a third of the stage)
    gamma: float = 0.1  # step schedule: the factor of each decay
    optimizer: str = "adam"  # adam | adamw | sgd
    momentum: float = 0.9  # SGD only
    nesterov: bool = False  # SGD only
    batch_size: int = 32
    way: int = 5
    shot: int = 5
    query: int = 5
    augment: bool = True
    val_every: int = 50
    val_episodes: int = 100
    val_fraction: float = 0.15
    patience: int = 0  # final-stage validations without improvement before stopping; 0 never stops early
    checkpoint_every: int = 50
    # Fine-tuning regime (issue 18), for starting from pretrained weights (--weights):
    #   full          every parameter learns; the backbone's at `backbone_lr_scale` x the stage's rate,
    #                 so a pretrained backbone can move more slowly than a new head (e.g. 0.1);
    #   linear-probe  the backbone neither learns nor updates its BatchNorm statistics; only the
    #                 method's own parameters (classifier, relation module, heads) train;
    #   frozen        nothing trains: the test uses the backbone's features as loaded.
    regime: str = "full"
    backbone_lr_scale: float = 1.0

    def stage_optimiser(self) -> Optimiser:
        """The optimiser of a stage that does not choose its own."""
        return Optimiser(self.optimizer, self.weight_decay, self.momentum, self.nesterov)

    def stage_schedule(self) -> Schedule:
        """The learning-rate schedule of a stage that does not choose its own."""
        return Schedule(self.schedule, self.warmup_steps, self.step_size, self.gamma)


@dataclass(frozen=True)
class NoOptions:
    """For methods without hyperparameters of their own."""


class FewShotMethod(nn.Module):
    """Base class of every method.

    Subclasses set `Options` to a frozen dataclass of their hyperparameters (filled
    from `[method.<name>]` in a config file, and from profiles), and may set
    `profiles`, named option sets such as "quick" and "paper".
    """

    name: ClassVar[str] = "unnamed"
    Options: ClassVar[type] = NoOptions
    profiles: ClassVar[dict[str, dict[str, Any]]] = {}
    #: What the method's training needs from the data, for the docs and `list methods`.
    training_loop: ClassVar[str] = "episodic"
    #: "images", or "landmarks" for methods that work on facial geometry (68 points per image).
    inputs: ClassVar[str] = "images"
    #: Whether the answer for one query depends on the episode's other queries (e.g. BatchNorm over the query
    #: batch at test time). Such a method is tabulated with a mark: it sees the whole test batch at once.
    transductive: ClassVar[bool] = False
    #: Options that change only how the trained model answers an episode, never what training does (e.g. a
    #: nearest-centroid normalisation). They stay out of the training hash, so one trained model serves every
    #: value: an ablation of them is paired on the same weights. Naming a training option here would wrongly
    #: reuse a model trained with another value; tests/test_test_time_options.py checks each declaration.
    test_time_options: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, backbone: Backbone, options: Any = None, num_base_classes: int = 0) -> None:
        super().__init__()
        self.backbone = backbone
        self.options = options if options is not None else self.Options()
        self.num_base_classes = num_base_classes

    def is_transductive(self) -> bool:
        """Whether this instance, with its options, is transductive; override where options decide it."""
        return self.transductive

    def predict(self, support: torch.Tensor, support_labels: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        """Logits (len(query), N) for one episode whose support labels are 0..N-1."""
        raise NotImplementedError

    def episode_loss(self, episode: Episode) -> torch.Tensor:
        """The episodic training loss; by default cross-entropy of `predict` on the queries."""
        return F.cross_entropy(
            self.predict(episode.support, episode.support_labels, episode.query), episode.query_labels
        )

    def training_stages(self, settings: TrainSettings) -> list[Stage]:
        """How this method trains. Default: one stage of episodic training on `episode_loss`."""
        return [Stage("episodic", lambda data: self.episode_loss(data.episode))]

    def after_training(self, base_batches: Callable[[], Iterable[Batch]]) -> None:
        """Optional: gather statistics of the base data once training is over.

        `base_batches()` yields the training pool in order, without augmentation;
        it is called in eval mode without gradients. SimpleShot's mean feature and
        a whitening of landmarks are such statistics. Default: nothing.
        """


class FeatureMethod(FewShotMethod):
    """A method whose episode answer depends only on per-image features.

    The evaluator embeds each test image once and calls `classify` per episode
    on cached features: the fast path.
    """

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return self.backbone(images)

    def classify(
        self, support_features: torch.Tensor, support_labels: torch.Tensor, query_features: torch.Tensor
    ) -> torch.Tensor:
        raise NotImplementedError

    def predict(self, support: torch.Tensor, support_labels: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        features = self.embed(torch.cat([support, query]))  # one pass: BatchNorm sees the whole episode
        return self.classify(features[: len(support)], support_labels, features[len(support) :])


def class_means(features: torch.Tensor, labels: torch.Tensor, n_classes: int | None = None) -> torch.Tensor:
    """Per-class mean feature (prototypes), rows ordered by label 0..N-1."""
    n = int(labels.max()) + 1 if n_classes is None else n_classes
    one_hot = F.one_hot(labels, n).to(features.dtype)
    return (one_hot.T @ features) / one_hot.sum(0, keepdim=True).T
