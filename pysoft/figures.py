"""The paper's figures, each drawn from a run's data (:class:`pysoft.runfolder.RunData`).

``FIGURES`` lists them in the order of the report: (key, PNG file name, title, caption, draw).
``draw(data, plt, colors)`` returns a matplotlib figure, or a string saying why it cannot be
drawn (its data are missing).  The numbers a figure shows beside the paper's claims (the onset
of the stress drop, the fit of P(DC | S0), the crack ranking) come from :mod:`pysoft.claims`, so
the figures and the verdicts cannot disagree.

To add a figure: write ``draw_xxx(data, plt, colors)`` and add its row to ``FIGURES``; the HTML
report and the gallery pick it up (a claim it illustrates goes in pysoft.claims.CLAIMS).
"""

import numpy as np

from pysoft import claims, series

STATES = series.SWITCHED
STATE_NAMES = {"DC": "decreased CN", "IC": "increased CN", "SC": "same CN, switched neighbour"}


def analysis_row(rows, target=0.5):
    """The series row at strain `target` (the paper's 50 %), else the last one."""
    strains = np.array([r["strain"] for r in rows])
    if strains.max() >= target - 1e-6:
        return rows[int(np.argmin(np.abs(strains - target)))]
    return rows[-1]


class Figure:
    def __init__(self, key, filename, title, caption, draw):
        self.key, self.filename, self.title, self.caption, self.draw = key, filename, title, caption, draw
        self.path = None
        self.missing = None


def _colors(pressures):
    import matplotlib

    cmap = matplotlib.colormaps["viridis"]
    ps = sorted(pressures)
    if len(ps) == 1:
        return {ps[0]: cmap(0.3)}
    return {p: cmap(0.9 * i / (len(ps) - 1)) for i, p in enumerate(ps)}


def _need_series(data, key=None):
    if not data.series:
        return "no plane-strain series.jsonl (the on-the-fly analysis did not run)"
    if key and not any(key in r for _, rows in data.series.values() for r in rows):
        return f"the series hold no '{key}'"
    return None


def draw_1a(data, plt, colors):
    if not data.strain:
        return "no planestrain.txt"
    ncol = 2 if data.stress else 1
    fig, axes = plt.subplots(1, ncol, figsize=(5.2 * ncol, 3.8), squeeze=False)
    ax = axes[0, 0]
    for p, t in sorted(data.strain.items()):
        ax.plot(t[:, 1], t[:, 2], "o-", ms=3, color=colors[p], label=f"{p:g} GPa")
        o = data.outcome.get(p)
        if o and o["fractured"]:
            k = int(np.argmin(np.abs(t[:, 1] - o["failure_strain"])))
            ax.plot(t[k, 1], t[k, 2], "x", ms=10, mew=2, color=colors[p])
    if any(o["fractured"] for o in data.outcome.values()):
        ax.plot([], [], "x", ms=8, mew=2, color="0.3", label="failure")
    ax.set_xlabel("engineering strain ε$_{xx}$")
    ax.set_ylabel("stress σ$_{xx}$ (GPa)")
    ax.set_title("plane strain", fontsize=10)
    ax.legend(title="quench P", fontsize=8)
    if data.stress:
        ax = axes[0, 1]
        for p, t in sorted(data.stress.items()):
            ax.plot(t[:, 1], t[:, 2], "-", color=colors[p], label=f"{p:g} GPa")
        ax.set_xlabel("engineering strain ε$_{xx}$")
        ax.set_ylabel("stress σ$_{xx}$ (GPa)")
        ax.set_title("plane stress (constant strain rate)", fontsize=10)
        ax.legend(title="quench P", fontsize=8)
    return fig


