"""The file a training checkpoint lives in: what it holds, how it is written and read back.

A checkpoint is one `torch.save` of plain tensors, numbers and strings, written
atomically (a kill mid-write leaves the previous one) and read with
`weights_only=True` (a pickle that would run code is refused, not run). What the
trainer does with it, resuming exactly where it stood, is `Trainer._take_over`'s.
"""

from __future__ import annotations

import json
import pickle
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from fsfer_bench.errors import FsferWarning
from fsfer_bench.files import DamagedFileError, load_torch, write_torch_atomic

#: What a checkpoint that cannot be used raises on the way in: truncated, garbled, of another version.
UNREADABLE = (OSError, EOFError, RuntimeError, ValueError, KeyError, TypeError, IndexError, AttributeError,
              pickle.UnpicklingError, zipfile.BadZipFile, DamagedFileError)  # fmt: skip


@dataclass(frozen=True)
class Checkpoint:
    """A trainer between two steps: weights, optimisers, where it stands, its report so far and its RNGs."""

    model: dict
    optimisers: dict[str, dict]  # per phase ("" for a stage without phases)
    stage_index: int
    step: int  # steps done in that stage
    best_state: dict | None  # the best validated weights of the final stage so far
    stale: int  # validations since the best one (for patience)
    report: dict  # TrainingReport.to_dict()
    data: dict  # the data generators' states
    torch_rng: torch.Tensor

    def write(self, path: Path) -> None:
        write_torch_atomic(
            path,
            {
                "model": self.model,
                "optimisers": self.optimisers,
                "stage_index": self.stage_index,
                "step": self.step,
                "best_state": self.best_state,
                "stale": self.stale,
                "report": json.dumps(self.report),
                "data": self.data,
                "torch_rng": self.torch_rng,
            },
        )

    @classmethod
    def from_state(cls, state: dict) -> Checkpoint:
        """The checkpoint in `state` (as `torch.load` gives it); raises one of `UNREADABLE` if it is not one."""
        torch_rng = state["torch_rng"]
        if not isinstance(torch_rng, torch.Tensor):
            raise TypeError("its torch RNG state is not a tensor")
        return cls(
            model=state["model"],
            optimisers=dict(state["optimisers"]),
            stage_index=int(state["stage_index"]),
            step=int(state["step"]),
            best_state=state["best_state"],
            stale=int(state["stale"]),
            report=json.loads(state["report"]),
            data=state["data"],
            torch_rng=torch_rng,
        )


def read_checkpoint(path: Path, take_over: Callable[[Checkpoint], None]) -> bool:
    """Read the checkpoint at `path` and hand it to `take_over`; True if both succeeded.

    One that cannot be used (unreadable, or refused by `take_over` with one of `UNREADABLE`)
    is named in one `FsferWarning`, and False is returned: training starts from scratch
    instead of failing on every rerun, and the next checkpoint replaces it.
    """
    try:
        take_over(Checkpoint.from_state(load_torch(path)))
    except UNREADABLE as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        warnings.warn(f"checkpoint {path} cannot be used ({reason}); training from scratch", FsferWarning, stacklevel=3)
        return False
    return True
