"""Validation curves of the diagnosis runs (runs/*.json) -> curves.png, one panel per method."""

from __future__ import annotations

import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from fsfer_bench.files import write_bytes_atomic  # noqa: E402

HERE = Path(__file__).resolve().parent


def main() -> None:
    runs = []
    for path in sorted((HERE / "runs").glob("*.json")):
        run = json.loads(path.read_text())
        if "method" not in run:  # the wild rerun's notes (wild-maml-2nd-zerohead.json), no curve of diagnose.py's
            continue
        run["name"] = path.stem  # the variant and its pool: base, alignment, starting backbone
        runs.append(run)
    methods = sorted({r["method"] for r in runs} - {"protonet"})
    starts = ("random initialisation", "pretrained backbone (Baseline++ export)")
    fig, axes = plt.subplots(len(starts), len(methods), figsize=(7 * len(methods), 4.5 * len(starts)), squeeze=False)
    for row, start in zip(axes, starts):
        pretrained = start != starts[0]
        for ax, method in zip(row, methods):
            for r in runs:
                if r["method"] not in (method, "protonet") or bool(r["pool"].get("weights")) != pretrained:
                    continue
                v = r["validation"]
                style = ":" if r["method"] == "protonet" else "-"
                ax.errorbar([e["step"] for e in v], [e["accuracy"] for e in v], yerr=[e["ci95"] for e in v],
                            fmt=style + "o", ms=3, capsize=2,
                            label=f"{r['name']} ({r['image_size']} px, {r['train']['shot']}-shot)")  # fmt: skip
            ax.axhline(20, color="grey", lw=0.8)
            ax.set(title=f"{method}, from {start}", xlabel="training step",
                   ylabel="5-way validation accuracy (%), held-out training images")  # fmt: skip
            ax.legend(fontsize=6)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    write_bytes_atomic(HERE / "curves.png", buffer.getvalue())


if __name__ == "__main__":
    main()
