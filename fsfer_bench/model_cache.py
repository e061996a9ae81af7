"""Trained models kept by training hash, so evaluations on other shots or splits reuse one training.

`<store>/models/<training hash>.pt` holds the state_dict (written atomically, read with
`weights_only=True`: a pickle that would run code is refused, not run), `.json` beside
it the training report, and `.ckpt.pt` the checkpoint of a training still under way,
for `--resume`.

A damaged entry (truncated, garbled, a hostile pickle, weights of another shape, a
report of the wrong shape) is not an error: the caller warns naming the file, retrains,
and the new model overwrites it. Failing instead would fail every rerun the same way.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

from fsfer_bench.files import DamagedFileError, load_torch, read_json, write_json_atomic, write_torch_atomic
from fsfer_bench.methods import FewShotMethod
from fsfer_bench.training import TrainingReport


@dataclass(frozen=True)
class CacheMiss:
    """No usable entry; `damaged` names the file and why, when there was one but it could not be used."""

    damaged: str | None = None


class ModelCache:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def weights(self, training_hash: str) -> Path:
        return self.root / f"{training_hash}.pt"

    def report(self, training_hash: str) -> Path:
        return self.root / f"{training_hash}.json"

    def checkpoint(self, training_hash: str) -> Path:
        return self.root / f"{training_hash}.ckpt.pt"

    def load(self, method: FewShotMethod, training_hash: str) -> TrainingReport | CacheMiss:
        """Fill `method` with the cached weights and return their training report, or say why not."""
        weights, meta = self.weights(training_hash), self.report(training_hash)
        if not (weights.exists() and meta.exists()):
            return CacheMiss()
        try:
            report = TrainingReport(**read_json(meta))
        except DamagedFileError as exc:
            return CacheMiss(str(exc))
        except TypeError as exc:
            return CacheMiss(f"{meta} is damaged (not a training report: {exc})")
        try:
            method.load_state_dict(load_torch(weights))
        except DamagedFileError as exc:
            return CacheMiss(str(exc))
        except pickle.UnpicklingError:
            return CacheMiss(f"{weights} is damaged (not plain weights: it holds objects that are not loaded)")
        except Exception as exc:  # noqa: BLE001 - torch raises many kinds for bad files; each means "retrain"
            return CacheMiss(f"{weights} is damaged ({type(exc).__name__}: {_first_line(exc)})")
        return report

    def save(self, method: FewShotMethod, report: TrainingReport, training_hash: str) -> None:
        """Weights first, then the report that makes the entry count: a crash between leaves no entry."""
        write_torch_atomic(self.weights(training_hash), method.state_dict())
        write_json_atomic(self.report(training_hash), report.to_dict())
        self.checkpoint(training_hash).unlink(missing_ok=True)


def _first_line(exc: BaseException) -> str:
    """torch's messages run to many lines (and suggest `weights_only=False`, which must not be followed)."""
    return (str(exc).strip().splitlines() or [""])[0][:160]
