"""``pysoft report``: the paper's figures rebuilt from a run folder of ``pysoft run``.

Reads only what the pipeline wrote, through :class:`pysoft.runfolder.RunData`:

* every ``done.json``: the recorded results (the quench's density and Al4/Al5/Al6 fractions,
  how each plane-strain loop ended) and the wall times;
* ``planestrain/PxGPa/planestrain.txt``: step, strain, sxx, syy, szz (GPa), T, PE;
* ``planestrain/PxGPa/series.jsonl``: the per-step tally of :class:`pysoft.hooks.PlaneStrainTally`;
* ``planestress/PxGPa/planestress.txt``; ``train/model.json`` (metrics) and ``model_phop.png``.

and writes ``RUN_DIR/report/``: one PNG per figure and ``index.html``, which embeds the PNGs as
base64 data URIs and loads nothing from the network.  A figure whose data is missing is listed
with the reason instead of being drawn.  The validation section states, with numbers, whether the
run shows the paper's trends (doc/method.md sections 2, 6 and 7); a trend that is not seen is
flagged.
"""

import base64
import html
import json
import math
import os
import re
import time

import numpy as np

from pysoft import series
from pysoft.progress import hms
from pysoft.runfolder import RunData

__all__ = ["FIGURES", "ReportError", "RunData", "build_report", "render_html", "validate"]

STATES = series.SWITCHED
STATE_NAMES = {"DC": "decreased CN", "IC": "increased CN", "SC": "same CN, switched neighbour"}
MIN_DENSITY_RISE = 0.01        # g/cm3 over the pressure range (doc/method.md section 8: +0.15 over 0-4 GPa)
MIN_CN_RISE = 0.01             # fraction of Al, 1 point (doc/method.md section 8: +14 points over 0-4 GPa)
ACCURACY_FLOOR = 0.6            # "well above 0.5": at least this, and 2 standard errors above 0.5


class ReportError(ValueError):
    """The run folder holds nothing to report; one line for the user."""


# -- derived quantities -----------------------------------------------------------------------


def stress_drop(table):
    """(strain of the largest drop of sxx between consecutive steps, size of the drop in GPa).

    The drop is placed at the step where sxx has fallen (the end of the steepest fall).
    None when sxx never falls.
    """
    s = table[:, 2]
    if len(s) < 2:
        return None
    d = np.diff(s)
    k = int(np.argmin(d))
    if d[k] >= 0:
        return None
    return float(table[k + 1, 1]), float(-d[k])


def analysis_row(rows, target=0.5):
    """The series row at strain `target` (the paper's 50 %), else the last one."""
    strains = np.array([r["strain"] for r in rows])
    if strains.max() >= target - 1e-6:
        return rows[int(np.argmin(np.abs(strains - target)))]
    return rows[-1]


def peak_row(rows):
    """The series row at the peak of sxx."""
    return rows[int(np.argmax([r["stress_GPa"]["xx"] for r in rows]))]


def failure_row(data, p, rows):
    """The series row at the failure step (crack onset) of a fractured sample, else at peak sxx."""
    o = data.outcome.get(p)
    if o and o["fractured"]:
        at = [r for r in rows if r["step"] == o["failure_step"]]
        if at:
            return at[0]
    return peak_row(rows)


def ductility(table, outcome):
    """Strain at peak sxx, strain at failure and their difference (the yield regime), or None
    for a sample that did not fracture."""
    if not outcome or not outcome["fractured"]:
        return None
    e_peak = float(table[int(np.argmax(table[:, 2])), 1])
    e_fail = float(outcome["failure_strain"])
    return {"peak_strain": e_peak, "failure_strain": e_fail, "yield_regime": e_fail - e_peak}


