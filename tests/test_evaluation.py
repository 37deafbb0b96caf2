"""The nested evaluation of pysoft train (pysoft.evaluation) on constructed events.

The events are made here: atoms with a few events each, a label that one feature carries with a
known strength, frames spread over a trajectory.  What is tested is the bookkeeping of the
splits (no held-out atom reaches C, no atom on both sides of any split, the held-out classes in
their overall proportion) and the figures beside the accuracy (counts, balanced accuracy, the
majority baseline), not any accuracy of a real glass.
"""

import numpy as np
import pytest

from pysoft import evaluation as ev
from pysoft.train_settings import TrainSettings


def events(n=600, natoms=200, nsamples=2, signal=1.0, p_hop=0.5, seed=0):
    rng = np.random.default_rng(seed)
    atom = rng.integers(0, natoms, n)
    sample = rng.integers(0, nsamples, n)
    y = (rng.random(n) < p_hop).astype(int)
    X = rng.normal(size=(n, 12))
    X[:, 0] += signal * y
    groups = sample * 10**9 + atom
    frames = rng.integers(0, 100, n)
    peak = np.where(y == 1, rng.uniform(0.2, 1.0, n), np.nan)
    return X, y, groups, frames, sample, peak


SETTINGS = TrainSettings(types=("Al", "O"), seed=3)


def run(X, y, groups, frames, sample, peak, settings=SETTINGS):
    return ev.evaluate(X, y, groups, frames, sample, ["s0", "s1"], 6, settings, peak_phop=peak)


def test_held_out_events_do_not_reach_C():
    X, y, groups, frames, sample, peak = events()
    m = run(X, y, groups, frames, sample, peak)
    _, test = ev.holdout_split(y, groups, SETTINGS.seed)
    # replace the held-out events' features by anything: C and the CV table must not move
    X2 = X.copy()
    X2[test] = np.random.default_rng(9).normal(size=(len(test), X.shape[1])) * 50 - 3
    m2 = run(X2, y, groups, frames, sample, peak)
    assert m2["C"] == m["C"] and m2["cv"] == m["cv"]
    assert m2["holdout"]["test"] != m["holdout"]["test"]


def test_select_C_sees_only_training_atoms(monkeypatch):
    X, y, groups, frames, sample, peak = events(seed=1)
    _, test = ev.holdout_split(y, groups, SETTINGS.seed)
    held = set(groups[test].tolist())
    seen = []
    real = ev.select_C

    def spy(Xs, ys, gs, *args, **kw):
        seen.append(set(gs.tolist()))
        return real(Xs, ys, gs, *args, **kw)

    monkeypatch.setattr(ev, "select_C", spy)
    run(X, y, groups, frames, sample, peak)
    # the first call chooses the shipped C: not one held-out atom in it
    assert seen and not seen[0] & held
    assert len(seen[0]) + len(held) == len(np.unique(groups))


@pytest.mark.parametrize("seed", range(5))
def test_no_atom_on_both_sides_of_any_split(seed):
    X, y, groups, frames, sample, _ = events(seed=seed)
    tr, te = ev.holdout_split(y, groups, seed)
    assert not set(groups[tr]) & set(groups[te]) and len(tr) + len(te) == len(y)
    for a, b in ev.select_C(X[tr], y[tr], groups[tr], (1.0,), 5, seed)["splits"]:
        assert not set(groups[tr][a]) & set(groups[tr][b])
    ts = ev.time_split(X, y, groups, frames, (1.0,), 5, seed)
    late = frames >= ts["cut_frame"]
    test_atoms, early_atoms = set(groups[late]), set(groups[~late])
    kept = ~late & ~np.isin(groups, list(test_atoms))
    assert ts["n_test"] == late.sum() and ts["n_train"] == kept.sum()
    assert ts["dropped_from_training"] == (~late).sum() - kept.sum() > 0
    assert not set(groups[kept]) & test_atoms and early_atoms & test_atoms


