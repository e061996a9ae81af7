"""Prototypical Networks (Snell, Swersky & Zemel, NeurIPS 2017).

Each class is the mean of its support features; a query scores each class by
negative squared Euclidean distance, which makes the classifier linear in the
features and is why the paper prefers it over cosine.
"""

import torch

from baselines.budgets import LONG_EPISODIC
from fsfer_bench.methods import FeatureMethod, class_means, register_method


@register_method("protonet")
class ProtoNet(FeatureMethod):
    """Episodic training on base classes; nearest prototype at test time."""

    profiles = {
        # The harness's default budget (150 episodes at 64 px).
        "quick": {"backbone": "conv4", "image_size": 64},
        # CPU budget that learns on real faces (issue 18): 2,000 episodes of 5-way 5-shot 5-query (50 images) at
        # 48 px, as the table (CKplus 5-shot 63.38%); 0.30 s of one core per step (1 thread, busy
        # machine), about baseline's long budget: some 12 min of a quiet 2-core CPU.
        "long": LONG_EPISODIC,
    }  # fmt: skip

    def classify(
        self, support_features: torch.Tensor, support_labels: torch.Tensor, query_features: torch.Tensor
    ) -> torch.Tensor:
        prototypes = class_means(support_features, support_labels)
        return -torch.cdist(query_features, prototypes).pow(2)
