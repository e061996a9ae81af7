"""The report's inference holds its level and coverage: simulated seeds x episodes studies through the real code.

The quantity of every interval with several seeds is the method's expected accuracy over retraining and over the
population of test episodes. Studies are drawn with one episode set shared by every seed and method (a fresh draw
of episodes per study), a per-seed shift that is large (3 points) or tiny (0.3 points), and 3 or 5 seeds. The
interval must cover 95 ± 2% in each regime, for a cell and for a paired difference (the issue's bar). The interval
gives the seed part and the episode part each its own t quantile, which errs on the wide side where the two parts
are of a size (up to 98.8% in bench/bench_seed_inference.py's regime with a 3-point method-by-episode spread;
outside the regimes tested here, and said in the README); with no true difference the marks must fire
near 5%; and with five equal methods, the marks against a best row chosen after looking too.
"""

import pytest

from fsfer_bench.report.simulation import Scenario, simulate

REGIMES = [(seeds, seed_sd) for seeds in (3, 5) for seed_sd in (0.3, 3.0)]


@pytest.mark.slow  # 1,000 simulated tables per regime: about 40 s each
@pytest.mark.parametrize(("seeds", "seed_sd"), REGIMES, ids=[f"{s}seeds-sd{sd}" for s, sd in REGIMES])
def test_intervals_cover_the_expected_accuracy_whether_seeds_vary_a_lot_or_barely(seeds, seed_sd):
    outcome = simulate(Scenario(seeds=seeds, seed_sd=seed_sd, episodes=100), tables=1000, seed=seeds)
    assert 0.93 <= outcome.covered <= 0.97
    assert 0.93 <= outcome.difference_covered <= 0.97
    assert 0.02 <= outcome.difference_fired <= 0.07  # no true difference: the test fires near alpha
    assert outcome.fired <= 0.07


@pytest.mark.slow  # 400 tables of five methods: about 20 s
def test_marks_against_a_best_row_chosen_after_looking_stay_at_alpha():
    outcome = simulate(Scenario(seeds=3, seed_sd=1.0, episodes=100, methods=5), tables=400, seed=11)
    assert outcome.fired <= 0.06
