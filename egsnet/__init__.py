"""EGS-Net (Zou et al., AAAI 2022) and its ablations, registered as methods.

- `egsnet`: both stages, joint then alternate learning;
- `egsnet-joint`: stage 1 only;
- `egsnet-sim`: the similarity branch alone, no emotion branch;
- `egsnet-private`: both stages, with the option `private_block`: in alternate
  learning the emotion branch owns a copy of the backbone's last block, so both
  students learn representations. A variant reported beside `egsnet`, not its
  default: no default was chosen on test episodes.

All three share the profiles in `profiles.toml` and the run's step budget, so
the ablation table compares like with like.
"""

from __future__ import annotations

import copy
import sys
from importlib import resources

from egsnet.model import EGSNet, Options
from fsfer_bench.methods import register_method

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PROFILES: dict[str, dict] = tomllib.loads(resources.files(__name__).joinpath("profiles.toml").read_text())


def _with_options(**overrides: object) -> dict[str, dict]:
    """The shared profiles with some options fixed, for an ablation."""
    profiles = copy.deepcopy(PROFILES)
    for profile in profiles.values():
        profile.setdefault("options", {}).update(overrides)
    return profiles


@register_method("egsnet")
class EGSNetFull(EGSNet):
    """EGS-Net: emotion and similarity branches, joint then alternate learning (Zou et al. 2022)."""

    profiles = PROFILES


@register_method("egsnet-joint")
class EGSNetJoint(EGSNet):
    """EGS-Net ablation: stage 1 (joint learning) only, for the whole step budget."""

    profiles = _with_options(alternate_fraction=0.0)


@register_method("egsnet-sim")
class EGSNetSim(EGSNet):
    """EGS-Net ablation: the similarity branch alone (cosine ProtoNet with a learnt scale)."""

    training_loop = "episodic"
    profiles = _with_options(alternate_fraction=0.0, lambda_emo=0.0)


@register_method("egsnet-private")
class EGSNetPrivate(EGSNet):
    """EGS-Net whose emotion branch owns a copy of the backbone's last block in alternate learning."""

    profiles = _with_options(private_block=True)


__all__ = ["EGSNet", "EGSNetFull", "EGSNetJoint", "EGSNetPrivate", "EGSNetSim", "Options"]
