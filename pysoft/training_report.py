"""The figure and the table rows of a training run's evaluation, from the metrics in model.json.

Each function takes the stored dict (not the events), so ``pysoft train`` and the run report
show the same numbers: :func:`learning_curve_figure` (``model_learning_curve.png``),
:func:`draw_learning_curve` (the same, with the run report's figure signature) and
:func:`evaluation_rows` ((quantity, value) rows of :mod:`pysoft.evaluation`'s figures).
"""

PAPER_ACCURACY = 0.83       # the paper's test accuracy, radial + angular features, C = 1


def learning_curve_figure(curve, ax=None):
    """Held-out accuracy against the number of training events (``metrics["learning_curve"]``).

    Points: the mean over random subsets of the training atoms; shaded: their 2.5-97.5 %
    range; bars: ± 1 binomial standard error of the held-out set; the paper's 0.83 and the
    end slope (gain per doubling of the events) for reference.  Returns the figure.
    """
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3.8))
    else:
        fig = ax.figure
    pts = curve.get("points") or []
    n = [p["n_train"] for p in pts]
    mean = [p["mean"] for p in pts]
    ax.fill_between(n, [p["low"] for p in pts], [p["high"] for p in pts], color="C0", alpha=0.25,
                    label="2.5-97.5 % over training subsets")
    ax.errorbar(n, mean, yerr=[p["test_standard_error"] for p in pts], fmt="o-", color="C0", capsize=3,
                label=f"held-out accuracy ({curve.get('n_test', '?')} test events, ± 1 s.e.)")
    ax.axhline(PAPER_ACCURACY, color="C3", ls="--", label=f"paper: {PAPER_ACCURACY}")
    ax.axhline(0.5, color="0.5", ls=":", label="chance (balanced classes)")
    slope = curve.get("end_slope")
    if slope and slope.get("standard_error") is not None:
        ax.set_title(f"end slope {slope['per_doubling']:+.3f} ± {slope['standard_error']:.3f} per doubling "
                     f"of the training events", fontsize=9)
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel("training events (balanced classes)")
    ax.set_ylabel("held-out accuracy (fraction correct)")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def draw_learning_curve(data, plt=None, colors=None):
    """The learning curve of a run folder's train/model.json (``data.model``), or why not (a string)."""
    curve = ((getattr(data, "model", None) or {}).get("metrics") or {}).get("learning_curve")
    if not curve or not curve.get("points"):
        return "train/model.json has no learning curve (no train stage, or trained before the nested evaluation)"
    return learning_curve_figure(curve)


def format_accuracy(v, se=None):
    """An accuracy as 0.123, with ± its spread when given; "-" when missing."""
    if v is None:
        return "-"
    return f"{v:.3f}" + (f" ± {se:.3f}" if se is not None else "")


def _split(sp):
    """One split's figures as text: accuracy ± s.e., balanced accuracy, counts, majority baseline."""
    if "test" not in sp:
        return sp.get("note", "-")
    c = sp.get("test_counts") or {}
    text = (f"train {format_accuracy(sp.get('train'))} / "
            f"test {format_accuracy(sp['test'], sp.get('standard_error'))}")
    if "balanced_accuracy" in sp:
        text += (f"; balanced {format_accuracy(sp['balanced_accuracy'])}, majority-class baseline "
                 f"{format_accuracy(sp.get('majority_baseline'))} ({c.get('rearranging', '?')} rearranging + "
                 f"{c.get('non_rearranging', '?')} non-rearranging test events)")
    else:
        text += f" ({sp.get('n_test', '?')} test events)"
    return text


def evaluation_rows(metrics):
    """(quantity, value) rows of a model's evaluation, paper figures in the quantity where it has one.

    Written for the metrics of :func:`pysoft.evaluation.evaluate`; rows of older models read what
    they hold.
    """
    m = metrics or {}
    h = m.get("holdout") or {}
    rows = [("SVM C (grouped CV on " + (m.get("cv_on") or "all events") + ")", m.get("C")),
            ("grouped CV accuracy", format_accuracy(m.get("cv_accuracy"), m.get("cv_std"))),
            (f"held-out atoms ({h.get('n_atoms_test', '?')} atoms, 20 %; paper 0.83 test, 0.84 train)", _split(h)),
            ("radial-only CV accuracy (paper 0.79)", format_accuracy(m.get("radial_only_cv_accuracy"))),
            ("radial + angular CV accuracy (paper 0.84/0.83)", format_accuracy(m.get("all_features_cv_accuracy")))]
    ts = m.get("time_split") or {}
    rows.append(("time split: " + (ts.get("rule") or "earliest 80 % / latest 20 %"), _split(ts)))
    lc = m.get("learning_curve") or {}
    sl = lc.get("end_slope")
    if sl and sl.get("standard_error") is not None:
        rising = sl["per_doubling"] - 2 * sl["standard_error"] > 0
        rows.append(("learning curve: held-out accuracy gain per doubling of the training events, at its end",
                     f"{sl['per_doubling']:+.3f} ± {sl['standard_error']:.3f} "
                     f"({'still rising' if rising else 'flat within 2 standard errors'})"))
    for o in m.get("other_thresholds") or []:
        name = f"hop threshold {o['hop_threshold_A2']:g} Å² (paper at 0.5 Å²: 0.85 on about 700 events)"
        if "holdout" in o:
            rows.append((name, f"{o['rearranging']} rearranging events; held-out {_split(o['holdout'])}"))
        else:
            rows.append((name, o.get("note", "-")))
    if m.get("final_model"):
        rows.append(("shipped model", f"{m['final_model']}; training accuracy {format_accuracy(m.get('train_accuracy_all'))}"))
    return rows