def test_time_split_is_one_cut_for_every_sample_and_class():
    X, y, groups, frames, sample, _ = events(n=800, natoms=400)
    ts = ev.time_split(X, y, groups, frames, (1.0,), 5, 0)
    cut = ts["cut_frame"]
    # about 20 % of the events at or after the cut, the rest before it, whatever the sample or class
    assert 0.15 < np.mean(frames >= cut) < 0.25
    assert ts["n_test"] == np.sum(frames >= cut)
    assert ts["test_counts"]["rearranging"] == np.sum((frames >= cut) & (y == 1))


def test_leave_one_sample_out_tests_whole_samples():
    X, y, groups, frames, sample, _ = events(nsamples=3)
    loso = ev.leave_one_sample_out(X, y, groups, sample, ["a", "b", "c"], (1.0,), 5, 0)
    assert [r["test"] for r in loso] == ["a", "b", "c"]
    for s, r in enumerate(loso):
        assert r["n_test"] == np.sum(sample == s)
        assert r["test_counts"]["rearranging"] == np.sum((sample == s) & (y == 1))


def test_held_out_split_is_stratified_by_class():
    # 30 % rearranging: the held-out fifth keeps about that share, and about a fifth of the atoms
    X, y, groups, frames, sample, _ = events(n=1000, natoms=500, p_hop=0.3, seed=4)
    tr, te = ev.holdout_split(y, groups, 0)
    assert abs(y[te].mean() - y.mean()) < 0.03
    assert 0.17 < len(np.unique(groups[te])) / len(np.unique(groups)) < 0.23


def test_scores_count_classes_and_baseline():
    y = np.array([1] * 30 + [0] * 70)
    pred = np.array([1] * 30 + [1] * 10 + [0] * 60)
    s = ev.scores(y, pred)
    assert s["test_counts"] == {"rearranging": 30, "non_rearranging": 70}
    assert s["test"] == pytest.approx(0.9)
    # recall 1.0 of rearranging, 60/70 of calm
    assert s["balanced_accuracy"] == pytest.approx((1 + 60 / 70) / 2)
    assert s["majority_baseline"] == pytest.approx(0.7) and s["majority_class"] == "non_rearranging"
    assert s["standard_error"] == pytest.approx(np.sqrt(0.9 * 0.1 / 100))
    # always answering the majority: accuracy = baseline, balanced accuracy = chance
    always = ev.scores(y, np.zeros(100, int))
    assert always["test"] == always["majority_baseline"] and always["balanced_accuracy"] == 0.5


def test_holdout_figures_are_stored():
    X, y, groups, frames, sample, peak = events(p_hop=0.4)
    h = run(X, y, groups, frames, sample, peak)["holdout"]
    tr, te = ev.holdout_split(y, groups, SETTINGS.seed)
    assert h["n_test"] == len(te) and h["n_train"] == len(tr)
    assert h["test_counts"] == {"rearranging": int(y[te].sum()), "non_rearranging": int((1 - y[te]).sum())}
    assert h["majority_baseline"] == pytest.approx(max(y[te].mean(), 1 - y[te].mean()))
    assert h["n_atoms_test"] == len(np.unique(groups[te])) and 0 < h["train"] <= 1


def test_learning_curve_rises_and_ends_at_the_held_out_figure():
    X, y, groups, frames, sample, peak = events(n=1200, natoms=600, signal=0.7, seed=2)
    m = run(X, y, groups, frames, sample, peak)
    lc = m["learning_curve"]
    pts = lc["points"]
    assert [p["fraction"] for p in pts] == list(ev.LEARNING_FRACTIONS)
    n = [p["n_train"] for p in pts]
    assert n == sorted(n) and n[-1] == m["holdout"]["n_train"]
    assert pts[-1]["repeats"] == 1 and all(p["repeats"] == ev.LEARNING_REPEATS for p in pts[:-1])
    # the full-size point is the held-out figure itself (same C, same training atoms, same test)
    assert pts[-1]["mean"] == pytest.approx(m["holdout"]["test"]) and lc["n_test"] == m["holdout"]["n_test"]
    for p in pts:
        assert p["low"] <= p["mean"] <= p["high"] and p["std"] >= 0 and p["test_standard_error"] > 0
    # a weak planted signal is learnt better from more events
    assert pts[-1]["mean"] > pts[0]["mean"]
    assert set(lc["end_slope"]) == {"per_doubling", "standard_error", "fractions"}