def draw_1d(data, plt, colors):
    why = _need_series(data, "D_A")
    if why:
        return why
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    for p, (h, rows) in sorted(data.series.items()):
        r = [x for x in rows if "D_A" in x][-1]
        edges = np.array(h["bins"]["D_A"])
        counts = np.array(r["D_A"]["hist"], float)
        if edges[0] == 0.0 and len(edges) > 2:
            # logarithmic bins (pysoft.series.D_EDGES): the first bin [0, 0.01 Å) is left out of the
            # log axis; the density is per unit of log10 D
            lo, hi = edges[1:-1], edges[2:]
            dens = counts[1:] / max(counts.sum(), 1) / np.log10(hi / lo)
            centres = np.sqrt(lo * hi)
            log = True
        else:
            dens = counts / max(counts.sum(), 1) / np.diff(edges)
            centres = 0.5 * (edges[1:] + edges[:-1])
            log = False
        ax.step(centres, dens, where="mid", color=colors[p],
                label=f"{p:g} GPa (ε = {r['strain']:.2f}, ⟨D⟩ = {r['D_A']['mean']:.2f} Å)")
    ax.set_xlabel("cumulative non-affine displacement D of Al (Å)")
    if log:
        ax.set_xscale("log")
        ax.set_ylabel("probability density (per decade of D)")
    else:
        ax.set_ylabel("probability density (1/Å)")
    ax.legend(title="quench P", fontsize=7)
    return fig


def draw_2(data, plt, colors):
    why = _need_series(data, "bond_fraction")
    if why:
        return why
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), sharex=True)
    for ax, s in zip(axes, STATES):
        for p, (h, rows) in sorted(data.series.items()):
            rr = [r for r in rows if "bond_fraction" in r]
            ax.plot([r["strain"] for r in rr], [100 * r["bond_fraction"][s] for r in rr], "o-", ms=3,
                    color=colors[p], label=f"{p:g} GPa")
        _label_state_panel(ax, s, "engineering strain ε$_{xx}$", f"Al in {s} (% of Al)")
    axes[0].legend(title="quench P", fontsize=8)
    return fig


