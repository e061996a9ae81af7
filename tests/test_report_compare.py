"""Paired comparison of two methods from the store: the numbers, the refusals, and the printed text."""

from __future__ import annotations

import numpy as np
import pytest
from fakestore import record
from scipy import stats as st

from fsfer_bench.errors import StoreError
from fsfer_bench.report.cells import Selection, UnpairedEpisodesError, select_runs
from fsfer_bench.report.compare import compare_methods, format_comparison
from fsfer_bench.results import Store, load


def _compare(root, a="A", b="B", split="Fake_C", shot=1, **selection):
    return compare_methods(select_runs(load(root), Selection(**selection), root), a, b, split, shot)


@pytest.fixture
def paired_store(tmp_path):
    store = Store(tmp_path)
    store.write(record("A", level=65.0))
    store.write(record("B", level=60.0))
    return tmp_path


def test_paired_numbers_match_scipy_and_counts(paired_store):
    runs = load(paired_store)
    a, b = (runs[runs["method"] == m].iloc[0]["accuracies"] for m in ("A", "B"))
    c = _compare(paired_store)
    d = a - b
    assert c.paired.mean_diff == pytest.approx(d.mean())
    assert c.paired.ci95 == pytest.approx(st.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d)))
    assert c.paired.t_pvalue == pytest.approx(st.ttest_rel(a, b).pvalue)
    assert c.paired.wilcoxon_pvalue == pytest.approx(st.wilcoxon(a, b, zero_method="zsplit").pvalue)
    assert (c.paired.wins, c.paired.ties, c.paired.losses) == ((d > 0).sum(), (d == 0).sum(), (d < 0).sum())
    assert c.summary_a.mean == pytest.approx(a.mean()) and c.seeds == (0,)


def test_text_names_every_figure(paired_store):
    text = format_comparison(_compare(paired_store))
    assert "A vs B on Fake_C, 5-way 1-shot: 60 paired episodes (seed 0; one trained model per method" in text
    for phrase in ("difference", "95% t-CI", "paired t-test", "Wilcoxon signed-rank", "win / tie / loss"):
        assert phrase in text


def test_other_episode_sets_are_refused(tmp_path):
    store = Store(tmp_path)
    store.write(record("A"))
    store.write(record("B", episode_hash="elsewhere"))
    with pytest.raises(UnpairedEpisodesError, match="did not run the same episodes.*elsewhere"):
        _compare(tmp_path)


def test_other_episode_counts_are_refused(tmp_path):
    store = Store(tmp_path)
    store.write(record("A", n=60, episode_hash="h"))
    store.write(record("B", n=50, episode_hash="h"))
    with pytest.raises(UnpairedEpisodesError, match="60 episodes.*50 episodes"):
        _compare(tmp_path)


def test_seeds_pool_when_each_seed_matches(tmp_path):
    store = Store(tmp_path)
    for method in ("A", "B"):
        for seed in (0, 1):
            store.write(record(method, seed=seed))
    c = _compare(tmp_path)
    assert c.paired.n == 120 and c.seeds == (0, 1)
    assert "2 seeds x 60 paired episodes (seeds 0, 1)" in format_comparison(c)


def test_different_seed_sets_are_refused_with_a_hint(tmp_path):
    store = Store(tmp_path)
    for seed in (0, 1):
        store.write(record("A", seed=seed))
    store.write(record("B", seed=0))
    with pytest.raises(UnpairedEpisodesError, match="--seed"):
        _compare(tmp_path)
    assert _compare(tmp_path, seeds=(0,)).paired.n == 60


def test_a_method_or_shot_without_runs_lists_what_exists(paired_store):
    with pytest.raises(StoreError, match=r"no runs with method 'protonet'.*methods with runs: A, B"):
        _compare(paired_store, methods=("A", "protonet"))
    with pytest.raises(StoreError, match=r"no runs of A on Fake_C at 5 shot\(s\); it has runs on Fake_C \(shots 1\)"):
        _compare(paired_store, shot=5)


def test_several_seeds_also_give_an_interval_across_seeds(tmp_path):
    """Pooled episodes hide training variance; the per-seed differences and their t-interval show it."""
    store = Store(tmp_path)
    for seed, gap in ((0, 1.0), (1, 5.0), (2, -3.0)):
        accs = np.linspace(40.0, 80.0, 60)
        store.write(record("A", seed=seed, accs=accs + gap))
        store.write(record("B", seed=seed, accs=accs))
    c = _compare(tmp_path)
    assert c.seed_differences == pytest.approx((1.0, 5.0, -3.0))
    assert c.across_seeds.mean == pytest.approx(1.0)
    # every episode moves by the seed's gap: the differences vary across seeds only, and the interval for the
    # expected difference over seeds and episodes is the Student-t one over the three seed gaps
    gaps = np.array([1.0, 5.0, -3.0])
    t_interval = st.t.ppf(0.975, 2) * gaps.std(ddof=1) / np.sqrt(3)
    assert c.across_seeds.ci95 == pytest.approx(t_interval)
    assert c.across_seeds.episode_sd == pytest.approx(0.0, abs=1e-3)
    text = format_comparison(c)
    assert "+1.00, +5.00, -3.00" in text and "over retraining and over the population of test episodes" in text


