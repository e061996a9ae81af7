"""EGS-Net: Emotion-Guided Similarity Network (Zou, Yan, Xue, Chen & Wang, AAAI 2022).

"[EGS-Net consists] of an emotion branch and a similarity branch, based on a
two-stage learning framework." (abstract, arXiv 2201.06781)

- The similarity branch is the backbone plus a projection; an episode's queries
  are scored by cosine similarity to the support prototypes, times a learnable
  scale. It is the only branch used at test time, so EGS-Net is a
  `FeatureMethod` and takes the evaluator's fast path.
- The emotion branch is a classifier over *all* base classes on top of the
  shared backbone, trained on ordinary batches. It sees every base class at
  every step, unlike the 5-way episodes, and so learns the global
  structure of expressions.

Ownership of parameters, which decides what "frozen" means in stage 2: the
backbone belongs to the similarity branch (it is what the test uses); the
emotion branch owns only its head. With the default ownership, phase (b) of
alternate learning can only move a 2-layer head on frozen features, so the
"two-student game" is one student distilling from an MLP. Option
`private_block` gives the emotion branch its own copy of the backbone's last
block for stage 2 (copied from the shared one when stage 2 starts): both
students then learn representations, the emotion branch on top of the shared
lower blocks, which stay the similarity branch's. How the branches train is in
`egsnet/training.py`; the registered variants and their profiles are in
`egsnet/__init__.py` and `egsnet/profiles.toml`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from fsfer_bench.backbones import Backbone
from fsfer_bench.errors import ConfigError
from fsfer_bench.methods import FeatureMethod, Stage, TrainSettings, class_means

COUPLINGS = ("soft", "hard")
DISTILL_IMAGES = ("query", "episode")


@dataclass(frozen=True)
class Options:
    """EGS-Net's hyperparameters; every one is settable from TOML (`[method.egsnet]`)."""

    #: Stage 1 loss: L = L_sim + lambda_emo * L_emo (0 turns the emotion branch off).
    lambda_emo: float = 1.0
    #: Share of the run's `[train] steps` given to stage 2 (alternate); the rest is stage 1 (joint).
    #: Sharing one step budget keeps EGS-Net, its ablations and ProtoNet on the same training budget.
    alternate_fraction: float = 0.4
    #: Stage 2: the branches swap roles every `period` steps, starting with phase (a).
    period: int = 10
    #: Softening temperature of the distillation targets (Hinton et al. 2015).
    temperature: float = 4.0
    #: Weight of the distillation term for the similarity branch (phase a) and the emotion branch (phase b).
    distill_sim: float = 1.0
    distill_emo: float = 1.0
    #: "soft": KL to temperature-softened predictions; "hard": cross-entropy to the other branch's argmax.
    coupling: str = "soft"
    #: Which episode images carry the distillation term: "query" or "episode" (support and query).
    distill_on: str = "query"
    #: Learning rate of stage 2, relative to the run's [train] lr.
    alternate_lr_scale: float = 0.5
    #: Width of the similarity projection and of the emotion head's hidden layer.
    projection_dim: int = 256
    #: Initial value of the learnable cosine scale.
    scale_init: float = 10.0
    #: Stage 2: the emotion branch owns a copy of the backbone's last block (see the module docstring).
    #: Off by default: the published model shares the whole backbone.
    private_block: bool = False

    def __post_init__(self) -> None:
        if self.coupling not in COUPLINGS:
            raise ConfigError(f"egsnet coupling must be one of {', '.join(COUPLINGS)}, got '{self.coupling}'")
        if self.distill_on not in DISTILL_IMAGES:
            raise ConfigError(f"egsnet distill_on must be one of {', '.join(DISTILL_IMAGES)}, got '{self.distill_on}'")
        if not 0 <= self.alternate_fraction <= 1 or self.period < 1:
            raise ConfigError("egsnet alternate_fraction must lie in [0, 1], and period be >= 1")
        if self.temperature <= 0 or self.lambda_emo < 0:
            raise ConfigError("egsnet temperature must be > 0 and lambda_emo >= 0")
        if self.alternate_fraction and not self.lambda_emo:
            raise ConfigError("egsnet alternate learning needs the emotion branch: set lambda_emo > 0")


