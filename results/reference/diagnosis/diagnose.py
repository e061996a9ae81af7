"""Issue 24, item 1: why MAML and RelationNet stay at chance on real faces; small trainings on FER2013.

Each variant trains once through the harness's own loop (`fit`) on FER2013's training partition
(unaligned 48-px crops, resized), seed 0, and is validated on the episodes `fit` draws from the
15% of the training images it holds out: no target (CK+, CFEE) image is read. Beside the
validation curve it measures the meta-gradient's norm per part of the network (backbone, the
method's own head or relation module) on 8 training episodes, before and after training, and for
RelationNet the spread of its relation scores over an episode's classes.

    OMP_NUM_THREADS=1 python results/reference/diagnosis/diagnose.py VARIANT [VARIANT ...] \
        [--base FER2013,SFEW] [--face-align]
    python results/reference/diagnosis/diagnose.py --list

Results: results/reference/diagnosis/runs/<variant>.json (one per variant).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from fsfer_bench.backbones import build_backbone
from fsfer_bench.config import method_options  # noqa: F401 - documents where options come from in a run
from fsfer_bench.data.loading import DataSources
from fsfer_bench.data.options import LoadOptions
from fsfer_bench.episodes import EpisodeSpec, sample_episodes
from fsfer_bench.experiment import training_pool
from fsfer_bench.files import write_json_atomic
from fsfer_bench.methods import Episode, StepData, TrainSettings
from fsfer_bench.registry import get_method
from fsfer_bench.splits import get_split
from fsfer_bench.tensors import to_tensor
from fsfer_bench.training import fit

HERE = Path(__file__).resolve().parent
MAML_BASE = {"way": 5, "shot": 1, "query": 5, "weight_decay": 0.0}
MAML_FO = {"inner_steps": 5, "first_order": True, "meta_batch": 2}
REL_BASE = {"way": 5, "shot": 5, "query": 5}


def maml(size: int, steps: int, **options: object) -> tuple[str, int, dict, dict]:
    """A MAML variant: 5-way 1-shot training episodes, `steps` meta-steps, `options` over the first-order base."""
    return "maml", size, {**MAML_BASE, "steps": steps}, {**MAML_FO, **options}


def episodic(method: str, steps: int, **options: object) -> tuple[str, int, dict, dict]:
    """A RelationNet or ProtoNet variant at 48 px, 5-way 5-shot training episodes."""
    return method, 48, {**REL_BASE, "steps": steps}, options


# name: (method, image size, train settings, method options)
VARIANTS: dict[str, tuple[str, int, dict, dict]] = {
    # MAML as the `long` profile had it (inner lr 0.01, meta-learned head), on a short budget
    "maml-long-as-was": maml(32, 600),
    "maml-zerohead-inner0.1": maml(32, 600, zero_head=True, inner_lr=0.1),
    # second order (the paper's), 300 steps
    "maml-2nd": maml(32, 300, first_order=False),
    "maml-zerohead-inner0.1-2nd-300": maml(32, 300, zero_head=True, inner_lr=0.1, first_order=False),
    # RelationNet as the `long` profile had it (MSE on sigmoid scores), on a short budget
    "relationnet-long-as-was": episodic("relationnet", 400),
    "relationnet-ce": episodic("relationnet", 400, loss="ce"),
    # a method that learns on real faces at `long`, on the same short budget, for scale
    "protonet": episodic("protonet", 400),
    # From a pretrained backbone (`--weights`, Meta-Dataset's practice for its meta-learners): MAML at the
    # table's 48 px, first and second order, three inner learning rates, and the episodic methods, 300 steps
    "maml48-zerohead-inner0.1-fo-300": maml(48, 300, zero_head=True, inner_lr=0.1),
    "maml48-zerohead-inner0.1-2nd-300": maml(48, 300, zero_head=True, inner_lr=0.1, first_order=False),
    "maml48-zerohead-inner0.01-fo-300": maml(48, 300, zero_head=True, inner_lr=0.01),
    "maml48-zerohead-inner0.001-fo-300": maml(48, 300, zero_head=True, inner_lr=0.001),
    "relationnet-300": episodic("relationnet", 300),
    "protonet-300": episodic("protonet", 300),
}
VAL = {"val_every": 100, "val_episodes": 100}


#: The training sources and alignment of the pool (`--base`, `--face-align`); FER2013 unaligned by default;
#: `weights`: a backbone to start from (`--weights`, an `fsfer-bench export` file), else random initialisation.
BASE: dict = {"names": ("FER2013",), "face_align": False, "weights": None}


def load_pool(size: int):
    sources = DataSources.from_settings(None, None)
    options = LoadOptions(image_size=size, face_align=BASE["face_align"])
    pool, _, _ = training_pool(BASE["names"], get_split("CKplus"), sources, options, False)
    return pool


def run_name(variant: str) -> str:
    """The variant's result file name: the pool is named where it is not the default (FER2013, unaligned)."""
    base = "" if BASE["names"] == ("FER2013",) else "-" + "+".join(BASE["names"])
    start = f"-from-{Path(BASE['weights']).stem}" if BASE["weights"] else ""
    return f"{variant}{base}{'-aligned' if BASE['face_align'] else ''}{start}"


def episodes_of(pool, settings: TrainSettings, n: int, seed: int) -> list[Episode]:
    """n training episodes of the run's shape (drawn from the whole pool: these are for gradient norms only)."""
    spec = EpisodeSpec(settings.way, settings.shot, settings.query, n, seed=seed, subject_disjoint=False)
    drawn = sample_episodes(pool, spec)
    labels = torch.arange(settings.way)
    return [
        Episode(to_tensor(pool.images[drawn.support[e].ravel()]), labels.repeat_interleave(settings.shot),
                to_tensor(pool.images[drawn.query[e].ravel()]), labels.repeat_interleave(settings.query), labels)
        for e in range(n)
    ]  # fmt: skip


def gradient_norms(method, settings: TrainSettings, episodes: list[Episode]) -> dict[str, float]:
    """Norm of the training loss's gradient, per part: the backbone and the rest (head / relation module)."""
    method.train()
    stage = method.training_stages(settings)[0]
    method.zero_grad()
    per = max(1, stage.episodes_per_step)
    loss = torch.stack([stage.loss(StepData(step=0, episodes=episodes[i : i + per]))
                        for i in range(0, len(episodes), per)]).mean()  # fmt: skip
    loss.backward()
    parts: dict[str, list[torch.Tensor]] = {"backbone": [], "rest": []}
    for name, p in method.named_parameters():
        if p.grad is not None:
            parts["backbone" if name.startswith("backbone.") else "rest"].append(p.grad.flatten())
    method.zero_grad()
    norms = {k: float(torch.cat(v).norm()) if v else 0.0 for k, v in parts.items()}
    norms["loss"] = float(loss.detach())
    return norms


@torch.no_grad()
def relation_spread(method, episodes: list[Episode]) -> dict[str, float]:
    """RelationNet: the mean standard deviation of a query's scores over the episode's classes, and the mean score."""
    method.eval()
    logits = torch.cat([method.predict(e.support, e.support_labels, e.query) for e in episodes])
    scores = torch.sigmoid(logits)
    return {"logit_std_over_classes": float(logits.std(1).mean()), "mean_score": float(scores.mean())}


def run_variant(name: str, pools: dict) -> dict:
    method_name, size, train, options = VARIANTS[name]
    if size not in pools:
        pools[size] = load_pool(size)
    pool = pools[size]
    settings = TrainSettings(**{**train, **VAL})
    method_cls = get_method(method_name)
    torch.manual_seed(0)
    backbone = build_backbone("conv4", size, BASE["weights"], "none" if BASE["weights"] else None)
    method = method_cls(backbone, method_cls.Options(**options), len(pool.classes))
    probe = episodes_of(pool, settings, 8, seed=123)
    before = gradient_norms(method, settings, probe)
    spread_before = relation_spread(method, probe) if method_name == "relationnet" else None
    start = time.perf_counter()
    report = fit(method, pool, settings, seed=0)
    seconds = time.perf_counter() - start
    after = gradient_norms(method, settings, probe)
    spread_after = relation_spread(method, probe) if method_name == "relationnet" else None
    return {
        "variant": name, "method": method_name, "image_size": size, "train": train, "options": options,
        "pool": {"name": pool.name, "images": len(pool), "classes": list(pool.classes), **BASE,
                 "weights": Path(BASE["weights"]).name if BASE["weights"] else None},
        "seconds": round(seconds, 1), "torch_threads": torch.get_num_threads(),
        "seconds_per_step": round(seconds / settings.steps, 3),
        "validation": [{"step": v["step"], "accuracy": v["accuracy"], "ci95": round(v["ci95"], 2)}
                       for v in report.validation],
        "val_images": report.val_images, "images_seen": report.images_seen,
        "gradient_norms": {"before": before, "after": after},
        "relation_scores": {"before": spread_before, "after": spread_after} if spread_before else None,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("variants", nargs="*")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--base", default="FER2013", help="training sources, comma-separated (e.g. FER2013,SFEW)")
    parser.add_argument("--face-align", action="store_true", help="align every face with dlib, as the wild study")
    parser.add_argument("--weights", help="start from this backbone (an `fsfer-bench export` file)")
    args = parser.parse_args()
    BASE.update(names=tuple(args.base.split(",")), face_align=args.face_align, weights=args.weights)
    if args.list or not args.variants:
        print("\n".join(VARIANTS))
        return
    torch.set_num_threads(1)
    pools: dict = {}
    for name in args.variants:
        result = run_variant(name, pools)
        write_json_atomic(HERE / "runs" / f"{run_name(name)}.json", result)
        curve = " ".join(f"{v['accuracy']:.1f}" for v in result["validation"])
        grad = result["gradient_norms"]
        print(f"{run_name(name)}: {result['seconds']} s; validation {curve}; grad {grad}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
