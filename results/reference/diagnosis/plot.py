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
    runs = [json.loads(p.read_text()) for p in sorted((HERE / "runs").glob("*.json"))]
    methods = sorted({r["method"] for r in runs} - {"protonet"})
    fig, axes = plt.subplots(1, len(methods), figsize=(6 * len(methods), 4), squeeze=False)
    for ax, method in zip(axes[0], methods):
        for r in runs:
            if r["method"] not in (method, "protonet"):
                continue
            steps = [v["step"] for v in r["validation"]]
            acc = [v["accuracy"] for v in r["validation"]]
            ci = [v["ci95"] for v in r["validation"]]
            style = ":" if r["method"] == "protonet" else "-"
            ax.errorbar(
                steps,
                acc,
                yerr=ci,
                fmt=style + "o",
                ms=3,
                capsize=2,
                label=f"{r['variant']} ({r['image_size']} px, {r['train']['shot']}-shot)",
            )
        ax.axhline(20, color="grey", lw=0.8)
        ax.set(title=f"{method}: validation on held-out FER2013 training images", xlabel="training step",
               ylabel="5-way accuracy (%)")  # fmt: skip
        ax.legend(fontsize=7)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    write_bytes_atomic(HERE / "curves.png", buffer.getvalue())


if __name__ == "__main__":
    main()
