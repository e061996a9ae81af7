"""Tables: bold best, underline by paired t-test + Holm, refusal of unpaired cells, pooling, three formats."""

from __future__ import annotations

import io
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from fakestore import QUERY, WAY, on_grid, record
from scipy import stats as st

from fsfer_bench.errors import ConfigError, FsferWarning
from fsfer_bench.report.cells import Selection, make_cells, select_runs
from fsfer_bench.report.tables import Mark, build_table, to_csv, to_frame, to_latex, to_markdown
from fsfer_bench.results import Store, load
from fsfer_bench.stats import crossed_estimate, holm

N = 60
STEP = 100.0 / (WAY * QUERY)


def _table(root, pool_seeds: bool = True, **selection):
    runs = select_runs(load(root), Selection(**selection), root)
    return build_table(make_cells(runs, pool_seeds=pool_seeds))


def _marks(table, split="Fake_C", shot=1) -> dict[str, Mark]:
    return {key[0]: cell.mark for key, cell in table.cells.items() if (key[1].split, key[1].shot) == (split, shot)}


def _reference() -> np.ndarray:
    return on_grid(60 + np.random.default_rng(7).normal(0, 10, N))


@pytest.fixture
def known_store(tmp_path):
    """A is best; B differs from A by one grid step on a few episodes; C is 10 points worse; D ran other episodes."""
    a = _reference()
    b = a.copy()
    b[:10] -= STEP
    b[10:18] += STEP  # mean 2 steps / 60 episodes below A: no paired test can call that worse
    c = on_grid(a - 10 + np.random.default_rng(8).normal(0, 3, N))
    store = Store(tmp_path)
    for method, accs in {"A": a, "B": b, "C": c}.items():
        store.write(record(method, accs=accs))
    store.write(record("D_other", accs=a - 1, episode_hash="some-other-episode-set"))
    return tmp_path


def test_best_is_bold_paired_equal_underlined_worse_plain_unpaired_marked(known_store):
    table = _table(known_store)
    assert _marks(table) == {"A": Mark.BEST, "B": Mark.NOT_WORSE, "C": Mark.WORSE, "D_other": Mark.UNPAIRED}
    latex = to_latex(table)
    a_cell = table.cell("A", table.columns[0])
    assert rf"\textbf{{{a_cell.mean:.2f} $\pm$ {a_cell.ci95:.2f}}}" in latex
    assert re.search(r"\\underline\{[\d.]+ \$\\pm\$ [\d.]+\}", latex.split("\nB &")[1])
    assert re.search(r"^D\\_other & [\d.]+ \$\\pm\$ [\d.]+\$\^\{\\dagger\}\$", latex, re.M)
    c_row = latex.split("\nC &")[1].splitlines()[0]
    assert "textbf" not in c_row and "underline" not in c_row and "dagger" not in c_row


def test_unpaired_cell_is_never_tested(known_store):
    cell = _table(known_store).cell("D_other", _table(known_store).columns[0])
    assert cell.mark is Mark.UNPAIRED and cell.p_holm is None


def test_different_episode_count_is_unpaired_even_with_the_same_hash(tmp_path):
    store = Store(tmp_path)
    a = _reference()
    store.write(record("A", accs=a, episode_hash="same"))
    store.write(record("B", accs=a[:40] - 5, episode_hash="same"))
    assert _marks(_table(tmp_path))["B"] is Mark.UNPAIRED


def _exact_t(a: np.ndarray, t: float) -> np.ndarray:
    """b such that the paired t statistic of (a - b) is exactly t."""
    z = np.random.default_rng(3).normal(size=len(a))
    z = (z - z.mean()) / z.std(ddof=1)
    spread = 2.0
    return a - (t * spread / np.sqrt(len(a)) + spread * z)


def test_holm_correction_across_the_column_decides_the_underline(tmp_path):
    a = _reference()
    t_for = lambda p: st.t.ppf(1 - p / 2, df=N - 1)  # two-sided p -> t
    b, c = _exact_t(a, t_for(0.03)), _exact_t(a, t_for(0.04))
    store = Store(tmp_path)
    for method, accs in {"A": a, "B": b, "C": c}.items():
        store.write(record(method, accs=accs))
    table = _table(tmp_path)
    # raw p-values 0.03 and 0.04 are below 0.05, but Holm makes them 0.06 and 0.06
    assert _marks(table) == {"A": Mark.BEST, "B": Mark.NOT_WORSE, "C": Mark.NOT_WORSE}
    column = table.columns[0]
    assert table.cell("B", column).p_holm == pytest.approx(0.06, abs=1e-3)
    assert table.cell("C", column).p_holm == pytest.approx(0.06, abs=1e-3)


def test_every_pair_of_the_column_is_one_holm_family(tmp_path):
    """The best row is picked after looking, so the tests against it are corrected with all the column's pairs."""
    a = _reference()
    b = on_grid(a - 2 + np.random.default_rng(9).normal(0, 6, N))
    c = on_grid(a - 2.5 + np.random.default_rng(10).normal(0, 6, N))
    store = Store(tmp_path)
    for method, accs in {"A": a, "B": b, "C": c}.items():
        store.write(record(method, accs=accs))
    stored = {m: r["accuracies"] for m, r in load(tmp_path).set_index("method").iterrows()}
    raw = [st.ttest_rel(stored[x], stored[y]).pvalue for x, y in (("A", "B"), ("A", "C"), ("B", "C"))]
    table = _table(tmp_path)
    column = table.columns[0]
    assert table.cell("A", column).mark is Mark.BEST
    assert table.cell("B", column).p_holm == pytest.approx(holm(raw)[0])
    assert table.cell("C", column).p_holm == pytest.approx(holm(raw)[1])


def test_notes_say_which_ci_which_test_and_how_many_episodes(known_store):
    markdown = to_markdown(_table(known_store))
    for phrase in ("Student-t 95% confidence interval", f"n = {N} test episodes", "paired t-test on per-episode",
                   "every pair of the column tested and Holm-corrected together", "† Not tested",
                   "All runs: seed 0"):  # fmt: skip
        assert phrase in markdown


def test_names_are_escaped_and_ci_has_the_means_decimals(tmp_path):
    Store(tmp_path).write(record("relation_net", split="CFEE_C", accs=_reference()))
    table = _table(tmp_path)
    latex, markdown = to_latex(table), to_markdown(table)
    assert r"relation\_net" in latex and r"CFEE\_C" in latex and "relation_net" not in latex
    assert r"relation\_net" in markdown and r"CFEE\_C 1-shot" in markdown
    assert re.search(r"\*\*\d+\.\d\d ± \d+\.\d\d\*\*", markdown)


def test_latex_uses_booktabs_caption_label_and_groups_shots_under_splits(tmp_path):
    store = Store(tmp_path)
    for split in ("S1", "S2"):
        for shot in (1, 5):
            store.write(record("A", split=split, shot=shot))
    latex = to_latex(_table(tmp_path), caption="My caption", label="tab:mine")
    for piece in (r"\toprule", r"\midrule", r"\bottomrule", r"\caption{My caption}", r"\label{tab:mine}",
                  r"\multicolumn{2}{c}{S1}", r"\cmidrule(lr){2-3} \cmidrule(lr){4-5}",
                  "Method & 1-shot & 5-shot & 1-shot & 5-shot"):  # fmt: skip
        assert piece in latex
    assert r"\documentclass" not in latex


def test_missing_cell_is_a_dash(tmp_path):
    store = Store(tmp_path)
    store.write(record("A", shot=1))
    store.write(record("A", shot=5))
    store.write(record("B", shot=1))
    markdown = to_markdown(_table(tmp_path))
    assert re.search(r"^\| B \| .+ \| – \|$", markdown, re.M)


def _two_seed_store(root, b_seed1_hash=None):
    store = Store(root)
    for method, level in {"A": 65.0, "B": 60.0}.items():
        for seed in (0, 1):
            hash_ = b_seed1_hash if (method, seed) == ("B", 1) and b_seed1_hash else None
            store.write(record(method, seed=seed, level=level, episode_hash=hash_))


def test_pooled_seeds_are_summarised_and_tested_across_seeds(tmp_path):
    _two_seed_store(tmp_path)
    table = _table(tmp_path)
    runs = load(tmp_path).sort_values("seed")
    means = {m: np.array([a.mean() for a in runs[runs["method"] == m]["accuracies"]]) for m in ("A", "B")}
    cell = table.cell("A", table.columns[0])
    assert cell.n_episodes == 2 * N and cell.seeds == (0, 1) and cell.inference == "seeds"
    assert cell.mean == pytest.approx(means["A"].mean())
    # both seeds ran one episode set: seeds and episodes crossed, the interval counts both
    grid = {m: np.stack(list(runs[runs["method"] == m]["accuracies"])) for m in ("A", "B")}
    assert cell.ci95 == pytest.approx(crossed_estimate(grid["A"]).ci95)
    assert cell.ci95 > st.t.ppf(0.975, N - 1) * grid["A"].mean(axis=0).std(ddof=1) / np.sqrt(N)  # > episodes alone
    # one test in the column, so Holm leaves its p-value as is: the differences paired by seed and episode
    p = crossed_estimate(grid["A"] - grid["B"]).p_value
    assert table.cell("B", table.columns[0]).p_holm == pytest.approx(p)
    markdown = to_markdown(table)
    assert "Training seeds 0, 1: inference across seeds and test episodes" in markdown
    assert "expected accuracy over retraining and over the population of test episodes" in markdown
    assert "paired by seed and by episode" in markdown and "two-way crossed" in markdown


