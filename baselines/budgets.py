"""Training budgets that several methods share, each defined once.

`long` (issue 18) is the CPU budget that learns on real faces: Conv-4 at 48 px, 2,000 steps,
about 12 minutes of a quiet 2-core CPU, validated every 250 steps on 100 episodes. Episodic
methods draw 5-way 5-shot 5-query episodes (50 images a step), batch methods batches of 64.
Methods whose steps cost more or less (MAML, EGS-Net) set budgets of their own beside these.
"""

LONG_IMAGE_SIZE = 48
_LONG_VALIDATION = {"val_every": 250, "val_episodes": 100}

LONG_EPISODIC = {
    "backbone": "conv4",
    "image_size": LONG_IMAGE_SIZE,
    "train": {"steps": 2000, "way": 5, "shot": 5, "query": 5, **_LONG_VALIDATION},
}
LONG_BATCH = {
    "backbone": "conv4",
    "image_size": LONG_IMAGE_SIZE,
    "train": {"steps": 2000, "batch_size": 64, "lr": 1e-3, **_LONG_VALIDATION},
}
