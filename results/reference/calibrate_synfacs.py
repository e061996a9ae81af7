"""SynFACS difficulty at the reported settings, measured on the calibration set only.

The README's calibration figures come from this script. It builds SynFACS_C's
shape (wild compound test faces, lab basic training faces) from the calibration
people (`fsfer_bench.data.synfacs.calibration`: people 100,000 and up, none of
them in the registered sets) at the reference's settings (64 px, 200 people per
domain, Conv-4, the quick budget of 150 steps, 5-way 5-shot, 15 queries, 600
episodes) and draws the episodes with the first calibration seed (1000), which
no reported run uses. It prints raw pixels and a trained ProtoNet against the
bands the generator is held to (pixels 30-75%; ProtoNet at least 8 points above
pixels and below 95%), and writes them to tables/synfacs_calibration.md.

    python results/reference/calibrate_synfacs.py          # about 2 minutes on 2 cores
"""

from __future__ import annotations

from pathlib import Path

import torch

from fsfer_bench.backbones import build_backbone
from fsfer_bench.data.synfacs.calibration import CALIBRATION_SEEDS, calibration_dataset
from fsfer_bench.data.vocabulary import COMPOUND, is_compound
from fsfer_bench.episodes import EpisodeSpec, sample_episodes
from fsfer_bench.evaluate import evaluate
from fsfer_bench.files import write_text_atomic
from fsfer_bench.methods import TrainSettings
from fsfer_bench.registry import get_method
from fsfer_bench.stats import summarise
from fsfer_bench.training import fit

SIZE, PEOPLE, EPISODES, WAY, SHOT, QUERY = 64, 200, 600, 5, 5, 15
OUT = Path(__file__).resolve().parent / "tables" / "synfacs_calibration.md"


def _pools():
    wild, lab = (calibration_dataset(domain, PEOPLE, SIZE) for domain in ("wild", "lab"))
    test = wild.with_classes(COMPOUND, name="SynFACS_C (calibration people)")
    train = lab.with_classes(tuple(c for c in lab.classes if not is_compound(c)))
    return test, train


def _accuracy(name: str, test, train) -> tuple[float, float]:
    cls = get_method(name)
    torch.manual_seed(0)
    method = cls(build_backbone("conv4", SIZE), cls.Options(), len(train.classes))
    fit(method, train, TrainSettings(), seed=0)
    episodes = sample_episodes(test, EpisodeSpec(WAY, SHOT, QUERY, EPISODES, seed=CALIBRATION_SEEDS[0]))
    summary = summarise(evaluate(method, test, episodes).accuracies)
    return summary.mean, summary.ci95


def main() -> None:
    test, train = _pools()
    (pixels, pixels_ci), (protonet, protonet_ci) = (_accuracy(n, test, train) for n in ("pixels", "protonet"))
    lines = [
        "| SynFACS_C shape, calibration people, episode seed 1000 | 5-way 5-shot | band |",
        "|---|---|---|",
        f"| raw pixels (nearest prototype) | {pixels:.2f} ± {pixels_ci:.2f} % | 30-75 % |",
        f"| ProtoNet, Conv-4, 150 steps on lab basic | {protonet:.2f} ± {protonet_ci:.2f} % "
        f"| ≥ pixels + 8 ({pixels + 8:.2f} %), < 95 % |",
    ]
    text = "\n".join(lines) + "\n"
    write_text_atomic(OUT, text)
    print(text, end="")
    inside = 30 <= pixels <= 75 and pixels + 8 <= protonet < 95
    print("inside the bands" if inside else "OUTSIDE the bands")


if __name__ == "__main__":
    main()