def test_splits_run_at_different_seeds_are_named_apart(tmp_path):
    """A study with fewer seeds on one target: the note says which seeds each split ran, not their union."""
    store = Store(tmp_path)
    for method, level in {"A": 65.0, "B": 60.0}.items():
        for seed in (0, 1, 2):
            store.write(record(method, seed=seed, level=level))
        for seed in (0, 1):
            store.write(record(method, split="Fake_B", seed=seed, level=level))
    said = "Training seeds 0, 1 on Fake\\_B; 0, 1, 2 on Fake\\_C: inference across seeds and test episodes"
    assert said in to_markdown(_table(tmp_path))  # in the table's column order
    assert said in to_latex(_table(tmp_path))


def test_one_seed_speaks_for_that_trained_model_only(known_store):
    markdown = to_markdown(_table(known_store))
    assert "All runs: seed 0, one trained model per cell" in markdown and "that trained model only" in markdown
    assert "across seeds" not in markdown


def test_pooled_cells_pair_only_if_every_seeds_episodes_match(tmp_path):
    _two_seed_store(tmp_path, b_seed1_hash="different")
    assert _marks(_table(tmp_path))["B"] is Mark.UNPAIRED


def test_pooled_seeds_that_faced_different_episode_sets_are_not_tested(tmp_path):
    store = Store(tmp_path)
    for method, level in {"A": 65.0, "B": 60.0}.items():
        for seed in (0, 1):  # both methods met the same episodes seed by seed, but each seed another set
            store.write(record(method, seed=seed, level=level, episode_hash=f"set-of-seed-{seed}"))
    assert _marks(_table(tmp_path))["B"] is Mark.UNPAIRED


def test_seeds_listed_apart_give_a_row_per_seed(tmp_path):
    _two_seed_store(tmp_path, b_seed1_hash="different")
    table = _table(tmp_path, pool_seeds=False)
    assert table.rows == ("A (seed 0)", "A (seed 1)", "B (seed 0)", "B (seed 1)")
    marks = _marks(table)
    assert marks["A (seed 0)"] is Mark.BEST or marks["A (seed 1)"] is Mark.BEST
    assert "one row per method and seed" in to_markdown(table)


def test_a_repeated_run_counts_once_the_newest(tmp_path):
    store = Store(tmp_path)
    store.write(record("A", level=50.0, created="2025-01-01T00:00:00+00:00"))
    store.write(record("A", level=70.0, created="2025-06-01T00:00:00+00:00"))
    with pytest.warns(FsferWarning, match=r"1 older record\(s\) set aside.*A on Fake_C, 1-shot, seed 0"):
        table = _table(tmp_path)
    assert table.cell("A", table.columns[0]).mean > 65


def test_mixed_episode_widths_are_refused_unless_one_is_chosen(tmp_path):
    store = Store(tmp_path)
    store.write(record("A"))
    store.write(record("B", way=3))
    with pytest.raises(ConfigError, match="3-way and 5-way.*--way"):
        _table(tmp_path)
    assert _table(tmp_path, way=3).rows == ("B",)


def test_order_of_methods_splits_and_shots_is_kept(tmp_path):
    store = Store(tmp_path)
    for method in ("A", "B"):
        for split in ("S1", "S2"):
            store.write(record(method, split=split))
    runs = select_runs(load(tmp_path), Selection(), tmp_path)
    table = build_table(make_cells(runs), methods=["B", "A"], splits=["S2", "S1"])
    assert table.rows == ("B", "A") and [c.split for c in table.columns] == ["S2", "S1"]


def test_csv_reads_back_through_pandas(known_store):
    table = _table(known_store)
    frame = pd.read_csv(io.StringIO(to_csv(table)))
    assert list(frame.columns) == list(to_frame(table).columns)
    best = frame[frame["method"] == "A"].iloc[0]
    assert best["mark"] == "best" and best["n_episodes"] == N and np.isnan(best["p_holm_vs_best"])
    assert set(frame["mark"]) == {mark.value for mark in Mark}