class EGSNet(FeatureMethod):
    """Emotion-guided similarity network: joint, then alternate learning of two branches."""

    Options = Options
    training_loop = "episodic + batch"

    def __init__(self, backbone: Backbone, options: Options | None = None, num_base_classes: int = 0) -> None:
        super().__init__(backbone, options, num_base_classes)
        o = self.options
        self.projection = nn.Sequential(nn.Linear(backbone.out_dim, o.projection_dim))
        self.scale = nn.Parameter(torch.tensor(float(o.scale_init)))
        self.emotion_head = nn.Sequential(
            nn.Linear(backbone.out_dim, o.projection_dim),
            nn.BatchNorm1d(o.projection_dim),
            nn.ReLU(),
            nn.Linear(o.projection_dim, max(num_base_classes, 1)),
        )
        self.split_at = last_block_index(backbone) if o.private_block else None
        # registered from the start, so that state_dicts (model cache, checkpoints) always hold it
        self.emotion_block = copy.deepcopy(backbone.layers[self.split_at]) if o.private_block else None

    # -- the similarity branch: all that the test uses ---------------------------------------
    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return self.projection(self.backbone(images))

    def classify(
        self, support_features: torch.Tensor, support_labels: torch.Tensor, query_features: torch.Tensor
    ) -> torch.Tensor:
        prototypes = class_means(support_features, support_labels)
        return self.scale * F.normalize(query_features, dim=-1) @ F.normalize(prototypes, dim=-1).T

    # -- the backbone, cut before its last block when the emotion branch owns a copy of it ----------
    def trunk(self, images: torch.Tensor) -> torch.Tensor:
        """The part of the backbone both branches share: all of it by default, else all but the last block."""
        return images if self.split_at is None else self.backbone.layers[: self.split_at](images)

    def similarity_base(self, trunk: torch.Tensor) -> torch.Tensor:
        """The similarity branch's backbone features from the trunk's output."""
        if self.split_at is None:
            return self.backbone(trunk)
        return _finish(self.backbone, self.backbone.layers[self.split_at :](trunk))

    def emotion_base(self, trunk: torch.Tensor, similarity_base: torch.Tensor) -> torch.Tensor:
        """The emotion branch's backbone features: the similarity branch's, or its own last block's."""
        if self.split_at is None:
            return similarity_base
        return _finish(self.backbone, self.backbone.layers[self.split_at + 1 :](self.emotion_block(trunk)))

    @torch.no_grad()
    def copy_last_block(self) -> None:
        """Start the emotion branch's block from the shared one, as stage 2 begins."""
        if self.emotion_block is not None:
            self.emotion_block.load_state_dict(self.backbone.layers[self.split_at].state_dict())

    # -- ownership, for freezing ----------------------------------------------------------------
    def similarity_parameters(self) -> list[nn.Parameter]:
        return [*self.backbone.parameters(), *self.projection.parameters(), self.scale]

    def emotion_parameters(self) -> list[nn.Parameter]:
        own = list(self.emotion_block.parameters()) if self.emotion_block is not None else []
        return [*own, *self.emotion_head.parameters()]

    def emotion_modules(self) -> list[nn.Module]:
        return [self.emotion_head] + ([self.emotion_block] if self.emotion_block is not None else [])

    def training_stages(self, settings: TrainSettings) -> list[Stage]:
        from egsnet.training import stages

        return stages(self, settings)


def last_block_index(backbone: Backbone) -> int:
    """Index in `backbone.layers` of its last block with parameters (ResNet-18's last layer is a pooling)."""
    layers = getattr(backbone, "layers", None)
    if not isinstance(layers, nn.Sequential):
        raise ConfigError(
            f"egsnet option private_block needs a backbone whose blocks are a `layers` sequence (conv4, resnet12, "
            f"resnet18); {type(backbone).__name__} has none: leave private_block off"
        )
    return max(i for i, m in enumerate(layers) if any(True for _ in m.parameters()))


def _finish(backbone: Backbone, maps: torch.Tensor) -> torch.Tensor:
    """What the built-in backbones do after `layers`: ResNet-12 pools, all flatten (tested against forward)."""
    pool = getattr(backbone, "pool", None)
    return (pool(maps) if pool is not None else maps).flatten(1)