def _label_state_panel(ax, state, xlabel, ylabel):
    """Axis labels and the title of one bond-switching state's panel (Figs. 2A-C, 3A, 3B)."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(f"{state}: {STATE_NAMES[state]}", fontsize=10)


def draw_3a(data, plt, colors):
    why = _need_series(data, "bond_counts_by_cn0")
    if why:
        return why
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    ps = sorted(data.series)
    width = 0.8 / len(ps)
    strains = []
    for ax, s in zip(axes, STATES):
        for i, p in enumerate(ps):
            r = analysis_row([x for x in data.series[p][1] if "bond_counts_by_cn0" in x])
            strains.append(r["strain"])
            frac = []
            for cn in ("4", "5", "6"):
                c = r["bond_counts_by_cn0"].get(cn, {})
                n = sum(c.values())
                frac.append(100 * c.get(s, 0) / n if n else np.nan)
            ax.bar(np.arange(3) + (i - (len(ps) - 1) / 2) * width, frac, width, color=colors[p], label=f"{p:g} GPa")
        ax.set_xticks(range(3), ["Al4", "Al5", "Al6"])
        _label_state_panel(ax, s, "initial coordination of Al", f"Al$_n$ in {s} (% of Al$_n$)")
    axes[0].legend(title="quench P", fontsize=8)
    lo, hi = min(strains), max(strains)
    fig.suptitle(f"at strain {lo:.2f}" if hi - lo < 5e-3 else f"at strain {lo:.2f}–{hi:.2f}", fontsize=9)
    return fig


def draw_3b(data, plt, colors):
    why = _need_series(data, "switch_along_axis")
    if why:
        return why
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), sharex=True)
    for ax, s in zip(axes, STATES):
        for p, (h, rows) in sorted(data.series.items()):
            r = analysis_row([x for x in rows if "switch_along_axis" in x])
            counts = np.array(r["switch_along_axis"][s], float)
            x = (np.arange(len(counts)) + 0.5) / len(counts)
            ax.plot(x, counts, "o-", ms=3, color=colors[p], label=f"{p:g} GPa (ε = {r['strain']:.2f})")
        _label_state_panel(ax, s, "position along x (fraction of the box length)", f"Al in {s} per slab (atoms)")
    axes[0].legend(title="quench P", fontsize=7)
    return fig


def draw_3ce(data, plt, colors):
    why = _need_series(data, "local_stress_GPa")
    if why:
        return why
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), sharex=True)
    for ax, cn in zip(axes, ("4", "5", "6")):
        for p, (h, rows) in sorted(data.series.items()):
            # the quenched glass (step 0, unstrained): the paper's claims about Fig. 3C-E are about it
            rr = [x for x in rows if "local_stress_GPa" in x and x["step"] == 0]
            if not rr:
                continue
            hists = rr[0]["local_stress_GPa"]
            edges = np.array(h["bins"]["local_stress_GPa"])
            counts = np.array(hists[cn], float)
            if counts.sum() == 0:
                continue
            # normalised by the number of all Al, as the paper's panels
            n_al = float(np.sum(hists.get("all", counts))) + float(np.sum(hists.get("outside", 0)))
            dens = counts / n_al / np.diff(edges)
            mean = claims.mean_from_hist(counts, edges)[0]
            ax.step(0.5 * (edges[1:] + edges[:-1]), dens, where="mid", color=colors[p],
                    label=f"{p:g} GPa (mean {mean:+.1f} GPa)")
        ax.set_xlabel("local hydrostatic stress (GPa, + = tension)")
        ax.set_ylabel("Al$_n$ per Al, per GPa (1/GPa)")
        ax.set_title(f"Al{cn} (CN {cn}), quenched glass", fontsize=10)
        ax.legend(title="quench P", fontsize=7)
    return fig


def draw_4b(data, plt, colors):
    why = _need_series(data, "softness")
    if why:
        return why
    fig, ax = plt.subplots(figsize=(5.8, 3.8))
    for p, (h, rows) in sorted(data.series.items()):
        rr = [r for r in rows if "softness" in r]
        ax.plot([r["strain"] for r in rr], [r["softness"]["mean"] for r in rr], "o-", ms=3, color=colors[p],
                label=f"{p:g} GPa")
        if p in data.strain:
            on = claims.drop_onset(data.strain[p])
            if on is not None:
                ax.axvline(on[1], color=colors[p], ls=":", lw=1)
    ax.set_xlabel("engineering strain ε$_{xx}$")
    ax.set_ylabel("mean softness ⟨S⟩ of Al")
    ax.legend(title="quench P (dotted: onset of the drop)", fontsize=7)
    return fig


def draw_4c(data, plt, colors):
    why = _need_series(data, "p_dc_al5_by_s0")
    if why:
        return why
    strain, which = claims.common_strain(data, "p_dc_al5_by_s0")
    fig, ax = plt.subplots(figsize=(5.8, 3.8))
    drawn = False
    for p, (h, rows) in sorted(data.series.items()):
        rr = [x for x in rows if "p_dc_al5_by_s0" in x]
        if not rr:
            continue
        fit = claims.p_dc_fit(claims.row_at_strain(rr, strain), h["bins"]["s0"])
        if fit is None:
            continue
        drawn = True
        x, y = np.array(fit["s0"]), np.array(fit["p"])
        ci = np.array(fit["ci"])
        yerr = np.maximum([y - ci[:, 0], ci[:, 1] - y], 0.0)      # the Wilson interval holds y up to rounding
        pos = y > 0                                                 # log axis: a bin without DC is not drawn
        ax.errorbar(x[pos], y[pos], yerr=yerr[:, pos], fmt="o", ms=4, capsize=2, color=colors[p],
                    label=f"{p:g} GPa: slope of ln P {fit['slope']:+.2f} [{fit['slope_ci'][0]:+.2f}, "
                          f"{fit['slope_ci'][1]:+.2f}]")
        xf = np.linspace(x.min(), x.max(), 20)
        ax.plot(xf, np.exp(fit["intercept"] + fit["slope"] * xf), "-", lw=1, color=colors[p])
    if not drawn:
        plt.close(fig)
        return f"no glass has 3 S0 bins of {claims.MIN_BIN_AL5} or more Al5"
    ax.set_yscale("log")
    ax.set_xlabel("initial softness S$_0$ of Al5")
    ax.set_ylabel("P(DC | S$_0$) of Al5")
    ax.set_title(f"at {which}", fontsize=8)
    ax.legend(title="quench P (95 % intervals)", fontsize=7)
    return fig


def _draw_clusters(data, plt, colors, what, ylabel):
    why = _need_series(data, "clusters")
    if why:
        return why
    fig, ax = plt.subplots(figsize=(5.8, 3.8))
    for p, (h, rows) in sorted(data.series.items()):
        rr = [r for r in rows if "clusters" in r and what in r["clusters"]]
        ax.plot([r["strain"] for r in rr], [r["clusters"][what] for r in rr], "o-", ms=3, color=colors[p],
                label=f"{p:g} GPa")
    ax.set_xlabel("engineering strain ε$_{xx}$")
    ax.set_ylabel(ylabel)
    ax.legend(title="quench P", fontsize=8)
    return fig


def draw_5c(data, plt, colors):
    return _draw_clusters(data, plt, colors, "number", "number of high-softness clusters")


def draw_5d(data, plt, colors):
    return _draw_clusters(data, plt, colors, "largest", "largest high-softness cluster (Al atoms)")


def draw_s5(data, plt, colors):
    if len(data.quench) < 1:
        return "no quench result"
    ps = sorted(data.quench)
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    for k, m in (("Al4", "o"), ("Al5", "s"), ("Al6", "^")):
        ax.plot(ps, [100 * data.quench[p][k] for p in ps], m + "-", label=k)
    ax.plot(ps, [100 * (data.quench[p]["Al5"] + data.quench[p]["Al6"]) for p in ps], "d--", color="0.4",
            label="Al5 + Al6")
    ax.set_xlabel("quench pressure (GPa)")
    ax.set_ylabel("fraction of Al (%)")
    ax.legend(fontsize=8)
    return fig


def draw_crack(data, plt, colors):
    from pysoft.crack import boundary_softness, openings

    why = _need_series(data, "profile")
    if why:
        return why
    scored = {p: claims.crack_scores(data, p) for p in sorted(data.strain)}
    scored = {p: sc for p, sc in scored.items() if not isinstance(sc, str) and sc["S0"] is not None}
    if not scored:
        return "no fractured sample with a slab profile in its series"
    fig, axes = plt.subplots(2, len(scored), figsize=(5.2 * len(scored), 6.0), squeeze=False, sharex=True)
    for j, (p, sc) in enumerate(scored.items()):
        rows = [r for r in data.series[p][1] if r.get("profile") and "S_mean" in r["profile"]]
        gaps = openings(rows[-1]["profile"]["u_mean"])
        nb = len(gaps)
        xb = (np.arange(nb) + 1) / nb
        # the crack and its twins: the replicas of the unstrained glass are one glass
        period = sc["period"] or nb
        twins = [((sc["S0"]["boundary"] + k * period) % nb + 1) / nb for k in range(nb // period)]
        ax = axes[0, j]
        ax.plot(xb, gaps, "o-", ms=3, color=colors[p])
        ax.axhline(1 / nb, color="0.5", ls="--", lw=1)
        ax.axvline(sc["S0"]["position"], color="C3", lw=1)
        ax.set_ylabel("boundary opening (fraction of L)")
        ax.set_xlabel("boundary position along x (fraction of the box)")
        ax.set_title(f"{p:g} GPa: crack at x = {sc['S0']['position']:.2f}", fontsize=10)
        ax = axes[1, j]
        ax.plot(xb, boundary_softness(rows[0]["profile"]["S_mean"]), "o-", ms=3, color=colors[p],
                label=f"S0 ({'folded ' if sc['period'] else ''}rank of the crack {sc['S0']['rank'] + 1} of "
                      f"{sc['S0']['boundaries']})")
        if "before" in sc:
            before = [r for r in rows if r["step"] == sc["before"]["step"]][0]
            ax.plot(xb, boundary_softness(before["profile"]["S_mean"]), "o:", ms=3, color=colors[p], alpha=0.7,
                    label=f"S at the onset of the drop, ε = {sc['before']['strain']:.3f} "
                          f"(rank {sc['before']['rank'] + 1} of {sc['before']['boundaries']})")
        for k, x in enumerate(twins):
            ax.axvline(x, color="C3", lw=1, ls="-" if k == 0 else "--")
        ax.set_xlabel("boundary position along x (fraction of the box)")
        ax.set_ylabel("mean softness of the boundary")
        ax.legend(fontsize=7)
    return fig


def draw_s19b(data, plt, colors):
    if len(data.quench) < 1:
        return "no quench result"
    ps = np.array(sorted(data.quench))
    rho = np.array([data.quench[p]["density_g_cm3"] for p in ps])
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    ax.plot(ps, rho, "o", color="C0", label="this run")
    if len(ps) >= 2:
        a, b = np.polyfit(ps, rho, 1)
        ax.plot(ps, a * ps + b, "-", color="C0", lw=1, label=f"fit: {a:+.4f} g/cm³ per GPa")
    ax.set_xlabel("quench pressure (GPa)")
    ax.set_ylabel("density at 300 K, 0 GPa (g/cm³)")
    ax.legend(fontsize=8)
    return fig


from pysoft.training_report import draw_learning_curve  # noqa: E402  (the training figure lives there)

FIGURES = [
    ("1A", "fig1a_stress_strain.png", "Fig. 1A: stress–strain curves",
     "Tensile stress σxx against strain per quench pressure (plane strain: mean over the last t_avg ps of each "
     "step; plane stress, if run, on the right).", draw_1a),
    ("1D", "fig1d_D_distribution.png", "Fig. 1D: distribution of the cumulative non-affine displacement D",
     "Distribution of D of Al at the last strain step, per quench pressure.", draw_1d),
    ("2A-C", "fig2_bond_switching.png", "Fig. 2A–C: bond switching against strain",
     "Fraction of Al whose O neighbours changed relative to the unstrained glass: DC, IC, SC, per pressure.",
     draw_2),
    ("3A", "fig3a_switching_by_cn.png", "Fig. 3A: bond switching by initial coordination",
     "Fraction of Al4, Al5 and Al6 (initial CN) in DC, IC and SC at 50 % strain (or the last step).", draw_3a),
    ("3B", "fig3b_switching_along_x.png", "Fig. 3B: where bonds switch along the loading axis",
     "Number of Al in DC, IC and SC in 20 slabs along x at 50 % strain (or the last step).", draw_3b),
    ("3C-E", "fig3ce_local_stress.png", "Fig. 3C–E: local hydrostatic stress of Al4, Al5, Al6",
     "Distribution of the per-atom hydrostatic stress (virial / Voronoi volume) of Al by CN in the quenched "
     "glass (step 0 of the plane-strain loop, unstrained), per pressure, normalised by the number of all Al.", draw_3ce),
    ("4B", "fig4b_softness_vs_strain.png", "Fig. 4B: mean softness against strain",
     "Mean softness ⟨S⟩ of Al at each strain step; dotted lines mark the onset of each curve's steepest stress "
     "drop (the start of the uninterrupted fall of σxx that holds the steepest step).", draw_4b),
    ("4C", "fig4c_p_dc_vs_s0.png", "Fig. 4C: probability that an Al5 loses an O, against its initial softness",
     "P(DC | S0) of Al5 at one strain for all glasses (ε = 0.5, else the last strain all reached), S0 bins "
     "of 10 or more Al5, 95 % Wilson intervals, weighted fit of ln P; the paper: exponential, falling.", draw_4c),
    ("crack", "fig_crack_prediction.png", "Beyond the paper: where does it break?",
     "Top: opening of each slab boundary in the last step (dashed: affine; red: the crack). Bottom: boundary "
     "softness, unstrained (S0) and at the onset of the stress drop (dotted); red: the crack and its replica twins.", draw_crack),
    ("5C", "fig5c_cluster_number.png", "Fig. 5C: number of high-softness clusters",
     "Clusters of the softest 10 % of Al (linked within 3.7 Å) at each strain step.", draw_5c),
    ("5D", "fig5d_cluster_largest.png", "Fig. 5D: size of the largest high-softness cluster",
     "Al atoms in the largest cluster of the softest 10 % of Al at each strain step.", draw_5d),
    ("S5", "figS5_coordination_vs_pressure.png", "Fig. S5: Al coordination against quench pressure",
     "Fractions of 4-, 5- and 6-fold Al (O within 2.25 Å) in the quenched glasses.", draw_s5),
    ("S19B", "figS19b_density_vs_pressure.png", "Fig. S19B: density against quench pressure",
     "Density of the glasses at 300 K and zero pressure after the quench, with a linear fit.", draw_s19b),
    ("LC", "fig_learning_curve.png", "Training: held-out accuracy against the number of training events",
     "Random subsets of the training atoms (shaded: 2.5-97.5 %), one held-out set of atoms; a curve still "
     "rising at its end says the accuracy is limited by the number of events.", draw_learning_curve),
]
