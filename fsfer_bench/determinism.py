"""The settings that make a training repeat bit for bit, applied around training only.

What can differ between two trainings with the same config and seed, and what is done here:

- **Nondeterministic kernels.** Some torch kernels accumulate in an order that changes from
  call to call (atomic adds, mostly on CUDA). `torch.use_deterministic_algorithms(True)`
  makes torch use deterministic ones, or raise naming the op where there is none. On CPU it
  is strict (torch's CPU kernels have deterministic versions, so a raise means a new method
  uses an op that breaks the guarantee); on other devices it only warns, because some CUDA
  ops have no deterministic version and a training must not fail for it.
- **The number of intra-op threads.** CPU reductions (convolution and matrix-product
  gradients, BatchNorm statistics) are split across threads and summed per thread, so the
  thread count changes the last bits of the gradients and, over a training, the weights.
  `FSFER_TRAIN_THREADS=N` fixes it for the training; otherwise torch's own count is used
  (`OMP_NUM_THREADS`, else the cores), and the record says which (`training.torch_threads`).
- **The machine.** oneDNN and the BLAS libraries choose their kernels at run time for the
  CPU they find (AVX2, AVX-512, ...), and those kernels block and order their sums
  differently. Nothing in torch's API pins that choice for the duration of a training, so
  numbers are bit-identical on one machine at one thread count, and across machines they
  agree within the printed interval (README, Reproducibility), not to the last digit.

Everything is restored afterwards: evaluation sets its own threads (`evaluate.one_thread`),
and a library user's global torch settings are not changed behind their back.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from fsfer_bench.errors import ConfigError

THREADS_VARIABLE = "FSFER_TRAIN_THREADS"


def training_threads() -> int | None:
    """The intra-op thread count asked for by FSFER_TRAIN_THREADS, or None to keep torch's."""
    value = os.environ.get(THREADS_VARIABLE, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"{THREADS_VARIABLE}={value!r} is not a thread count; set it to a whole number >= 1")
    return int(value)


@contextmanager
def reproducible_training(device: torch.device | str = "cpu") -> Iterator[None]:
    """Deterministic algorithms and, if configured, a fixed thread count, for the block only."""
    threads = training_threads()
    saved = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.get_num_threads(),
    )
    torch.use_deterministic_algorithms(True, warn_only=torch.device(device).type != "cpu")
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        torch.set_num_threads(saved[2])
