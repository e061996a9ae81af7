"""SynFACS difficulty, measured with the harness itself (issue: SynFACS validity).

Raw-pixel nearest prototype on SynFACS_C (5-way 5-shot) must land between 30%
and 75%: above chance, far from solved by appearance alone. A ProtoNet trained
on lab basic expressions must beat it by at least 8 points and stay below 95%,
so learned features help but the split is not saturated. These run on the
tests' reduced SynFACS (32 px, 60 people per domain, a short training); the
full-size figures are in the README, from `results/reference/`.
"""

from __future__ import annotations

import pytest
from fewshot_runs import evaluated, summary


@pytest.mark.slow
def test_raw_pixels_are_above_chance_but_far_from_solving_it():
    accuracy = evaluated("pixels").accuracies.mean()
    assert 30.0 <= accuracy <= 75.0, summary("pixels")


@pytest.mark.slow
def test_a_trained_protonet_beats_raw_pixels_by_8_points_and_stays_below_95():
    pixels, protonet = evaluated("pixels").accuracies.mean(), evaluated("protonet").accuracies.mean()
    assert protonet >= pixels + 8.0, f"{summary('protonet')}; {summary('pixels')}"
    assert protonet < 95.0, summary("protonet")