def p_dc_trend(row, edges, min_total=10):
    """P(DC | S0) of Al5 over the S0 bins holding at least min_total Al5: the bin centres, the
    probabilities, and the Spearman rank correlation and least-squares slope of P against S0."""
    edges = np.asarray(edges, float)
    tot = np.array(row["p_dc_al5_by_s0"]["total"], float)
    dc = np.array(row["p_dc_al5_by_s0"]["dc"], float)
    ok = tot >= min_total
    if ok.sum() < 3:
        return None
    x = (0.5 * (edges[1:] + edges[:-1]))[ok]
    y = dc[ok] / tot[ok]
    rx, ry = np.argsort(np.argsort(x)), np.argsort(np.argsort(y))
    rho = float(np.corrcoef(rx, ry)[0, 1]) if np.std(ry) > 0 else 0.0
    slope = float(np.polyfit(x, y, 1)[0])
    return {"s0": x.tolist(), "p": y.tolist(), "n": tot[ok].astype(int).tolist(), "spearman": rho, "slope": slope}


def crack_scores(data, p):
    """Where sample p cracked and how S0 and the softness just before failure ranked that plane
    (pysoft.crack.prediction_score), or a reason why not."""
    from pysoft.crack import prediction_score

    o = data.outcome.get(p)
    if p not in data.series:
        return "no series"
    rows = [r for r in data.series[p][1] if r.get("profile") and "S_mean" in r["profile"]]
    if not rows:
        return "the series hold no slab profile"
    if not o or not o["fractured"]:
        return "did not fracture"
    final = rows[-1]["profile"]["u_mean"]
    before = [r for r in rows if r["step"] == o["failure_step"] - 1]
    out = {"S0": prediction_score(final, rows[0]["profile"]["S_mean"])}
    if before:
        out["before"] = prediction_score(final, before[0]["profile"]["S_mean"])
        out["before"]["step"] = before[0]["step"]
        out["before"]["strain"] = before[0]["strain"]
    return out


# -- validation ---------------------------------------------------------------------------------


def validate(data):
    """The paper's trends, checked on the run: a list of dicts (check, status, detail).

    status is "seen", "NOT seen" or "not testable" (data missing).
    """
    checks = []
    ps = sorted(data.quench)

    def trend(name, values, unit, fmt, least):
        if len(ps) < 2:
            checks.append({"check": name, "status": "not testable",
                           "detail": f"needs quench results at 2 or more pressures, found {len(ps)}"})
            return
        y = np.array([values(data.quench[p]) for p in ps])
        slope = float(np.polyfit(ps, y, 1)[0])
        rise = slope * (ps[-1] - ps[0])
        monotonic = bool(np.all(np.diff(y) > 0))
        seen = rise >= least and y[-1] > y[0]
        pairs = ", ".join(f"{p:g} GPa: {fmt(v)}" for p, v in zip(ps, y))
        detail = (f"fitted rise {fmt(rise)} over {ps[0]:g}-{ps[-1]:g} GPa (slope {slope:+.4g} {unit}/GPa; "
                  f"counted as a rise from {fmt(least)}); {pairs}")
        if seen and not monotonic:
            detail += " (rises overall, not at every step)"
        checks.append({"check": name, "status": "seen" if seen else "NOT seen", "detail": detail})

    trend("density rises with quench pressure", lambda r: r["density_g_cm3"], "g/cm³",
          lambda v: f"{v:.3f} g/cm³", MIN_DENSITY_RISE)
    trend("Al5 + Al6 fraction rises with quench pressure", lambda r: r["Al5"] + r["Al6"], "",
          lambda v: f"{100 * v:.1f} %", MIN_CN_RISE)

    m = (data.model or {}).get("metrics") or {}
    hold = m.get("holdout") or {}
    if "test" in hold and hold.get("n_test"):
        acc, n = float(hold["test"]), int(hold["n_test"])
        se = math.sqrt(0.25 / n)
        seen = acc >= ACCURACY_FLOOR and acc - 0.5 > 2 * se
        detail = (f"held-out test accuracy {acc:.3f} on {n} events (chance 0.5, standard error {se:.3f}; "
                  f"needs >= {ACCURACY_FLOOR} and 2 standard errors above 0.5); grouped CV "
                  f"{m.get('cv_accuracy', float('nan')):.3f}; paper 0.83")
        checks.append({"check": "softness model test accuracy well above 0.5", "status": "seen" if seen else "NOT seen",
                       "detail": detail})
    else:
        checks.append({"check": "softness model test accuracy well above 0.5", "status": "not testable",
                       "detail": "no train/model.json with a held-out test accuracy"})

    if data.series and data.strain:
        parts, ok, tested = [], True, 0
        for p in sorted(data.series):
            if p not in data.strain:
                continue
            rows = data.series[p][1]
            if not all("softness" in r for r in rows):
                continue
            tested += 1
            table = data.strain[p]
            de = float(np.median(np.diff(table[:, 1]))) if len(table) > 1 else 0.01
            tol = 2 * de + 1e-9
            s_peak = rows[int(np.argmax([r["softness"]["mean"] for r in rows]))]["strain"]
            drop = stress_drop(table)
            if drop is None:
                ok = False
                parts.append(f"{p:g} GPa: <S> peaks at strain {s_peak:.3f}, but sxx never drops")
                continue
            near = abs(s_peak - drop[0]) <= tol
            ok &= near
            parts.append(f"{p:g} GPa: <S> peaks at strain {s_peak:.3f}, largest stress drop ({drop[1]:.2f} GPa) "
                         f"at {drop[0]:.3f}{'' if near else ' - NOT near'}")
        if tested:
            checks.append({"check": "mean softness <S> peaks near the stress drop",
                           "status": "seen" if ok else "NOT seen",
                           "detail": "within 2 strain steps; " + "; ".join(parts)})
        else:
            checks.append({"check": "mean softness <S> peaks near the stress drop", "status": "not testable",
                           "detail": "the series hold no softness"})
    else:
        checks.append({"check": "mean softness <S> peaks near the stress drop", "status": "not testable",
                       "detail": "no plane-strain series.jsonl (the on-the-fly analysis did not run)"})

    checks.extend(_fracture_checks(data))
    return checks


