"""Raw pixels, nearest prototype: the floor every learned method must clear.

Each image is its flattened, normalised pixels; a query goes to the class whose
support mean is nearest in Euclidean distance. No training. It measures how
much of a split is solvable by appearance alone (SynFACS is calibrated so that
this scores 30-75% on SynFACS_C).
"""

import torch

from baselines.budgets import LONG_IMAGE_SIZE
from fsfer_bench.methods import FeatureMethod, class_means, register_method


@register_method("pixels")
class RawPixels(FeatureMethod):
    """Nearest class mean of raw pixels; no training (a difficulty floor)."""

    training_loop = "none"
    # No training: the profiles set only the image size, the long one that of the other methods' long budgets.
    profiles = {"quick": {"image_size": 64}, "long": {"image_size": LONG_IMAGE_SIZE}}

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return images.flatten(1)

    def classify(
        self, support_features: torch.Tensor, support_labels: torch.Tensor, query_features: torch.Tensor
    ) -> torch.Tensor:
        return -torch.cdist(query_features, class_means(support_features, support_labels)).pow(2)

    def training_stages(self, settings):  # noqa: ANN001, ANN201 - nothing to train
        return []
