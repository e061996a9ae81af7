"""Model-Agnostic Meta-Learning (Finn, Abbeel & Levine, ICML 2017).

MAML learns an initialisation: for each episode, a few gradient steps on the
support set (the inner loop) adapt a copy of the network, and the meta-loss is
the adapted copy's loss on the queries. Second-order MAML differentiates
through the inner steps; first-order MAML (`first_order`) treats the inner
gradients as constants, which is cheaper in training and, in the paper, nearly
as good. At evaluation no meta-gradient is needed, so the meta-parameters are
detached there and both orders do the same work.

Written with `torch.func`: `functional_call` runs the network on a dictionary
of adapted parameters, `grad` gives the inner gradients, and `vmap` can adapt a
meta-batch of episodes at once (`batched`). "auto" uses the plain loop on CPU,
where vmap was measured 3.92x slower and far hungrier (bench/bench_maml.py, as in
the README: Conv-4, 64 px, 32 episodes of 5-way 1-shot with 15 queries and 5 inner
steps: 34.03 s and 10.8 GB peak by vmap against 8.68 s and 0.99 GB by the loop),
and vmap on CUDA. The two agree to 1e-5 (tested).

BatchNorm policy (`bn`, recorded with the run's options):
- "batch" (default, as in the original): every forward pass normalises with the
  statistics of its own batch, the support set in the inner loop and the
  queries after it, in training and at evaluation; no running statistics are
  kept at all.
- "running": meta-training forward passes use batch statistics and update
  running statistics (each episode of a meta-batch from the same starting
  statistics, then averaged, so that the loop and vmap keep the same state); at
  evaluation the inner loop and the queries use the running statistics, so a
  query's answer does not depend on the other queries.

The classifier has `way` outputs, meta-learned as in the paper; an episode with
fewer classes uses the first rows. With `zero_head` it is not meta-learned but
starts every episode at zero (the "zeroing trick" of Kao et al., ICLR 2022; Ye &
Chao, ICLR 2022, make the same point): episode labels are a random permutation
of the classes drawn, so no meta-learned row can stand for a class, and a zero
start makes the first inner step set each row to its class's centred mean
feature (times the inner lr / way), a prototype, whatever the labelling. The outer (meta) learning rate is the run's
`train.lr`, and the meta-batch size is `meta_batch`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap

from fsfer_bench.errors import ConfigError, TrainingError
from fsfer_bench.methods import Episode, FewShotMethod, Stage, StepData, TrainSettings, register_method

BN_POLICIES = ("batch", "running")
PATHS = ("auto", "loop", "vmap")
Params = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Options:
    """Inner loop (`inner_steps`, `test_inner_steps` (default: inner_steps), `inner_lr`), `first_order`,
    `meta_batch` (episodes per outer step), `bn` (batch | running), `batched` (auto | loop | vmap),
    `way` (outputs of the classifier) and `zero_head` (start every episode's classifier at zero instead of a
    meta-learned one)."""

    inner_steps: int = 5
    test_inner_steps: int | None = None
    inner_lr: float = 0.01
    first_order: bool = False
    meta_batch: int = 4
    bn: str = "batch"
    batched: str = "auto"
    way: int = 5
    zero_head: bool = False

    def __post_init__(self) -> None:
        for name in ("inner_steps", "test_inner_steps"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise ConfigError(f"MAML option {name} must be an integer >= 0 (0: no adaptation), got {value!r}")
        if self.inner_lr <= 0:
            raise ConfigError(f"MAML option inner_lr must be positive, got {self.inner_lr}")
        if self.meta_batch < 1 or self.way < 2:
            raise ConfigError(f"MAML needs meta_batch >= 1 and way >= 2, got {self.meta_batch} and {self.way}")
        if self.bn not in BN_POLICIES:
            raise ConfigError(f"MAML option bn must be one of {', '.join(BN_POLICIES)}, got '{self.bn}'")
        if self.batched not in PATHS:
            raise ConfigError(f"MAML option batched must be one of {', '.join(PATHS)}, got '{self.batched}'")


class VmapSafeBatchNorm(nn.modules.batchnorm._BatchNorm):
    """PyTorch's BatchNorm, with an opt-in way of applying its affine step that `vmap` differentiates right.

    Under `vmap`, second-order gradients through the fused kernel's weight and
    bias come out wrong once they differ per episode (pytorch/functorch#534;
    measured here: 0.5 off in float64). With `write_affine` set, the affine step
    (x * weight + bias) is written out after an unscaled normalisation, which
    vmap gets right. The vmap path sets it; the loop keeps the fused kernel, as
    the extra elementwise passes cost it about a quarter of an episode on CPU.
    Same parameters and buffers as nn.BatchNorm, so weights load either way.
    """

    write_affine = False

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input, got {input.dim()}D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative average, as nn.BatchNorm does
                factor = 1.0 / float(self.num_batches_tracked)
        use_batch = self.training or self.running_mean is None
        if not (self.write_affine and self.affine):
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, use_batch, factor,
                                self.eps)  # fmt: skip
        y = F.batch_norm(x, self.running_mean, self.running_var, None, None, use_batch, factor, self.eps)
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return y * self.weight.view(shape) + self.bias.view(shape)


def vmap_safe_batch_norms(module: nn.Module) -> None:
    """Replace every BatchNorm in `module` by a VmapSafeBatchNorm holding the same state."""
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm) and not isinstance(child, VmapSafeBatchNorm):
            safe = VmapSafeBatchNorm(child.num_features, child.eps, child.momentum, child.affine,
                                     child.track_running_stats)  # fmt: skip
            safe.load_state_dict(child.state_dict())
            tensors = [*child.parameters(), *child.buffers()]
            setattr(module, name, safe.to(tensors[0].device) if tensors else safe)
        else:
            vmap_safe_batch_norms(child)


@contextlib.contextmanager
def affine_written_out(module: nn.Module) -> Iterator[None]:
    norms = [m for m in module.modules() if isinstance(m, VmapSafeBatchNorm)]
    for m in norms:
        m.write_affine = True
    try:
        yield
    finally:
        for m in norms:
            m.write_affine = False


def drop_running_statistics(module: nn.Module) -> None:
    """Make every BatchNorm normalise with its batch's statistics, in training and evaluation alike."""
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.track_running_stats = False
            m.running_mean, m.running_var, m.num_batches_tracked = None, None, None