def _fracture_checks(data):
    checks = []
    name = "the samples fracture (sxx below the loop's fraction of its peak, in.tension.planestrain)"
    if not data.strain:
        return [{"check": name, "status": "not testable", "detail": "no planestrain.txt"}]
    parts, ok = [], True
    for p, t in sorted(data.strain.items()):
        o = data.outcome.get(p)
        peak = float(t[:, 2].max())
        if o is None:
            # a stress-strain file written before the loop had a fracture criterion
            final = float(t[-1, 2])
            ok &= bool(peak > 0 and final / peak < 0.25)
            parts.append(f"{p:g} GPa: peak {peak:.2f} GPa, final {final:.2f} GPa at strain {t[-1, 1]:.2f} "
                         "(no outcome line: judged by final < 25 % of peak)")
            continue
        ok &= o["fractured"]
        parts.append(f"{p:g} GPa: peak {peak:.2f} GPa, " + (
            f"fractured at strain {o['failure_strain']:.3f}" if o["fractured"]
            else f"NOT fractured by strain {t[-1, 1]:.3f} (final {t[-1, 2]:.2f} GPa)"))
    checks.append({"check": name, "status": "seen" if ok else "NOT seen", "detail": "; ".join(parts)})

    ps = sorted(data.strain)
    name = "the highest-pressure glass is more ductile (longer yield regime or later failure)"
    if len(ps) < 2:
        checks.append({"check": name, "status": "not testable", "detail": "needs 2 or more pressures"})
    else:
        lo, hi = ps[0], ps[-1]
        d_lo, d_hi = ductility(data.strain[lo], data.outcome.get(lo)), ductility(data.strain[hi], data.outcome.get(hi))
        if d_lo is None or d_hi is None:
            checks.append({"check": name, "status": "not testable",
                           "detail": "needs both the lowest- and highest-pressure samples fractured"})
        else:
            seen = d_hi["yield_regime"] > d_lo["yield_regime"] or d_hi["failure_strain"] > d_lo["failure_strain"]
            detail = "; ".join(f"{p:g} GPa: peak stress at strain {d['peak_strain']:.3f}, failure at "
                               f"{d['failure_strain']:.3f}, yield regime {d['yield_regime']:.3f}"
                               for p, d in ((lo, d_lo), (hi, d_hi)))
            checks.append({"check": name, "status": "seen" if seen else "NOT seen",
                           "detail": detail + "; paper: the yield regime lengthens with quench pressure"})

    name = "P(DC | S0) of Al5 rises with S0 across the populated S0 bins (at failure)"
    parts, ok, tested = [], True, 0
    for p, (h, rows) in sorted(data.series.items()):
        rr = [r for r in rows if "p_dc_al5_by_s0" in r]
        if not rr:
            continue
        r = failure_row(data, p, rr)
        tr = p_dc_trend(r, h["bins"]["s0"])
        if tr is None:
            parts.append(f"{p:g} GPa: fewer than 3 S0 bins hold 10 Al5")
            ok = False
            continue
        tested += 1
        rises = tr["spearman"] > 0 and tr["slope"] > 0
        ok &= rises
        ps_ = ", ".join(f"{x:+.2f}: {y:.2f} (n={n})" for x, y, n in zip(tr["s0"], tr["p"], tr["n"]))
        parts.append(f"{p:g} GPa at strain {r['strain']:.3f}: Spearman {tr['spearman']:+.2f}, slope "
                     f"{tr['slope']:+.3f} per unit S0; P by S0 bin {ps_}")
    if tested:
        checks.append({"check": name, "status": "seen" if ok else "NOT seen",
                       "detail": "; ".join(parts) + " (the paper's text reads both ways: Fig. 4C 'approximately "
                                 "exponential in S', and 'with a decrease in <S>, the Al5 atoms tend to decrease "
                                 "their CN')"})
    else:
        checks.append({"check": name, "status": "not testable", "detail": "; ".join(parts) or "no series"})

    name = "beyond the paper: S0 alone points at the crack plane (within 1 slab boundary)"
    parts, ok, tested = [], True, 0
    for p in sorted(data.strain):
        sc = crack_scores(data, p)
        if isinstance(sc, str):
            parts.append(f"{p:g} GPa: {sc}")
            continue
        tested += 1
        a = sc["S0"]
        ok &= a["hit_within_1"]
        text = (f"{p:g} GPa: crack at x = {a['position']:.2f} of the box (opening {a['opening']:.3f} vs "
                f"{a['affine_opening']:.3f} affine); S0 ranks it {a['rank'] + 1} of {round(1 / a['affine_opening'])} "
                f"(rank fraction {a['rank_fraction']:.2f}, chance 0.50), predicted boundary {a['predicted']}, "
                f"{'hit' if a['hit_within_1'] else 'miss'}")
        if "before" in sc:
            b = sc["before"]
            text += (f"; S just before failure (strain {b['strain']:.3f}) ranks it {b['rank'] + 1} "
                     f"(rank fraction {b['rank_fraction']:.2f}), {'hit' if b['hit_within_1'] else 'miss'}")
        parts.append(text)
    if tested:
        chance = a["chance_hit_within_1"]
        checks.append({"check": name, "status": "seen" if ok else "NOT seen",
                       "detail": "; ".join(parts) + f" (chance of a hit {chance:.2f} per sample)"})
    else:
        checks.append({"check": name, "status": "not testable", "detail": "; ".join(parts) or "no plane-strain run"})
    return checks


