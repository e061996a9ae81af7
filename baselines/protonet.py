"""Prototypical Networks (Snell, Swersky & Zemel, NeurIPS 2017).

Each class is the mean of its support features; a query scores each class by
negative squared Euclidean distance, which makes the classifier linear in the
features and is why the paper prefers it over cosine.
"""

import torch

from fsfer_bench.methods import FeatureMethod, class_means, register_method


@register_method("protonet")
class ProtoNet(FeatureMethod):
    """Episodic training on base classes; nearest prototype at test time."""

    def classify(
        self, support_features: torch.Tensor, support_labels: torch.Tensor, query_features: torch.Tensor
    ) -> torch.Tensor:
        prototypes = class_means(support_features, support_labels)
        return -torch.cdist(query_features, prototypes).pow(2)
