"""How well a softness model tells rearranging from non-rearranging events: the nested evaluation
of ``pysoft train`` (doc/method.md section 6, "Evaluation").

The order is what makes the figures fair:

1. the **held-out atoms** are split off first: one fold of a 5-fold ``StratifiedGroupKFold``
   (20 % of the atoms, both classes in their overall proportion, every event of an atom on one
   side);
2. **C** is chosen by grouped, stratified cross-validation on the training atoms only
   (:func:`select_C`), so no held-out event has a say in it;
3. the model with that C, fitted on the training atoms, is scored on the held-out atoms:
   accuracy, balanced accuracy, the class counts and the majority-class baseline beside them
   (:func:`scores`), and its training accuracy;
4. the same held-out atoms score a **learning curve** (:func:`learning_curve`): models fitted on
   random subsets of the training atoms, so its slope at the full size says whether more events
   would still help.

The time split and leave-one-sample-out choose their own C inside their own training part.
Every split keeps each atom (sample, atom id) on one side; the functions here are pure numpy /
scikit-learn, testable on constructed data.
"""

import numpy as np

__all__ = ["EvaluationError", "evaluate", "holdout_split", "select_C", "scores", "time_split",
           "leave_one_sample_out", "learning_curve", "threshold_subset", "HOLDOUT_FOLDS"]

HOLDOUT_FOLDS = 5                   # the held-out atoms are one fold of 5: 20 %
TIME_TEST_FRACTION = 0.2            # events at or after the one time cut (the paper: 40 of 200 ps)
LEARNING_FRACTIONS = (0.1, 0.2, 0.3, 0.5, 0.7, 1.0)
LEARNING_REPEATS = 10               # random atom subsets per fraction below 1
SLOPE_POINTS = 3                    # the last fractions the end slope of the learning curve is fitted on


class EvaluationError(ValueError):
    """Too few events or atoms for a split; the message is one line for the user."""


def _model(C):
    from pysoft.model import SoftnessModel

    return SoftnessModel(C=C)


def _counts(y):
    return {"rearranging": int(np.sum(y == 1)), "non_rearranging": int(np.sum(y == 0))}


def holdout_split(y, groups, seed):
    """(train rows, test rows): the held-out atoms, one stratified fold of 5, grouped by atom."""
    from sklearn.model_selection import StratifiedGroupKFold

    n_groups = len(np.unique(groups))
    if n_groups < HOLDOUT_FOLDS:
        raise EvaluationError(f"only {n_groups} distinct atom(s) among the events: the held-out split "
                              f"needs {HOLDOUT_FOLDS} or more")
    fewest = min(int(np.sum(y == 0)), int(np.sum(y == 1)))
    if fewest < HOLDOUT_FOLDS:
        raise EvaluationError(f"only {fewest} event(s) of a class: the held-out split needs {HOLDOUT_FOLDS} or more")
    cv = StratifiedGroupKFold(n_splits=HOLDOUT_FOLDS, shuffle=True, random_state=seed)
    train, test = next(cv.split(np.zeros(len(y)), y, groups))
    if len(np.unique(y[train])) < 2 or len(np.unique(y[test])) < 2:
        raise EvaluationError("a class is missing from the held-out split: too few events")
    return train, test