def test_standalone_latex_compiles_with_pdflatex(known_store, tmp_path):
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed (Debian: texlive-latex-base texlive-latex-recommended)")
    tex = tmp_path / "table.tex"
    tex.write_text(to_latex(_table(known_store), standalone=True))
    done = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", tex.name],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:]
    assert (tmp_path / "table.pdf").read_bytes()[:4] == b"%PDF"
    assert "Overfull" not in (tmp_path / "table.log").read_text()


def _flagged_store(root) -> None:
    """A: returned stage-1 weights of two stages, transductive, 32 px; B: final stage, same database, 64 px."""
    store = Store(root)
    alike = [{"name": name, "needs": ["episode", "batch"]} for name in ("joint", "alternate")]
    two_stages = {"steps": {"joint": 90, "alternate": 60}, "images_seen": 9600, "stages": alike}
    store.write(
        record(
            "A",
            accs=_reference(),
            transductive=True,
            train_on=["CKplus", "JAFFE"],
            config={"image_size": 32},
            training={**two_stages, "returned": {"stage": "joint", "step": 90}},
        )
    )
    store.write(
        record(
            "B",
            accs=_reference() - 5,
            same_database=True,
            train_on=["CKplus", "JAFFE"],
            config={"image_size": 64, "face_align": True},
            training={**two_stages, "returned": {"stage": "alternate", "step": 60}},
        )
    )
    store.write(
        record(
            "C_old",
            accs=_reference() - 6,
            schema=1,
            training={"steps": {"joint": 90, "alternate": 60}},
            config={"image_size": 64},
        )
    )
    # fmt: skip


def test_flags_marks_and_notes_agree_across_formats(tmp_path):
    _flagged_store(tmp_path)
    table = _table(tmp_path)
    column = table.columns[0]
    assert table.cell("A", column).flags == ("not_final_stage", "transductive")
    assert table.cell("B", column).flags == ("same_database",)
    markdown, latex = to_markdown(table), to_latex(table)
    assert re.search(r"^\| A \| \*\*[\d.]+ ± [\d.]+\*\*‡§ \|", markdown, re.M)
    assert re.search(r"^\| B \| .*¶ \|$", markdown, re.M)
    assert r"$^{\ddagger}$$^{\S}$" in latex and r"$^{\P}$" in latex
    for text, m in ((markdown, "‡"), (latex, r"$^{\ddagger}$")):
        assert f"{m} Returned weights not from the method's final training stage" in text
    assert "not recorded for C\\_old" in latex and "not recorded for C\\_old" in markdown
    assert (
        "different image sizes: 32 px, except B 64 px" in markdown
        or "different image sizes: 64 px, except A 32 px" in markdown
    )
    assert (
        "Fake\\_C: trained on CKplus, JAFFE; 32/64 px; faces aligned for some methods only; "
        "training images behind the returned weights: A 5,760, B 9,600."
        in markdown  # A's weights are from step 90 of 150: 90/150 of the images drawn
    )
    frame = to_frame(table).set_index("method")
    assert frame.loc["A", "returned_final_stage"] == "no" and frame.loc["B", "returned_final_stage"] == "yes"
    assert frame.loc["C_old", "returned_final_stage"] == "unknown" and frame.loc["A", "transductive"]
    assert frame.loc["B", "same_database"] and frame.loc["A", "image_size"] == 32
    assert (frame.loc["A", "images_seen"], frame.loc["A", "images_drawn"]) == (5760, 9600)


def test_a_single_episode_has_no_interval_but_a_table_still(tmp_path):
    Store(tmp_path).write(record("A", accs=[60.0]))
    Store(tmp_path).write(record("B", accs=[40.0]))
    table = _table(tmp_path)
    assert _marks(table) == {"A": Mark.BEST, "B": Mark.UNPAIRED}  # one episode: nothing to test with
    assert re.search(r"^\| A \| \*\*60\.00 ± –\*\* \|", to_markdown(table), re.M)


def test_a_column_group_of_aligned_faces_says_so(tmp_path):
    store = Store(tmp_path)
    for name in ("A", "B"):
        config = {"image_size": 48, "face_align": True}
        store.write(record(name, accs=_reference(), train_on=["FER2013"], config=config))
    assert "trained on FER2013; 48 px; faces aligned with dlib." in to_markdown(_table(tmp_path))