# -- figures ------------------------------------------------------------------------------------


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
            rr = [x for x in rows if "local_stress_GPa" in x]
            r = peak_row(rr)
            edges = np.array(h["bins"]["local_stress_GPa"])
            counts = np.array(r["local_stress_GPa"][cn], float)
            if counts.sum() == 0:
                continue
            dens = counts / counts.sum() / np.diff(edges)
            ax.step(0.5 * (edges[1:] + edges[:-1]), dens, where="mid", color=colors[p],
                    label=f"{p:g} GPa (ε = {r['strain']:.2f})")
        ax.set_xlabel("local hydrostatic stress (GPa, + = tension)")
        ax.set_ylabel("probability density (1/GPa)")
        ax.set_title(f"Al{cn} (initial CN {cn})", fontsize=10)
    axes[0].legend(title="quench P, at peak stress", fontsize=7)
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
            drop = stress_drop(data.strain[p])
            if drop is not None:
                ax.axvline(drop[0], color=colors[p], ls=":", lw=1)
    ax.set_xlabel("engineering strain ε$_{xx}$")
    ax.set_ylabel("mean softness ⟨S⟩ of Al")
    ax.legend(title="quench P (dotted: stress drop)", fontsize=7)
    return fig


def draw_4c(data, plt, colors):
    why = _need_series(data, "p_dc_al5_by_s0")
    if why:
        return why
    fig, ax = plt.subplots(figsize=(5.8, 3.8))
    drawn = False
    for p, (h, rows) in sorted(data.series.items()):
        # at the peak of sxx, where cracks start: by 50 % strain nearly every Al5 of a small
        # sample has lost an O at some point and P(DC | S0) is 1 whatever S0
        r = failure_row(data, p, [x for x in rows if "p_dc_al5_by_s0" in x])
        edges = np.array(h["bins"]["s0"])
        tot = np.array(r["p_dc_al5_by_s0"]["total"], float)
        dc = np.array(r["p_dc_al5_by_s0"]["dc"], float)
        ok = (tot > 0) & (dc > 0)
        if not ok.any():
            continue
        drawn = True
        x = 0.5 * (edges[1:] + edges[:-1])
        ax.plot(x[ok], dc[ok] / tot[ok], "o-", ms=4, color=colors[p], label=f"{p:g} GPa (ε = {r['strain']:.2f})")
    if not drawn:
        plt.close(fig)
        return "no Al5 has decreased its CN in any series"
    ax.set_yscale("log")
    ax.set_xlabel("initial softness S$_0$ of Al5")
    ax.set_ylabel("P(DC | S$_0$) of Al5")
    ax.legend(title="quench P", fontsize=7)
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
    scored = {p: crack_scores(data, p) for p in sorted(data.strain)}
    scored = {p: sc for p, sc in scored.items() if not isinstance(sc, str)}
    if not scored:
        return "no fractured sample with a slab profile in its series"
    fig, axes = plt.subplots(2, len(scored), figsize=(5.2 * len(scored), 6.0), squeeze=False, sharex=True)
    for j, (p, sc) in enumerate(scored.items()):
        rows = [r for r in data.series[p][1] if r.get("profile") and "S_mean" in r["profile"]]
        gaps = openings(rows[-1]["profile"]["u_mean"])
        nb = len(gaps)
        xb = (np.arange(nb) + 1) / nb
        ax = axes[0, j]
        ax.plot(xb, gaps, "o-", ms=3, color=colors[p])
        ax.axhline(1 / nb, color="0.5", ls="--", lw=1)
        ax.axvline(sc["S0"]["position"], color="C3", lw=1)
        ax.set_ylabel("boundary opening (fraction of L)")
        ax.set_xlabel("boundary position along x (fraction of the box)")
        ax.set_title(f"{p:g} GPa: crack at x = {sc['S0']['position']:.2f}", fontsize=10)
        ax = axes[1, j]
        ax.plot(xb, boundary_softness(rows[0]["profile"]["S_mean"]), "o-", ms=3, color=colors[p],
                label=f"S0 (rank of the crack {sc['S0']['rank'] + 1} of {nb})")
        if "before" in sc:
            before = [r for r in rows if r["step"] == sc["before"]["step"]][0]
            ax.plot(xb, boundary_softness(before["profile"]["S_mean"]), "o:", ms=3, color=colors[p], alpha=0.7,
                    label=f"S at ε = {sc['before']['strain']:.3f} (rank {sc['before']['rank'] + 1})")
        ax.axvline(sc["S0"]["position"], color="C3", lw=1)
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
     "Distribution of the per-atom hydrostatic stress (virial / Voronoi volume) of Al by initial CN, at the "
     "step of peak σxx, per pressure.", draw_3ce),
    ("4B", "fig4b_softness_vs_strain.png", "Fig. 4B: mean softness against strain",
     "Mean softness ⟨S⟩ of Al at each strain step; dotted lines mark each curve's largest stress drop.", draw_4b),
    ("4C", "fig4c_p_dc_vs_s0.png", "Fig. 4C: probability that an Al5 loses an O, against its initial softness",
     "P(DC | S0) of Al5 at the failure step of each sample (else at peak σxx; strain in the legend), bins "
     "with at least one DC, log scale: the paper finds an about exponential dependence on S0.", draw_4c),
    ("crack", "fig_crack_prediction.png", "Beyond the paper: where does it break?",
     "Top: opening of each material-slab boundary in the last step (dashed: affine; red: the crack). "
     "Bottom: boundary softness in the unstrained glass (S0) and just before failure (dotted).", draw_crack),
    ("5C", "fig5c_cluster_number.png", "Fig. 5C: number of high-softness clusters",
     "Clusters of the softest 10 % of Al (linked within 3.7 Å) at each strain step.", draw_5c),
    ("5D", "fig5d_cluster_largest.png", "Fig. 5D: size of the largest high-softness cluster",
     "Al atoms in the largest cluster of the softest 10 % of Al at each strain step.", draw_5d),
    ("S5", "figS5_coordination_vs_pressure.png", "Fig. S5: Al coordination against quench pressure",
     "Fractions of 4-, 5- and 6-fold Al (O within 2.25 Å) in the quenched glasses.", draw_s5),
    ("S19B", "figS19b_density_vs_pressure.png", "Fig. S19B: density against quench pressure",
     "Density of the glasses at 300 K and zero pressure after the quench, with a linear fit.", draw_s19b),
]