def select_C(X, y, groups, C_grid, folds, seed, columns=None):
    """C by grouped, stratified k-fold cross-validation on the events given (the training part).

    Returns a dict: ``C`` (the best mean accuracy, a tie going to the C closest to 1), ``cv``
    (the table over C), ``cv_accuracy``, ``cv_std``, ``folds`` and ``splits`` (the folds, rows
    of X).  `columns` restricts the features (radial only).
    """
    from sklearn.model_selection import StratifiedGroupKFold

    n_groups = len(np.unique(groups))
    fewest = min(int(np.sum(y == 0)), int(np.sum(y == 1)))
    folds = min(int(folds), n_groups, fewest)
    if folds < 2:
        raise EvaluationError(f"{n_groups} distinct atom(s) and {fewest} event(s) of the rarer class among the "
                              f"training events: cross-validation needs 2 or more of each")
    splits = [(tr, te) for tr, te in StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
              .split(X, y, groups) if len(np.unique(y[tr])) == 2]
    if not splits:
        raise EvaluationError("no cross-validation fold has both classes in its training part: too few events")
    Xc = X if columns is None else X[:, columns]
    table = []
    for C in C_grid:
        acc = [_model(C).fit(Xc[tr], y[tr]).score(Xc[te], y[te]) for tr, te in splits]
        table.append({"C": float(C), "mean": float(np.mean(acc)), "std": float(np.std(acc))})
    best = max(table, key=lambda r: (r["mean"], -abs(np.log10(r["C"]))))
    return {"C": best["C"], "cv": table, "cv_accuracy": best["mean"], "cv_std": best["std"], "folds": folds,
            "splits": splits}


def cv_accuracy(X, y, splits, C):
    """Mean accuracy over given folds at one C."""
    return float(np.mean([_model(C).fit(X[tr], y[tr]).score(X[te], y[te]) for tr, te in splits]))


