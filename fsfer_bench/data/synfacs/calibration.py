"""The SynFACS calibration set: people and episode seeds that no reported result uses.

Whatever is tuned on SynFACS, the generator's difficulty (`generator.py`) or a
method default (RelationNet's score-bias initialisation), is tuned on this set;
the reported tables use the other one, so nothing reported was tuned on the
episodes it reports.

- Reported: the registered `SynFACS-lab` and `SynFACS-wild`, people 0 to 199
  (`generator.DEFAULT_SUBJECTS`) of generator seed 0 in each domain, evaluated
  with run seeds in `REPORTED_SEEDS` (the reference uses seed 0, the seed study
  0, 1 and 2; a run's seed is also its episode seed).
- Calibration: people from `CALIBRATION_FIRST_SUBJECT` on, of the same
  generator seed (the same renderer and distributions, other identities:
  every person's identity is drawn from its own (seed, domain, subject)
  stream), evaluated on episode seeds `CALIBRATION_SEEDS`.

`tests/test_synfacs_calibration.py` checks the difficulty bands on this set and
asserts that the two sets share no person and no seed, including in the
committed reference records.

History: the difficulty and RelationNet's bias were first tuned on the
reported seed-0 SynFACS_C episodes (issue 13). They were not retuned when
the calibration moved here; the calibration tests pass on this set too.
"""

from __future__ import annotations

from fsfer_bench.data.dataset import FaceDataset
from fsfer_bench.data.options import LoadOptions
from fsfer_bench.errors import ConfigError

#: The first calibration person (per domain); the registered sets hold people 0 to 199.
CALIBRATION_FIRST_SUBJECT = 100_000
#: The most people a calibration set may hold, so that its range is known in advance.
CALIBRATION_MAX_SUBJECTS = 10_000
#: Episode seeds for calibration; reported runs use seeds below them.
CALIBRATION_SEEDS = range(1000, 2000)
REPORTED_SEEDS = range(0, 1000)
REPORTED_SUBJECTS = range(0, CALIBRATION_FIRST_SUBJECT)


def calibration_people() -> range:
    """Every subject index a calibration set may hold."""
    return range(CALIBRATION_FIRST_SUBJECT, CALIBRATION_FIRST_SUBJECT + CALIBRATION_MAX_SUBJECTS)


def calibration_dataset(domain: str, n_subjects: int, image_size: int = 64) -> FaceDataset:
    """`n_subjects` calibration people of `domain` (lab or wild), every class twice, cached like the registered sets."""
    from fsfer_bench.data.adapters.synfacs import load_synfacs  # the adapters import this package

    if not 1 <= n_subjects <= CALIBRATION_MAX_SUBJECTS:
        raise ConfigError(f"a calibration set holds 1 to {CALIBRATION_MAX_SUBJECTS} people, got {n_subjects}")
    return load_synfacs(
        domain, LoadOptions(image_size=image_size), n_subjects=n_subjects, first_subject=CALIBRATION_FIRST_SUBJECT
    )