def test_learning_curve_slope_is_flat_when_data_do_not_matter():
    # a signal so strong that 10 % of the events learn it: the end slope is 0 within its error
    X, y, groups, frames, sample, peak = events(n=800, natoms=400, signal=8.0, seed=5)
    sl = run(X, y, groups, frames, sample, peak)["learning_curve"]["end_slope"]
    assert abs(sl["per_doubling"]) <= 2 * sl["standard_error"] + 1e-3


def test_other_threshold_uses_the_drawn_events_above_it():
    X, y, groups, frames, sample, peak = events()
    rows = ev.threshold_subset(y, peak, 0.5, 0)
    assert np.all(peak[rows][y[rows] == 1] > 0.5)
    assert np.sum(y[rows] == 1) == np.sum((y == 1) & (peak > 0.5)) == np.sum(y[rows] == 0)
    m = run(X, y, groups, frames, sample, peak)
    (o,) = m["other_thresholds"]
    assert o["hop_threshold_A2"] == 0.5 and o["rearranging"] == np.sum((y == 1) & (peak > 0.5))
    assert o["holdout"]["n_test"] + o["holdout"]["n_train"] == o["n_samples"]
    low = run(X, y, groups, frames, sample, peak, TrainSettings(types=("Al", "O"), also_thresholds=(0.1,)))
    assert "not above the hop threshold" in low["other_thresholds"][0]["note"]


def test_too_few_atoms_is_one_clear_error():
    X, y, groups, frames, sample, peak = events(n=40)
    with pytest.raises(ev.EvaluationError, match="only 4 distinct atom"):
        ev.holdout_split(y, groups % 4, 0)


def test_other_threshold_with_too_few_events_is_a_note_not_a_failure():
    X, y, groups, frames, sample, peak = events()
    peak = np.where(y == 1, 0.3, np.nan)
    peak[np.flatnonzero(y == 1)[:3]] = 0.9          # three hops above 0.5 Å^2
    few = TrainSettings(types=("Al", "O"), min_events=2)
    (o,) = run(X, y, groups, frames, sample, peak, few)["other_thresholds"]
    assert o["rearranging"] == 3 and "held-out split needs 5" in o["note"]
    (o,) = run(X, y, groups, frames, sample, peak)["other_thresholds"]
    assert "fewer than min_events (10)" in o["note"]


def test_report_rows_and_figure_from_stored_metrics(tmp_path):
    import json
    from types import SimpleNamespace

    from pysoft.training_report import draw_learning_curve, evaluation_rows

    X, y, groups, frames, sample, peak = events()
    m = json.loads(json.dumps(run(X, y, groups, frames, sample, peak)))     # as stored in model.json
    text = dict(evaluation_rows(m))
    held = next(v for k, v in text.items() if k.startswith("held-out atoms"))
    assert "majority-class baseline" in held and "balanced" in held
    assert any(k.startswith("learning curve") for k in text)
    assert any(k.startswith("hop threshold 0.5") for k in text)
    fig = draw_learning_curve(SimpleNamespace(model={"metrics": m}))
    fig.savefig(tmp_path / "lc.png")
    assert (tmp_path / "lc.png").stat().st_size > 10000
    # an older model (no learning curve): a reason, not a crash
    assert isinstance(draw_learning_curve(SimpleNamespace(model={"metrics": {"holdout": {}}})), str)
    assert evaluation_rows({"holdout": {"train": 0.9, "test": 0.8, "n_test": 10}})