def scores(y_true, y_pred):
    """Accuracy, balanced accuracy, the class counts and the majority-class baseline of a test set.

    The baseline is the accuracy of always answering the test set's larger class; balanced
    accuracy (the mean of the two classes' recalls) has chance 0.5 whatever the counts.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    n = len(y_true)
    acc = float(np.mean(y_true == y_pred))
    recalls = [float(np.mean(y_pred[y_true == c] == c)) for c in (0, 1) if np.any(y_true == c)]
    counts = _counts(y_true)
    majority = "rearranging" if counts["rearranging"] > counts["non_rearranging"] else "non_rearranging"
    return {"test": acc, "balanced_accuracy": float(np.mean(recalls)), "n_test": int(n), "test_counts": counts,
            "majority_baseline": counts[majority] / n, "majority_class": majority,
            "standard_error": float(np.sqrt(max(acc * (1 - acc), 0.25 / n) / n))}


def fit_and_score(X, y, train, test, C):
    """Fit at C on rows `train`, score on rows `test`: :func:`scores` plus the training accuracy."""
    model = _model(C).fit(X[train], y[train])
    out = {"train": float(model.score(X[train], y[train])), "n_train": int(len(train)),
           "train_counts": _counts(y[train])}
    out.update(scores(y[test], model.predict(X[test])))
    return out


def _no_straddle(groups, train, test):
    assert not np.intersect1d(groups[train], groups[test]).size, "an atom is on both sides of a split"


def time_split(X, y, groups, frames, C_grid, folds, seed):
    """One time cut for every sample and class: events at frames >= the cut test, the earlier ones
    of atoms with no event after the cut train (an atom on both sides would carry its structure
    across the cut); C by grouped CV inside the training part."""
    frames = np.asarray(frames)
    order = np.sort(frames)
    cut = int(order[min(int(np.ceil((1 - TIME_TEST_FRACTION) * len(order))), len(order) - 1)])
    late = frames >= cut
    crossing = np.isin(groups, np.intersect1d(groups[late], groups[~late]))
    train = np.flatnonzero(~late & ~crossing)
    test = np.flatnonzero(late)
    base = {"cut_frame": cut, "dropped_from_training": int(np.sum(~late & crossing)),
            "rule": f"one cut at frame {cut}: events at or after it test; earlier events train unless their "
                    f"atom also has an event after the cut"}
    if len(np.unique(y[train])) < 2 or len(np.unique(y[test])) < 2:
        return {**base, "note": "a class is missing on one side of the time cut"}
    _no_straddle(groups, train, test)
    try:
        C = select_C(X[train], y[train], groups[train], C_grid, folds, seed)["C"]
    except EvaluationError as e:
        return {**base, "note": str(e)}
    return {**base, "C": C, **fit_and_score(X, y, train, test, C)}


def leave_one_sample_out(X, y, groups, sample_of, names, C_grid, folds, seed):
    """Train on the other samples, test on one (the paper's Table S1 by pressure); C by grouped
    CV inside the training samples.  The groups hold the sample, so no atom straddles."""
    out = []
    if len(names) < 2:
        return out
    for s, name in enumerate(names):
        test, train = np.flatnonzero(sample_of == s), np.flatnonzero(sample_of != s)
        if len(np.unique(y[test])) < 2 or len(np.unique(y[train])) < 2:
            out.append({"test": name, "note": "one class missing"})
            continue
        _no_straddle(groups, train, test)
        try:
            C = select_C(X[train], y[train], groups[train], C_grid, folds, seed)["C"]
        except EvaluationError as e:
            out.append({"test": name, "note": str(e)})
            continue
        r = fit_and_score(X, y, train, test, C)
        out.append({"test": name, "accuracy": r["test"], "C": C,
                    **{k: r[k] for k in ("n_test", "balanced_accuracy", "test_counts", "majority_baseline")}})
    return out


def learning_curve(X_train, y_train, g_train, X_test, y_test, C, seed, fractions=LEARNING_FRACTIONS,
                   repeats=LEARNING_REPEATS):
    """Held-out accuracy against the number of training events.

    For each fraction f below 1, `repeats` random subsets of the training atoms (grouped: all
    events of an atom or none), taken atom by atom until f of the training events are in; at
    f = 1 the whole training part once (the held-out figure itself).  Each point: the mean, the
    spread (standard deviation, 2.5 and 97.5 percentiles) over the subsets, and the binomial
    standard error of the test set.  ``end_slope`` is the least-squares slope of accuracy
    against log2(events) over the last SLOPE_POINTS fractions: the gain per doubling of the
    training events where the curve ends.
    """
    rng = np.random.default_rng(seed)
    _, inverse = np.unique(g_train, return_inverse=True)
    per_group = np.bincount(inverse)
    points, values = [], []           # values: (fraction, log2 events, accuracy) of every fit
    n_test = len(y_test)
    for f in fractions:
        target = int(round(f * len(y_train)))
        accs, sizes = [], []
        for _ in range(1 if f >= 1 else repeats):
            if f >= 1:
                rows = np.arange(len(y_train))
            else:
                order = rng.permutation(len(per_group))
                k = int(np.searchsorted(np.cumsum(per_group[order]), target)) + 1
                rows = np.flatnonzero(np.isin(inverse, order[:k]))
            if len(np.unique(y_train[rows])) < 2:
                continue
            accs.append(float(_model(C).fit(X_train[rows], y_train[rows]).score(X_test, y_test)))
            sizes.append(len(rows))
            values.append((float(f), np.log2(len(rows)), accs[-1]))
        if not accs:
            continue
        mean = float(np.mean(accs))
        points.append({"fraction": float(f), "n_train": float(np.mean(sizes)), "mean": mean,
                       "std": float(np.std(accs)), "low": float(np.percentile(accs, 2.5)),
                       "high": float(np.percentile(accs, 97.5)), "repeats": len(accs),
                       "test_standard_error": float(np.sqrt(max(mean * (1 - mean), 0.25 / n_test) / n_test))})
    curve = {"C": float(C), "n_test": int(n_test), "points": points,
             "rule": f"random subsets of the training atoms ({repeats} per fraction below 1), "
                     f"scored on the held-out atoms"}
    tail = [p["fraction"] for p in points[-SLOPE_POINTS:]]
    x = np.array([v[1] for v in values if v[0] in tail])
    yv = np.array([v[2] for v in values if v[0] in tail])
    if len(tail) >= 2 and len(x) > 2 and np.ptp(x) > 0:
        slope, intercept = np.polyfit(x, yv, 1)
        resid = yv - (slope * x + intercept)
        se = float(np.sqrt(resid @ resid / (len(x) - 2) / np.sum((x - x.mean()) ** 2)))
        curve["end_slope"] = {"per_doubling": float(slope), "standard_error": se, "fractions": tail}
    return curve


def threshold_subset(label, peak_phop, threshold, seed):
    """Rows of a balanced draw relabelled at a higher hop threshold: its rearranging events whose
    phop peak exceeds `threshold`, and as many of its calm events drawn at random (seeded)."""
    hops = np.flatnonzero((label == 1) & (peak_phop > threshold))
    calm = np.flatnonzero(label == 0)
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(calm), size=min(len(hops), len(calm)), replace=False))
    return np.sort(np.concatenate([hops, calm[pick]]))


def nested_holdout(X, y, groups, C_grid, folds, seed):
    """Held-out atoms first, then C on the training atoms, then the held-out scores: the core of
    :func:`evaluate`, also used at other thresholds.  Returns (dict, train rows, test rows, selection)."""
    train, test = holdout_split(y, groups, seed)
    sel = select_C(X[train], y[train], groups[train], C_grid, folds, seed)
    _no_straddle(groups, train, test)
    hold = fit_and_score(X, y, train, test, sel["C"])
    hold["n_atoms_train"] = int(len(np.unique(groups[train])))
    hold["n_atoms_test"] = int(len(np.unique(groups[test])))
    out = {"C": sel["C"], "cv": sel["cv"], "cv_accuracy": sel["cv_accuracy"], "cv_std": sel["cv_std"],
           "folds": sel["folds"], "cv_on": "the training atoms (the held-out atoms excluded)", "holdout": hold}
    return out, train, test, sel


def evaluate(X, y, groups, frames, sample_of, names, radial_columns, settings, peak_phop=None):
    """Every figure of ``pysoft train``'s evaluation, as the dict stored in the model's metrics.

    X, y: features and labels (1 rearranging) of the balanced draw; groups: one per atom
    (sample, atom id); frames: the frame of each event; sample_of: its sample index; names: the
    samples' names; radial_columns: the radial features' count; peak_phop: the phop peak of each
    rearranging event (NaN for calm), for ``settings.also_thresholds``.
    """
    seed, grid, folds = settings.seed, settings.C_grid, settings.folds
    m, train, test, sel = nested_holdout(X, y, groups, grid, folds, seed)
    C = m["C"]
    m.update({"n_samples": int(len(y)), "n_features": int(X.shape[1])})
    # radial only vs all, on the same training-atom folds at the chosen C
    m["radial_only_cv_accuracy"] = cv_accuracy(X[train][:, :radial_columns], y[train], sel["splits"], C)
    m["all_features_cv_accuracy"] = m["cv_accuracy"]
    m["time_split"] = time_split(X, y, groups, frames, grid, folds, seed)
    m["leave_one_sample_out"] = leave_one_sample_out(X, y, groups, sample_of, names, grid, folds, seed)
    m["learning_curve"] = learning_curve(X[train], y[train], groups[train], X[test], y[test], C, seed)
    others = []
    for thr in getattr(settings, "also_thresholds", ()) or ():
        row = {"hop_threshold_A2": float(thr)}
        if peak_phop is None or not thr > settings.hop_threshold:
            others.append({**row, "note": f"not above the hop threshold {settings.hop_threshold:g} Å^2: "
                                          f"its events are not a subset of the drawn ones"})
            continue
        rows = threshold_subset(y, peak_phop, thr, seed)
        n_hop = int(np.sum(y[rows] == 1))
        row.update(rearranging=n_hop, n_samples=int(len(rows)))
        if n_hop < settings.min_events:
            others.append({**row, "note": f"{n_hop} rearranging events, fewer than min_events ({settings.min_events})"})
            continue
        try:
            sub, *_ = nested_holdout(X[rows], y[rows], groups[rows], grid, folds, seed)
        except EvaluationError as e:
            others.append({**row, "note": str(e)})
            continue
        others.append({**row, **{k: sub[k] for k in ("C", "cv_accuracy", "cv_std", "holdout")}})
    m["other_thresholds"] = others
    m["final_model"] = (f"C = {C:g} from grouped CV on the training atoms (the held-out atoms excluded), "
                        f"then fitted on all {len(y)} events")
    return m