def test_one_seed_gives_no_interval_across_seeds(paired_store):
    c = _compare(paired_store)
    assert c.across_seeds is None and "across seeds" not in format_comparison(c)


def test_compare_and_report_give_the_same_numbers(tmp_path):
    """Means, intervals and the p-value that decides the underline: one computation for both commands."""
    from fsfer_bench.report.cells import make_cells
    from fsfer_bench.report.tables import build_table

    store = Store(tmp_path)
    for seed, gap in ((0, 1.0), (1, 3.0), (2, -0.5)):
        store.write(record("A", seed=seed, level=62.0 + gap))
        store.write(record("B", seed=seed, level=62.0))
    c = _compare(tmp_path)
    table = build_table(make_cells(select_runs(load(tmp_path), Selection(), tmp_path)))
    a, b = (table.cell(m, table.columns[0]) for m in ("A", "B"))
    assert (a.mean, a.ci95) == pytest.approx((c.summary_a.mean, c.summary_a.ci95))
    assert (b.mean, b.ci95) == pytest.approx((c.summary_b.mean, c.summary_b.ci95))
    assert b.p_holm == pytest.approx(c.p_value)  # one test in the column: Holm changes nothing
    assert c.p_value == pytest.approx(c.across_seeds.p_value)
    assert f"p = {c.p_value:.3g}" in format_comparison(c)


def test_compare_flags_weights_not_from_the_final_stage(tmp_path):
    store = Store(tmp_path)
    stages = {"steps": {"joint": 90, "alternate": 60}}
    store.write(record("A", training={**stages, "returned": {"stage": "joint", "step": 90}}))
    store.write(record("B", training=stages))
    c = _compare(tmp_path)
    assert c.returned_final_stage == {"A": "no", "B": "unknown"}
    text = format_comparison(c)
    assert "A returned weights from before its final training stage" in text
    assert "which training stage B's returned weights came from is not recorded" in text


def _difference_store(root):
    """A, B, C at seeds 0-2 on one episode set per column; C has no 5-shot runs."""
    store = Store(root)
    rng = np.random.default_rng(5)
    for shot in (1, 5):
        episodes = 60 + rng.normal(0, 8, 40)
        for seed in range(3):
            for method, gap in (("A", 4.0), ("B", 0.0), ("C", 3.0)):
                if (method, shot) == ("C", 5):
                    continue
                accs = episodes + gap + rng.normal(0, 1.5) + rng.normal(0, 3, 40)
                store.write(record(method, shot=shot, seed=seed, accs=accs))
    return root


def test_difference_table_corrects_every_test_of_the_table_together(tmp_path):
    from fsfer_bench.report.cells import make_cells
    from fsfer_bench.report.compare import difference_table, differences_to_markdown
    from fsfer_bench.report.tables import Column
    from fsfer_bench.stats import crossed_estimate, holm

    runs = load(_difference_store(tmp_path))
    columns = [Column("Fake_C", 1), Column("Fake_C", 5)]
    table = difference_table(make_cells(runs), "A", ["B", "C"], columns)
    grid = {
        (m, k): np.stack(list(g.sort_values("seed")["accuracies"])) for (m, k), g in runs.groupby(["method", "shot"])
    }
    keys = [("B", 1), ("B", 5), ("C", 1)]
    raw = [crossed_estimate(grid[("A", k)] - grid[(m, k)]).p_value for m, k in keys]
    for (m, k), p in zip(keys, holm(raw)):
        cell = table.cells[(m, Column("Fake_C", k))]
        assert cell.p_holm == pytest.approx(p)
        assert cell.difference.mean == pytest.approx((grid[("A", k)] - grid[(m, k)]).mean())
    assert table.tests == 3 and ("C", Column("Fake_C", 5)) not in table.cells
    markdown = differences_to_markdown(table)
    row_b = next(line for line in markdown.splitlines() if line.startswith("| B |"))
    bold = [f"**{table.cells[('B', c)].difference.mean:+.2f}" in row_b for c in columns]
    assert bold == [table.cells[("B", c)].p_holm < 0.05 for c in columns]
    assert "not run" in markdown and "across all 3 tests of the table" in markdown
    assert "over retraining and over the population of test episodes" in markdown


def test_report_minus_prints_the_difference_table_and_refuses_without_methods(tmp_path):
    from click.testing import CliRunner

    from fsfer_bench.cli import main

    root = _difference_store(tmp_path / "results")
    args = ["report", "--results", str(root), "--minus", "A"]
    out = CliRunner().invoke(main, [*args, "--methods", "B,C", "--format", "latex"])
    assert out.exit_code == 0, out.output
    assert r"\toprule" in out.stdout and "A minus" in out.stdout and "Holm-adjusted" in out.stdout
    refused = CliRunner().invoke(main, args)
    assert refused.exit_code == 2 and "Traceback" not in refused.output
    assert "--minus METHOD needs the methods to subtract" in refused.stderr