# -- the report -------------------------------------------------------------------------------------


def build_report(run_dir, out_dir=None):
    """Write RUN_DIR/report/index.html and its PNGs; return the path of index.html."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = RunData(run_dir)
    if data.empty:
        raise ReportError(f"{run_dir} holds no results of pysoft run (no quench, planestrain or train output)")
    out_dir = out_dir or os.path.join(data.run_dir, "report")
    os.makedirs(out_dir, exist_ok=True)
    colors = _colors(data.pressures) if data.pressures else {}
    figures = []
    for key, filename, title, caption, draw in FIGURES:
        f = Figure(key, filename, title, caption, draw)
        try:
            fig = draw(data, plt, colors)
        except (KeyError, IndexError, ValueError, TypeError) as e:
            fig = f"its data could not be read ({type(e).__name__}: {e})"
        if isinstance(fig, str):
            f.missing = fig
        else:
            f.path = os.path.join(out_dir, filename)
            fig.tight_layout()
            fig.savefig(f.path, dpi=100, metadata={"Software": None})
            plt.close(fig)
        figures.append(f)
    figures += _keyframe_figures(data.run_dir, out_dir)
    if data.phop_png:
        f = Figure("phop", "train_phop.png", "Training: phop of Al over the 300 K trajectories",
                   "Distribution of phop with the thresholds of rearranging (dashed) and non-rearranging (dotted) "
                   "events, per pressure.", None)
        import shutil

        f.path = os.path.join(out_dir, f.filename)
        shutil.copyfile(data.phop_png, f.path)
        figures.append(f)
    checks = validate(data)
    index = os.path.join(out_dir, "index.html")
    tmp = index + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(render_html(data, figures, checks))
    os.replace(tmp, index)
    with open(os.path.join(out_dir, "validation.json"), "w") as fh:
        json.dump({"checks": checks, "figures": {f.key: (f.filename if f.path else None) for f in figures},
                   "missing": {f.key: f.missing for f in figures if f.missing}}, fh, indent=1)
    return index


def _keyframe_figures(run_dir, out_dir):
    """The bar at the key moments, coloured by softness (pysoft.snapshot, Fig. 5A-B)."""
    from pysoft.snapshot import report_figures

    figures = []
    for e in report_figures(run_dir, out_dir):
        f = Figure(e["key"], e["filename"], e["title"], e["caption"], None)
        f.path, f.missing = e.get("path"), e.get("missing")
        figures.append(f)
    return figures


def _e(s):
    return html.escape(str(s))


def _img(path):
    with open(path, "rb") as fh:
        return "data:image/png;base64," + base64.b64encode(fh.read()).decode("ascii")


CSS = """
body { font-family: sans-serif; max-width: 1150px; margin: 1em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.2em; font-size: 0.9em; }
td, th { border: 1px solid #bbb; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #eee; }
.seen { color: #176117; font-weight: bold; }
.not { color: #b00000; font-weight: bold; }
.untested { color: #8a6d00; font-weight: bold; }
figure { margin: 1.2em 0; border-top: 1px solid #ddd; padding-top: 0.6em; }
figure img { max-width: 100%; }
figcaption { font-size: 0.9em; color: #444; }
.missing { color: #8a6d00; }
"""


def render_html(data, figures, checks):
    cfg = data.config
    title = cfg.get("name") or os.path.basename(data.run_dir)
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>pysoft report: {_e(title)}</title><style>{CSS}</style></head><body>",
           f"<h1>pysoft report: {_e(title)}</h1>",
           f"<p>Run folder <code>{_e(data.run_dir)}</code>; report written {_e(time.strftime('%Y-%m-%d %H:%M'))}. "
           "Figures rebuilt from this run's own data after Du et al., ACS Nano 2021 "
           "(doi 10.1021/acsnano.1c05619); panel names are the paper's.</p>"]
    if cfg:
        out.append(f"<p>{_e(5 * cfg.get('units', 0))} atoms per glass, quench pressures "
                   f"{_e(', '.join(f'{p:g}' for p in cfg.get('pressures', [])))} GPa, {_e(cfg.get('np', '?'))} MPI "
                   f"rank(s), stages {_e(', '.join(cfg.get('stages', [])))}.</p>")

    out.append("<h2>Validation against the paper's trends</h2><table><tr><th>trend</th><th>status</th>"
               "<th>numbers</th></tr>")
    for c in checks:
        cls = {"seen": "seen", "NOT seen": "not"}.get(c["status"], "untested")
        out.append(f"<tr><td>{_e(c['check'])}</td><td class=\"{cls}\">{_e(c['status'])}</td>"
                   f"<td>{_e(c['detail'])}</td></tr>")
    out.append("</table>")
    flagged = [c["check"] for c in checks if c["status"] != "seen"]
    if flagged:
        out.append(f"<p class=\"not\">Not shown by this run: {_e('; '.join(flagged))}.</p>")

    out.append("<h2>Figures</h2><ul>")
    for f in figures:
        if f.path:
            out.append(f'<li><a href="#fig-{_e(f.key)}">{_e(f.title)}</a> ({_e(f.filename)})</li>')
        else:
            out.append(f'<li class="missing">{_e(f.title)}: not drawn, {_e(f.missing)}</li>')
    out.append("</ul>")
    for f in figures:
        if f.path:
            out.append(f'<figure id="fig-{_e(f.key)}"><h3>{_e(f.title)}</h3><img alt="{_e(f.title)}" '
                       f'src="{_img(f.path)}"><figcaption>{_e(f.caption)}</figcaption></figure>')

    out.append("<h2>Softness model: training metrics</h2>")
    out.extend(_training_tables(data))
    out.append("<h2>Quenched glasses</h2>")
    out.extend(_quench_table(data))
    out.append("<h2>Stages: wall time</h2>")
    out.extend(_stage_table(data))
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _training_tables(data):
    if not data.model:
        return ['<p class="missing">No train/model.json in this run.</p>']
    m, prov = data.model.get("metrics") or {}, data.model.get("provenance") or {}
    ev = prov.get("events") or {}
    rows = [("rearranging events (phop peak > {} Å²)".format(prov.get("hop_threshold_A2", "?")), ev.get("rearranging")),
            ("non-rearranging (atom, frame) pairs (phop < {} Å²)".format(prov.get("calm_threshold_A2", "?")),
             ev.get("non_rearranging")),
            ("events used (balanced, both classes)", m.get("n_samples")),
            ("features", m.get("n_features")), ("SVM C (chosen by grouped CV)", m.get("C")),
            ("grouped CV accuracy", _acc(m.get("cv_accuracy"), m.get("cv_std"))),
            ("radial-only CV accuracy (paper 0.79)", _acc(m.get("radial_only_cv_accuracy"))),
            ("radial + angular CV accuracy (paper 0.84/0.83)", _acc(m.get("all_features_cv_accuracy")))]
    h = m.get("holdout") or {}
    if h:
        rows.append(("held-out atoms (20 %): train / test", f"{_acc(h.get('train'))} / {_acc(h.get('test'))} "
                                                           f"({h.get('n_test', '?')} test events)"))
    ts = m.get("time_split") or {}
    rows.append(("time split (earliest 80 % / latest 20 % of each class's events): train / test",
                 f"{_acc(ts.get('train'))} / {_acc(ts.get('test'))} ({ts.get('n_test', '?')} test events)"
                 if "test" in ts else ts.get("note", "-")))
    out = ["<table><tr><th>quantity</th><th>value</th></tr>"]
    out += [f"<tr><td>{_e(k)}</td><td>{_e('-' if v is None else v)}</td></tr>" for k, v in rows]
    out.append("</table>")
    loso = m.get("leave_one_sample_out") or []
    out.append("<p>Leave one pressure out (the paper's Table S1: 0.833 → 0.798 on average, worst 0.693):</p>")
    if loso:
        out.append("<table><tr><th>test sample (pressure)</th><th>accuracy</th><th>test events</th></tr>")
        for r in loso:
            mt = re.search(r"P([-+0-9.eE]+)GPa", r.get("test", ""))
            name = f"{float(mt.group(1)):g} GPa" if mt else r.get("test", "?")
            acc = _acc(r["accuracy"]) if "accuracy" in r else r.get("note", "-")
            out.append(f"<tr><td>{_e(name)}</td><td>{_e(acc)}</td><td>{_e(r.get('n_test', '-'))}</td></tr>")
        out.append("</table>")
    else:
        out.append('<p class="missing">not available (one sample only)</p>')
    cv = m.get("cv") or []
    if cv:
        out.append("<table><tr><th>C</th><th>grouped CV accuracy</th></tr>")
        out += [f"<tr><td>{_e(r['C'])}</td><td>{_e(_acc(r['mean'], r.get('std')))}</td></tr>" for r in cv]
        out.append("</table>")
    return out


def _acc(v, std=None):
    if v is None:
        return "-"
    return f"{v:.3f}" + (f" ± {std:.3f}" if std is not None else "")


def _quench_table(data):
    if not data.quench:
        return ['<p class="missing">No quench results.</p>']
    out = ["<table><tr><th>P (GPa)</th><th>density (g/cm³)</th><th>Al4 (%)</th><th>Al5 (%)</th><th>Al6 (%)</th>"
           "<th>other (%)</th></tr>"]
    for p, r in sorted(data.quench.items()):
        out.append(f"<tr><td>{p:g}</td><td>{r['density_g_cm3']:.4f}</td><td>{100 * r['Al4']:.1f}</td>"
                   f"<td>{100 * r['Al5']:.1f}</td><td>{100 * r['Al6']:.1f}</td><td>{100 * r['other']:.1f}</td></tr>")
    out.append("</table>")
    return out


def _stage_table(data):
    if not data.done:
        return ['<p class="missing">No finished stages recorded (done.json).</p>']
    done = data.done              # in stage order, then by pressure
    out = ["<table><tr><th>stage</th><th>wall time</th><th>CPU time (all ranks)</th><th>MPI ranks</th>"
           "<th>work</th><th>finished</th></tr>"]
    total = cpu = 0.0
    for d in done:
        total += d.get("wall_s", 0.0)
        cpu += d.get("cpu_s") or 0.0
        work = f"{d.get('cost', 0):.3g} {d.get('cost_unit', '')}"
        cpu_s = hms(d["cpu_s"]) if d.get("cpu_s") is not None else "-"
        out.append(f"<tr><td>{_e(d.get('label', d.get('stage')))}</td><td>{_e(hms(d.get('wall_s', 0)))}</td>"
                   f"<td>{_e(cpu_s)}</td><td>{_e(d.get('np', '?'))}</td><td>{_e(work)}</td>"
                   f"<td>{_e(d.get('finished', ''))}</td></tr>")
    out.append(f"<tr><th>all</th><th>{_e(hms(total))}</th><th>{_e(hms(cpu))}</th><th></th><th></th><th></th>"
               "</tr></table>")
    return out

