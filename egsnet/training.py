"""EGS-Net's two training stages, as `Stage`s for the harness's loop.

Stage 1, joint learning. "In the first stage, the similarity branch is jointly
trained with the emotion branch in a multi-task fashion. With the
regularization of the emotion branch, we prevent the similarity branch from
overfitting to sampled base classes that are highly overlapped across
different episodes." (abstract, arXiv 2201.06781)
Each step takes one episode and one batch: L = L_sim(episode) + λ·L_emo(batch).

Stage 2, alternate learning. "In the second stage, the emotion branch and the
similarity branch play a 'two-student game' to alternately learn from each
other, thereby further improving the inference ability of the similarity
branch on unseen compound expressions." (abstract)
The paper leaves the exact coupling open; this implements it as alternating
mutual distillation, every choice an option (`egsnet.model.Options`):

- phase (a), for `period` steps: the emotion branch is frozen (no gradient, eval
  mode) and teaches; the similarity branch learns from its episode loss plus
  `distill_sim` x KL(emotion || similarity) on the episode's queries, with the
  emotion branch's logits restricted to the episode's classes and softened by
  `temperature` (`coupling="hard"`: cross-entropy to its argmax instead;
  `distill_on="episode"`: support images too);
- phase (b), for the next `period` steps: the similarity branch, backbone
  included, is frozen and teaches; the emotion branch learns from its batch
  cross-entropy plus `distill_emo` x KL(similarity || emotion) on the same images.
  With `private_block`, the emotion branch learns with its own copy of the
  backbone's last block (copied when stage 2 starts) on top of the frozen
  shared trunk, so it learns a representation, not only a head.

Images per step: stage 1 and stage 2 steps each take one episode (way x (shot
+ query) images) and one batch (`batch_size`), 50 + 32 = 82 in the quick
profile against ProtoNet's 50: what each step's `StepData` holds, so a
training loop counts them from it.

The frozen side is enforced twice: its outputs are computed without gradients,
and the stage's phases give each phase an optimiser over the learning branch
only, so the teacher's parameters do not move at all, not even through Adam's
momentum or weight decay (tested). Each phase's optimiser keeps its own state
across the phase's turns.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from fsfer_bench.methods import Episode, ParamGroup, Stage, StepData, TrainSettings


@contextmanager
def frozen(*modules: nn.Module) -> Iterator[None]:
    """Run `modules` as a fixed teacher: eval mode (BatchNorm statistics untouched), no gradients."""
    modes = [m.training for m in modules]
    for m in modules:
        m.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for m, mode in zip(modules, modes):
            m.train(mode)


def _distill(student: torch.Tensor, teacher: torch.Tensor, temperature: float, coupling: str) -> torch.Tensor:
    """Knowledge distillation from `teacher` logits to `student` logits (both (B, N))."""
    if coupling == "hard":
        return F.cross_entropy(student, teacher.argmax(1))
    t = temperature
    return F.kl_div(F.log_softmax(student / t, 1), F.softmax(teacher / t, 1), reduction="batchmean") * t * t


def _forward_episode(model, episode: Episode) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One pass over support + query: (trunk output, backbone features, similarity logits of every image vs the
    prototypes). The trunk is the whole input unless the emotion branch owns a last block (`private_block`)."""
    trunk = model.trunk(torch.cat([episode.support, episode.query]))
    base = model.similarity_base(trunk)
    features = model.projection(base)
    n_support = len(episode.support)
    return trunk, base, model.classify(features[:n_support], episode.support_labels, features)


def _distilled(model, episode: Episode, per_image: torch.Tensor) -> torch.Tensor:
    """The rows of `per_image` (support then query) that carry the distillation term."""
    return per_image if model.options.distill_on == "episode" else per_image[len(episode.support) :]


def _similarity_loss(episode: Episode, logits: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits[len(episode.support) :], episode.query_labels)


def joint_loss(model, data: StepData) -> torch.Tensor:
    _, _, logits = _forward_episode(model, data.episode)
    sim_loss = _similarity_loss(data.episode, logits)
    if not model.options.lambda_emo:
        return sim_loss
    emo_loss = F.cross_entropy(model.emotion_head(model.backbone(data.batch.images)), data.batch.labels)
    return sim_loss + model.options.lambda_emo * emo_loss


def phase_a_loss(model, data: StepData) -> torch.Tensor:
    """The similarity branch learns; the emotion branch teaches."""
    o, episode = model.options, data.episode
    trunk, base, logits = _forward_episode(model, episode)
    with frozen(*model.emotion_modules()):
        emotion = model.emotion_base(_distilled(model, episode, trunk), _distilled(model, episode, base))
        teacher = model.emotion_head(emotion)[:, episode.classes]
    student = _distilled(model, episode, logits)
    return _similarity_loss(episode, logits) + o.distill_sim * _distill(student, teacher, o.temperature, o.coupling)


def phase_b_loss(model, data: StepData) -> torch.Tensor:
    """The emotion branch learns; the similarity branch (backbone included) teaches."""
    o, episode = model.options, data.episode
    with frozen(model.backbone, model.projection):
        trunk, base, logits = _forward_episode(model, episode)
        batch_trunk = model.trunk(data.batch.images)
        batch_base = model.similarity_base(batch_trunk) if model.emotion_block is None else None
    teacher = _distilled(model, episode, logits)
    episode_emotion = model.emotion_base(_distilled(model, episode, trunk), _distilled(model, episode, base))
    student = model.emotion_head(episode_emotion)[:, episode.classes]
    emo_loss = F.cross_entropy(model.emotion_head(model.emotion_base(batch_trunk, batch_base)), data.batch.labels)
    return emo_loss + o.distill_emo * _distill(student, teacher, o.temperature, o.coupling)


def in_phase_a(step: int, period: int) -> bool:
    return (step // period) % 2 == 0


def stages(model, settings: TrainSettings) -> list[Stage]:
    o = model.options
    alternate_steps = int(round(settings.steps * o.alternate_fraction))
    joint_steps = settings.steps - alternate_steps
    plan = []
    if joint_steps:
        needs = ("episode", "batch") if o.lambda_emo else ("episode",)
        plan.append(Stage("joint", lambda d: joint_loss(model, d), needs, steps=joint_steps))
    if alternate_steps:

        def alternate_loss(data: StepData) -> torch.Tensor:
            if data.step == 0:  # stage 2 starts: the emotion branch's own last block, if any, from the shared one
                model.copy_last_block()
            return (phase_a_loss if in_phase_a(data.step, o.period) else phase_b_loss)(model, data)

        plan.append(
            Stage(
                "alternate",
                alternate_loss,
                ("episode", "batch"),
                steps=alternate_steps,
                lr=settings.lr * o.alternate_lr_scale,
                groups=[
                    ParamGroup("similarity", tuple(model.similarity_parameters())),
                    ParamGroup("emotion", tuple(model.emotion_parameters())),
                ],
                phases={"a": ("similarity",), "b": ("emotion",)},
                phase_of=lambda step: "a" if in_phase_a(step, o.period) else "b",
            )  # fmt: skip
        )
    return plan