@register_method("maml")
class MAML(FewShotMethod):
    """Meta-learned initialisation, adapted per episode by gradient steps (first or second order)."""

    Options = Options
    training_loop = "episodic"
    transductive = True  # under its default bn="batch"; `is_transductive` reads the options
    profiles = {
        # CPU: Conv-4 at 32 px, first order, 1-shot episodes with 5 queries, meta-batches of 2, the harness's
        # 150 outer steps. 32 px, not 64, because MAML adapts on every test episode: at 64 px that costs 0.45 s
        # per 1-shot and 0.90 s per 5-shot episode on this CPU, 13.5 minutes for one split's 600 + 600 episodes.
        "quick": {"backbone": "conv4", "image_size": 32,
                  "train": {"way": 5, "shot": 1, "query": 5, "weight_decay": 0.0, "val_episodes": 20},
                  "options": {"inner_steps": 5, "first_order": True, "meta_batch": 2}},
        # Finn et al., mini-ImageNet: 5 inner steps at lr 0.01 in training, 10 at test; Adam 1e-3; meta-batches
        # of 4 (1-shot; 2 for 5-shot); 15 queries; 60,000 outer steps; second order; Conv-4 at 84 px.
        "paper": {"backbone": "conv4", "image_size": 84,
                  "train": {"steps": 60000, "way": 5, "shot": 1, "query": 15, "lr": 1e-3, "weight_decay": 0.0,
                            "augment": False, "val_every": 2000, "val_episodes": 600},
                  "options": {"inner_steps": 5, "test_inner_steps": 10, "inner_lr": 0.01, "meta_batch": 4}},
        # CPU budget for real faces (issues 18, 24), at 32 px, not the other methods' 48: MAML adapts on every test
        # episode, and at 48 px a training step costs 2.0x and a 5-shot test episode 2.4x what they cost at 32 px
        # (bench/bench_maml.py --sizes 32,48). Second order with the classifier zeroed at every episode and an inner
        # lr of 0.1: first order stayed at chance on FER2013 with or without the zeroed head (validation 21.1% and
        # 21.4% after 600 steps, the meta-loss settling at ln 5), second order with it learned (23.7% after 300
        # steps); results/reference/diagnosis/README.md. Chosen on validation from held-out training images only.
        "long": {"backbone": "conv4", "image_size": 32,
                 "train": {"steps": 4000, "way": 5, "shot": 1, "query": 5, "weight_decay": 0.0, "val_every": 500,
                           "val_episodes": 50},
                 "options": {"inner_steps": 5, "inner_lr": 0.1, "first_order": False, "zero_head": True,
                             "meta_batch": 2}},
    }  # fmt: skip

    def __init__(self, backbone, options: Options | None = None, num_base_classes: int = 0) -> None:
        super().__init__(backbone, options, num_base_classes)
        self.head = nn.Linear(backbone.out_dim, self.options.way)
        vmap_safe_batch_norms(self.backbone)
        if self.options.bn == "batch":
            drop_running_statistics(self)

    def is_transductive(self) -> bool:
        """With bn="batch" the queries are normalised with their own batch's statistics, so one query's
        answer depends on the others; with running statistics it does not."""
        return self.options.bn == "batch"

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(images))

    # ---- the harness's interface

    def training_stages(self, settings: TrainSettings) -> list[Stage]:
        self._check_way(settings.way)
        return [Stage("meta", self.meta_loss, episodes_per_step=self.options.meta_batch)]

    def meta_loss(self, data: StepData) -> torch.Tensor:
        """Mean query cross-entropy of the meta-batch after adaptation."""
        logits = self.adapt_and_query(data.episodes, where=f" in the meta-batch of training step {data.step + 1}")
        return torch.stack([F.cross_entropy(lg, ep.query_labels) for lg, ep in zip(logits, data.episodes)]).mean()

    def predict(self, support: torch.Tensor, support_labels: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        way = int(support_labels.max()) + 1
        episode = Episode(support, support_labels, query, support_labels[:0], torch.arange(way))
        return self.adapt_and_query([episode])[0]

    # ---- MAML

    def adapt_and_query(self, episodes: list[Episode], path: str | None = None, where: str = "") -> torch.Tensor:
        """Adapt to each episode's support set, then return the query logits (E, N*Q, N).

        Differentiable with respect to the meta-parameters when gradients are
        enabled (training); at evaluation, under `torch.no_grad()`, the
        meta-parameters are detached and only the inner gradients are computed.
        """
        way = episodes[0].way
        self._check_way(way)
        steps = self.options.inner_steps
        if not self.training and self.options.test_inner_steps is not None:
            steps = self.options.test_inner_steps
        meta_gradient = torch.is_grad_enabled()
        with torch.enable_grad():
            params = {k: p if meta_gradient else p.detach() for k, p in self.named_parameters()}
            if self.options.zero_head:
                params.update({k: torch.zeros_like(p) for k, p in self.head.named_parameters(prefix="head")})
            run = self._vmapped if self._path(path, len(episodes)) == "vmap" else self._looped
            logits, losses = run(params, episodes, way, steps)
        self._check_finite(losses, where)
        return logits

    def _path(self, path: str | None, n_episodes: int) -> str:
        path = path or self.options.batched
        if path == "auto":
            path = "vmap" if self.head.weight.device.type == "cuda" else "loop"
        return "loop" if n_episodes == 1 else path

    def _looped(self, params: Params, episodes: list[Episode], way: int, steps: int) -> tuple:
        results, states = [], []
        for ep in episodes:
            buffers = self._episode_buffers()
            results.append(self._episode(params, buffers, ep.support, ep.support_labels, ep.query, way, steps))
            states.append(buffers)
        self._keep_statistics({k: torch.stack([s[k] for s in states]) for k in states[0]})
        logits, losses = zip(*results)
        return torch.stack(logits), torch.stack(losses)

    def _vmapped(self, params: Params, episodes: list[Episode], way: int, steps: int) -> tuple:
        support, labels, query = (torch.stack([getattr(ep, k) for ep in episodes]) for k in
                                  ("support", "support_labels", "query"))  # fmt: skip
        buffers = self._episode_buffers(len(episodes))
        copies = 0 if self._updates_statistics() else None

        def one(buffers: Params, support: torch.Tensor, labels: torch.Tensor, query: torch.Tensor) -> tuple:
            return self._episode(params, buffers, support, labels, query, way, steps)

        with affine_written_out(self):
            logits, losses = vmap(one, in_dims=(copies, 0, 0, 0))(buffers, support, labels, query)
        self._keep_statistics(buffers)
        return logits, losses

    def _episode(self, params: Params, buffers: Params, support: torch.Tensor, labels: torch.Tensor,
                 query: torch.Tensor, way: int, steps: int) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        """One episode, written for both paths: (query logits, inner losses (steps,))."""

        def inner_loss(p: Params, b: Params) -> tuple[torch.Tensor, torch.Tensor]:
            loss = F.cross_entropy(functional_call(self, (p, b), (support,))[:, :way], labels)
            return loss, loss.detach()

        losses = []
        for _ in range(steps):
            # First order: the inner gradient is taken at detached values, so no graph of it is recorded
            # for the meta-gradient (detaching it afterwards would record the graph and then drop it).
            at = {k: p.detach() for k, p in params.items()} if self.options.first_order else params
            # buffers as an argument: under the "running" policy the forward pass updates them in place
            grads, loss = grad(inner_loss, has_aux=True)(at, buffers)
            params = {k: p - self.options.inner_lr * grads[k] for k, p in params.items()}
            losses.append(loss)
        logits = functional_call(self, (params, buffers), (query,))[:, :way]
        return logits, torch.stack(losses) if losses else logits.new_zeros(0)

    # ---- BatchNorm statistics under the "running" policy

    def _updates_statistics(self) -> bool:
        return self.training and self.options.bn == "running"

    def _episode_buffers(self, copies: int | None = None) -> Params:
        """The buffers an episode runs with: its own copies where it updates them, else the module's."""
        buffers = dict(self.named_buffers())
        if not self._updates_statistics():
            return buffers
        if copies is None:
            return {k: b.clone() for k, b in buffers.items()}
        return {k: b.unsqueeze(0).expand(copies, *b.shape).clone() for k, b in buffers.items()}

    @torch.no_grad()
    def _keep_statistics(self, per_episode: Params) -> None:
        """Set the running statistics to the mean of the episodes' updated copies."""
        if not self._updates_statistics():
            return
        for name, buffer in self.named_buffers():
            stacked = per_episode[name]
            buffer.copy_(stacked.float().mean(0) if buffer.is_floating_point() else stacked.max(0).values)

    # ---- checks

    def _check_way(self, way: int) -> None:
        if way > self.options.way:
            raise ConfigError(
                f"MAML's classifier has {self.options.way} outputs, too few for {way}-way episodes; "
                f"--set option.way={way}"
            )

    @staticmethod
    def _check_finite(losses: torch.Tensor, where: str) -> None:
        """A NaN inner loss, named by inner step and, in a meta-batch, by episode."""
        bad = (~torch.isfinite(losses)).nonzero()
        if len(bad):
            episode, step = (int(i) for i in bad[0])
            which = f" of episode {episode + 1} of {len(losses)}" if len(losses) > 1 or where else ""
            raise TrainingError(
                f"MAML's inner-loop loss became {losses[episode, step].item()} at inner step {step + 1}{which}"
                f"{where}; lower option.inner_lr"
            )
