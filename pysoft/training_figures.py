"""Figures of a training run's evaluation, drawn from the metrics stored in model.json.

Each function takes the stored dict (not the events), so ``pysoft train`` and the run report
draw the same figure from the same numbers.
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
    ax.set_ylabel("held-out accuracy")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig
