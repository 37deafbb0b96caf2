"""The paper's claims and the tests that decide whether a run shows them, in one place.

Every claim is a pure function of a run's data (:class:`pysoft.runfolder.RunData`) that returns a
:class:`Claim`: the paper's words it tests, its verdict, the numbers behind the verdict and the
chance or baseline pass rate of the same test.  ``pysoft report`` (HTML) and ``pysoft report
--gallery`` render these and nothing else; doc/method.md section 7 states the rules.

A claim is "seen" only by a test as strict as the paper's words:

* a trend in a probability (P(DC | S0) of Al5) is seen when the 95 % interval of the slope of
  log P against S0 lies wholly on the paper's side of 0, in every glass;
* a position (the <S> peak, the crack plane) is compared with a tolerance fixed in strain or in
  slabs, and the pass rate of a random placement is printed beside it;
* where a simpler quantity could pass the same test (the mean non-affine displacement, the local
  stress, the density of the unstrained glass), it is run through the same test and printed
  beside it.

To add a claim: write a function ``claim_xxx(data) -> Claim`` below and append it to ``CLAIMS``;
the HTML report and the gallery pick it up.  The math (fits, intervals, plateau, onset of the
drop) lives in plain functions above the claims, each tested on constructed data in
tests/test_claims.py.
"""

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from pysoft import series
from pysoft.crack import prediction_score

SEEN, NOT_SEEN, UNTESTABLE, REPORTED = "seen", "NOT seen", "not testable", "reported"

MIN_DENSITY_RISE = 0.01        # g/cm3 over the pressure range (doc/method.md section 8: +0.15 over 0-4 GPa)
MIN_CN_RISE = 0.01             # fraction of Al, 1 point (doc/method.md section 8: +14 points over 0-4 GPa)
ACCURACY_FLOOR = 0.6           # "well above 0.5": at least this, and 2 standard errors above 0.5
P_DC_STRAIN = 0.5              # the paper counts the DC of Al5 at this strain (Fig. 4C)
MIN_BIN_AL5 = 10               # an S0 bin enters the fit of log P with at least this many Al5
PLATEAU_FRACTION = 0.9         # the yield regime: sigma >= this fraction of the peak ...
PEAK_TOLERANCE = 0.025         # strain: "agrees well" (Fig. 4B) read as within 2.5 of the paper's 1 % steps
Z95 = 1.959963984540054


@dataclass
class Claim:
    """One claim of the paper, tested on one run.

    check : what is tested, in a few words; paper : the paper's words it tests; status : seen,
    NOT seen, not testable, or reported (a number shown on its own row, not a claim); detail :
    the numbers behind the verdict, in one paragraph; chance : the pass rate of the same test
    on chance or on a baseline quantity; numbers : the same numbers, machine-readable.
    """

    check: str
    paper: str
    status: str
    detail: str
    chance: str = ""
    numbers: dict = field(default_factory=dict)

    def as_dict(self):
        return asdict(self)


# -- statistics -------------------------------------------------------------------------------


def wilson_interval(k, n, z=Z95):
    """95 % (Wilson score) interval of a binomial proportion k / n."""
    if n <= 0:
        return (0.0, 1.0)
    p = k / n
    den = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, centre - half), min(1.0, centre + half))


def log_p_slope(x, k, n):
    """Weighted least-squares fit of log P against x for binomial counts (k of n per bin).

    P is estimated as (k + 0.5) / (n + 1) so that an empty or full bin has a finite log; each
    bin is weighted by the inverse binomial variance of log P, n p / (1 - p).  The slope's
    standard error is scaled up by the residual spread when the bins scatter more than binomial
    noise (never down).  Returns (slope, intercept, (lo, hi) 95 % interval of the slope).
    """
    x, k, n = (np.asarray(v, float) for v in (x, k, n))
    p = (k + 0.5) / (n + 1.0)
    y = np.log(p)
    w = n * p / np.maximum(1.0 - p, 1e-12)
    xm = np.sum(w * x) / np.sum(w)
    ym = np.sum(w * y) / np.sum(w)
    sxx = np.sum(w * (x - xm) ** 2)
    slope = float(np.sum(w * (x - xm) * (y - ym)) / sxx)
    icpt = float(ym - slope * xm)
    dof = len(x) - 2
    chi2 = float(np.sum(w * (y - icpt - slope * x) ** 2))
    scale = max(1.0, chi2 / dof) if dof > 0 else 1.0
    se = math.sqrt(scale / sxx)
    return slope, icpt, (slope - Z95 * se, slope + Z95 * se)


def mean_from_hist(counts, edges):
    """(mean, standard error of the mean, n) of a histogram, at the bin centres."""
    c = np.asarray(counts, float)
    e = np.asarray(edges, float)
    n = c.sum()
    if n < 2:
        return float("nan"), float("nan"), int(n)
    x = 0.5 * (e[1:] + e[:-1])
    m = float(np.sum(c * x) / n)
    var = float(np.sum(c * (x - m) ** 2) / (n - 1))
    return m, math.sqrt(var / n), int(n)


# -- the stress-strain curve ------------------------------------------------------------------


def steepest_drop(table):
    """Index k of the steepest single-step fall of sxx (from row k to k + 1), or None."""
    s = np.asarray(table)[:, 2]
    if len(s) < 2:
        return None
    d = np.diff(s)
    k = int(np.argmin(d))
    return None if d[k] >= 0 else k


def drop_onset(table):
    """The onset of the steepest stress drop: the row where the uninterrupted fall of sxx that
    contains the steepest single-step fall begins (the last row before sxx starts to fall).

    Returns (row index, strain, sxx there in GPa), or None when sxx never falls.
    """
    t = np.asarray(table)
    k = steepest_drop(t)
    if k is None:
        return None
    s = t[:, 2]
    j = k
    while j > 0 and s[j - 1] > s[j]:
        j -= 1
    return j, float(t[j, 1]), float(s[j])


def yield_plateau(table, fraction=PLATEAU_FRACTION):
    """The yield regime of a stress-strain curve as a plateau: the strain range, up to the onset
    of the steepest drop, over which sxx stays at or above `fraction` of its peak without a
    break, ending at the last such row before the onset.

    Returns a dict (start, end, length in strain, peak in GPa), or None when sxx never falls.
    """
    t = np.asarray(table)
    on = drop_onset(t)
    if on is None:
        return None
    j = on[0]
    s = t[: j + 1, 2]
    peak = float(s.max())
    ok = s >= fraction * peak
    end = j if ok[j] else int(np.nonzero(ok)[0][-1])
    start = end
    while start > 0 and ok[start - 1]:
        start -= 1
    return {"start": float(t[start, 1]), "end": float(t[end, 1]),
            "length": float(t[end, 1] - t[start, 1]), "peak_GPa": peak}


def random_peak_rate(strains, target, tol):
    """Pass rate of a peak placed at random on one of the strain steps: the fraction of steps
    within tol of target."""
    e = np.asarray(strains, float)
    return float(np.mean(np.abs(e - target) <= tol + 1e-9))


# -- the crack plane (pysoft.crack) --------------------------------------------------------------------------


# Per-slab quantities of the unstrained glass whose ranking of the crack is compared with S0's,
# each with the sign that makes "higher = cracks here", fixed before looking at any run: a less
# dense slab, a slab of lower mean Al coordination (less densified), a slab under more local
# tension, a slab of larger Al Voronoi volume.
BASELINES = (("atom density (fewer atoms)", "n", -1.0), ("mean initial Al CN (lower)", "CN0_mean", -1.0),
             ("local hydrostatic stress of Al (more tensile)", "hyd_mean", 1.0),
             ("Voronoi volume of Al (larger)", "V_mean", 1.0))


# -- the run's data ---------------------------------------------------------------------------


def _pairs(ps, values, fmt):
    return ", ".join(f"{p:g} GPa: {fmt(v)}" for p, v in zip(ps, values))


def series_rows(data, p, key):
    return [r for r in data.series[p][1] if key in r] if p in data.series else []


def row_at_strain(rows, strain):
    return rows[int(np.argmin(np.abs(np.array([r["strain"] for r in rows]) - strain)))]


def common_strain(data, key, target=P_DC_STRAIN):
    """The strain at which every glass is compared: target where every series holding `key`
    reached it, else the largest strain all of them reached; and which of the two it is."""
    tops = [max(r["strain"] for r in rows) for p in sorted(data.series) for rows in [series_rows(data, p, key)] if rows]
    if not tops:
        return None, ""
    if min(tops) >= target - 1e-6:
        return target, f"ε = {target:g}, as the paper"
    return min(tops), f"ε = {min(tops):.3f}, the last strain all glasses reached (not all reached {target:g})"


def onset_row(data, p):
    """The series row at the onset of the steepest stress drop of glass p, or None."""
    if p not in data.strain or p not in data.series:
        return None
    on = drop_onset(data.strain[p])
    if on is None:
        return None
    rows = data.series[p][1]
    # planestrain.txt prints the strain to 4 decimals
    at = [r for r in rows if abs(r["strain"] - on[1]) < 1e-4]
    return at[0] if at else None


# -- the claims -------------------------------------------------------------------------------


def _trend(data, name, paper, value, fmt, least):
    ps = sorted(data.quench)
    if len(ps) < 2:
        return Claim(name, paper, UNTESTABLE, f"needs quench results at 2 or more pressures, found {len(ps)}")
    y = np.array([value(data.quench[p]) for p in ps])
    slope = float(np.polyfit(ps, y, 1)[0])
    rise = slope * (ps[-1] - ps[0])
    seen = rise >= least and y[-1] > y[0]
    detail = f"fitted rise {fmt(rise)} over {ps[0]:g}-{ps[-1]:g} GPa; {_pairs(ps, y, fmt)}"
    if seen and not np.all(np.diff(y) > 0):
        detail += " (rises overall, not at every step)"
    return Claim(name, paper, SEEN if seen else NOT_SEEN, detail,
                 f"a rise counts from {fmt(least)}; glasses in random order rise with probability 0.5",
                 {"pressures": ps, "values": y.tolist(), "rise": rise})


def claim_density(data):
    return _trend(data, "density rises with quench pressure", "S19B: density rises linearly with pressure",
                  lambda r: r["density_g_cm3"], lambda v: f"{v:.3f} g/cm³", MIN_DENSITY_RISE)


def claim_coordination(data):
    return _trend(data, "Al5 + Al6 fraction rises with quench pressure",
                  "S5: Al5 and Al6 rise, Al4 falls with quench pressure",
                  lambda r: r["Al5"] + r["Al6"], lambda v: f"{100 * v:.1f} %", MIN_CN_RISE)


def claim_accuracy(data):
    name = "softness model held-out accuracy well above chance"
    paper = "the classifier reaches 84 % (train) and 83 % (test)"
    m = (data.model or {}).get("metrics") or {}
    hold = m.get("holdout") or {}
    if "test" not in hold or not hold.get("n_test"):
        return Claim(name, paper, UNTESTABLE, "no train/model.json with a held-out test accuracy")
    acc, n = float(hold["test"]), int(hold["n_test"])
    # the held-out classes need not be balanced: chance is the majority class's share where the
    # model stores it (pysoft.evaluation), else 0.5 (models trained on a balanced split before it)
    base = float(hold.get("majority_baseline", 0.5))
    se = math.sqrt(base * (1 - base) / n) if 0 < base < 1 else math.sqrt(0.25 / n)
    seen = acc >= ACCURACY_FLOOR and acc - base > 2 * se
    detail = (f"held-out test accuracy {acc:.3f} on {n} events (needs >= {ACCURACY_FLOOR} and 2 standard errors "
              f"above the majority-class baseline)")
    if "balanced_accuracy" in hold:
        detail += f"; balanced accuracy {float(hold['balanced_accuracy']):.3f}"
    detail += f"; grouped CV {m.get('cv_accuracy', float('nan')):.3f}"
    if m.get("cv_on"):
        detail += f" (on {m['cv_on']})"
    return Claim(name, paper, SEEN if seen else NOT_SEEN, detail,
                 f"majority-class baseline {base:.3f}, standard error {se:.3f}",
                 {"test": acc, "n_test": n, "baseline": base})


def claim_fracture(data):
    name = "the samples fracture (sxx below the loop's fraction of its peak, in.tension.planestrain)"
    paper = "all the samples exhibit a fairly brittle response (a sudden drop of stress)"
    if not data.strain:
        return Claim(name, paper, UNTESTABLE, "no planestrain.txt")
    parts, ok = [], True
    for p, t in sorted(data.strain.items()):
        o = data.outcome.get(p)
        peak = float(t[:, 2].max())
        if o is None:
            final = float(t[-1, 2])
            ok &= bool(peak > 0 and final / peak < 0.25)
            parts.append(f"{p:g} GPa: peak {peak:.2f} GPa, final {final:.2f} GPa at strain {t[-1, 1]:.2f} "
                         "(no outcome line: judged by final < 25 % of peak)")
            continue
        ok &= o["fractured"]
        parts.append(f"{p:g} GPa: peak {peak:.2f} GPa, " + (
            f"fractured at strain {o['failure_strain']:.3f}" if o["fractured"]
            else f"NOT fractured by strain {t[-1, 1]:.3f} (final {t[-1, 2]:.2f} GPa)"))
    return Claim(name, paper, SEEN if ok else NOT_SEEN, "; ".join(parts), "not a statistical test")


def claim_ductility(data):
    """The yield regime (a plateau, yield_plateau) of the highest-pressure glass is longer than
    the lowest-pressure glass's by at least one strain step."""
    name = (f"the yield regime (σxx ≥ {PLATEAU_FRACTION:.0%} of peak, up to the onset of the steepest drop) "
            "is longer in the highest-pressure glass")
    paper = "with an increase in the pressure during quenching, the yielding regime becomes more pronounced"
    ps = sorted(data.strain)
    if len(ps) < 2:
        return Claim(name, paper, UNTESTABLE, "needs 2 or more pressures")
    plat = {p: yield_plateau(data.strain[p]) for p in ps}
    if any(v is None for v in plat.values()):
        return Claim(name, paper, UNTESTABLE, "σxx never falls in " +
                     ", ".join(f"{p:g} GPa" for p, v in plat.items() if v is None))
    de = max(float(np.median(np.diff(data.strain[p][:, 1]))) for p in ps)
    lo, hi = plat[ps[0]], plat[ps[-1]]
    seen = hi["length"] >= lo["length"] + de - 1e-9
    detail = "; ".join(f"{p:g} GPa: plateau ε = {v['start']:.3f}-{v['end']:.3f} (length {v['length']:.3f}, "
                       f"peak {v['peak_GPa']:.2f} GPa)" for p, v in plat.items())
    detail += f"; longer means by at least one strain step ({de:.3f})"
    return Claim(name, paper, SEEN if seen else NOT_SEEN, detail,
                 "two glasses in random order: 0.5", {"plateau": {str(p): v for p, v in plat.items()}})


def claim_failure_strain(data):
    name = "failure strain against quench pressure (reported on its own; not the paper's ductility claim)"
    paper = "-"
    ps = [p for p in sorted(data.strain) if (data.outcome.get(p) or {}).get("fractured")]
    if not ps:
        return Claim(name, paper, UNTESTABLE, "no fractured sample with an outcome line")
    return Claim(name, paper, REPORTED,
                 "; ".join(f"{p:g} GPa: fractured at ε = {data.outcome[p]['failure_strain']:.3f}" for p in ps))


def _peak_baselines(rows):
    """Per-row quantities that rise with strain until the bar relaxes: each is run through the
    <S> peak test beside softness."""
    out = {"⟨D⟩ of Al": [r.get("D_A", {}).get("mean") for r in rows],
           "hydrostatic tension of the bar (σxx+σyy+σzz)/3": [
               sum(r["stress_GPa"][c] for c in ("xx", "yy", "zz")) / 3
               if all(c in r.get("stress_GPa", {}) for c in ("xx", "yy", "zz")) else None for r in rows]}
    return {k: v for k, v in out.items() if all(x is not None for x in v)}


def claim_softness_peak(data):
    name = f"mean softness ⟨S⟩ peaks at the onset of the steepest stress drop (within ε ± {PEAK_TOLERANCE:g})"
    paper = ("the strain at the maximum <S> agrees well with the strain for which stress starts to decrease "
             "rapidly, i.e., the onset of crack propagation")
    parts, ok, tested, rate, base_ok = [], True, 0, 1.0, {}
    for p in sorted(data.series):
        rows = series_rows(data, p, "softness")
        if not rows or p not in data.strain:
            continue
        on = drop_onset(data.strain[p])
        if on is None:
            parts.append(f"{p:g} GPa: σxx never falls")
            ok = False
            continue
        tested += 1
        e = [r["strain"] for r in rows]
        e_peak = e[int(np.argmax([r["softness"]["mean"] for r in rows]))]
        near = abs(e_peak - on[1]) <= PEAK_TOLERANCE + 1e-9
        ok &= bool(near)
        r_rate = random_peak_rate(e, on[1], PEAK_TOLERANCE)
        rate *= r_rate
        text = (f"{p:g} GPa: ⟨S⟩ peaks at ε = {e_peak:.3f}, the drop starts at ε = {on[1]:.3f} "
                f"({'near' if near else 'NOT near'}; a random step is near with probability {r_rate:.2f})")
        for k, v in _peak_baselines(rows).items():
            b_peak = e[int(np.nanargmax(v))]
            b_near = abs(b_peak - on[1]) <= PEAK_TOLERANCE + 1e-9
            base_ok[k] = bool(base_ok.get(k, True) and b_near)
            text += f"; {k} peaks at {b_peak:.3f}"
        parts.append(text)
    if not tested:
        return Claim(name, paper, UNTESTABLE, "; ".join(parts) or "no series with softness and a stress-strain file")
    chance = f"a random peak passes in every glass with probability {rate:.3f}"
    if base_ok:
        chance += "; the same test on " + ", ".join(f"{k}: {'passes' if v else 'fails'}" for k, v in base_ok.items())
    detail = "; ".join(parts)
    passing = [k for k, v in base_ok.items() if v]
    if ok and passing:
        detail += f" (so does {', '.join(passing)}: this test does not single out softness)"
    return Claim(name, paper, SEEN if ok else NOT_SEEN, detail, chance,
                 {"random_rate": rate, "baselines_pass": base_ok})


def p_dc_fit(row, edges, min_total=MIN_BIN_AL5):
    """P(DC | S0) of Al5 in one series row: the populated bins (at least min_total Al5), their
    P with 95 % Wilson intervals, and the fit of log P against S0 (log_p_slope); None when fewer
    than 3 bins are populated."""
    edges = np.asarray(edges, float)
    tot = np.array(row["p_dc_al5_by_s0"]["total"], float)
    dc = np.array(row["p_dc_al5_by_s0"]["dc"], float)
    ok = tot >= min_total
    if ok.sum() < 3:
        return None
    x = (0.5 * (edges[1:] + edges[:-1]))[ok]
    slope, icpt, ci = log_p_slope(x, dc[ok], tot[ok])
    return {"s0": x.tolist(), "p": (dc[ok] / tot[ok]).tolist(), "n": tot[ok].astype(int).tolist(),
            "ci": [wilson_interval(k, n) for k, n in zip(dc[ok], tot[ok])],
            "slope": slope, "intercept": icpt, "slope_ci": ci, "falls": ci[1] < 0}


def claim_p_dc(data):
    name = "P(DC | S0) of Al5 falls with S0 (slope of log P: 95 % interval below 0 in every glass)"
    paper = ("PR exhibits an approximate exponential dependence on <S>, and with a decrease in <S>, the Al5 "
             "atoms tend to decrease their CN")
    strain, which = common_strain(data, "p_dc_al5_by_s0")
    if strain is None:
        return Claim(name, paper, UNTESTABLE, "no series with P(DC | S0)")
    parts, ok, tested, fits = [], True, 0, {}
    for p in sorted(data.series):
        rows = series_rows(data, p, "p_dc_al5_by_s0")
        if not rows:
            continue
        r = row_at_strain(rows, strain)
        fit = p_dc_fit(r, data.series[p][0]["bins"]["s0"])
        if fit is None:
            parts.append(f"{p:g} GPa: fewer than 3 S0 bins hold {MIN_BIN_AL5} Al5")
            ok = False
            continue
        tested += 1
        fits[str(p)] = fit
        ok &= fit["falls"]
        bins = ", ".join(f"{x:+.2f}: {y:.2f} [{c[0]:.2f}, {c[1]:.2f}] (n={n})"
                         for x, y, c, n in zip(fit["s0"], fit["p"], fit["ci"], fit["n"]))
        parts.append(f"{p:g} GPa at ε = {r['strain']:.3f}: slope of ln P {fit['slope']:+.3f} per unit S0, 95 % "
                     f"[{fit['slope_ci'][0]:+.3f}, {fit['slope_ci'][1]:+.3f}]"
                     f"{'' if fit['falls'] else ' - not falling'}; "
                     f"P by S0 bin {bins}")
    status = (SEEN if ok else NOT_SEEN) if tested else UNTESTABLE
    detail = f"at {which}; " + "; ".join(parts)
    return Claim(name, paper, status, detail,
                 f"a flat P passes with probability 0.025 per glass ({0.025 ** max(tested, 1):.2g} for all {tested})",
                 {"strain": strain, "fits": fits})


def crack_scores(data, p):
    """How the profiles of glass p rank its crack plane: S0 and the simple quantities of the
    unstrained glass (folded by the replica period), and the softness at the onset of the
    steepest stress drop (unfolded: the strained replicas differ); or a reason why not."""
    o = data.outcome.get(p)
    if p not in data.series:
        return "no series"
    rows = [r for r in data.series[p][1] if r.get("profile") and "S_mean" in r["profile"]]
    if not rows:
        return "the series hold no slab profile"
    if not o or not o["fractured"]:
        return "did not fracture"
    nx = int(((data.config or {}).get("planestrain") or {}).get("nx", 1) or 1)
    nb = len(rows[0]["profile"]["S_mean"])
    period = nb // nx if nx > 1 and nb % nx == 0 else None
    final = rows[-1]["profile"]["u_mean"]
    first = rows[0]["profile"]
    out = {"period": period, "replicas": nx, "S0": prediction_score(final, first["S_mean"], period=period),
           "baselines": {}}
    for label, key, sign in BASELINES:
        if key in first:
            v = [None if x is None else sign * x for x in first[key]]
            out["baselines"][label] = prediction_score(final, v, period=period)
    on = onset_row(data, p)
    if on is not None and on.get("profile") and "S_mean" in on["profile"]:
        out["before"] = prediction_score(final, on["profile"]["S_mean"])
        out["before"]["step"], out["before"]["strain"] = on["step"], on["strain"]
        peak = float(data.strain[p][:, 2].max())
        out["before"]["stress_fraction"] = on["stress_GPa"]["xx"] / peak if peak > 0 else float("nan")
    return out


def claim_crack(data):
    name = "beyond the paper: S0 alone points at the crack plane (within 1 boundary, folded by the replica period)"
    paper = "(not in the paper: Fig. 5A-B shows soft regions where the crack forms, qualitatively)"
    parts, ok, tested, chance, wins, nbase = [], True, 0, 1.0, 0, 0
    for p in sorted(data.strain):
        sc = crack_scores(data, p)
        if isinstance(sc, str):
            parts.append(f"{p:g} GPa: {sc}")
            continue
        a = sc["S0"]
        if a is None:
            parts.append(f"{p:g} GPa: no crack boundary")
            continue
        tested += 1
        ok &= a["hit_within_1"]
        chance *= a["chance_hit_within_1"]
        fold_txt = f"folded over {sc['replicas']} replicas" if sc["period"] else "unfolded"
        text = (f"{p:g} GPa: crack at x = {a['position']:.2f} of the box (opening {a['opening']:.3f} vs "
                f"{a['affine_opening']:.3f} affine); S0 ({fold_txt}) ranks it {a['rank'] + 1} of {a['boundaries']}, "
                f"{'hit' if a['hit_within_1'] else 'miss'}")
        base = sc["baselines"]
        if base:
            text += "; " + ", ".join(f"{k} ranks it {b['rank'] + 1}" for k, b in base.items())
            nbase = len(base)
            if all(a["rank"] < b["rank"] for b in base.values()):
                wins += 1
        if "before" in sc:
            b = sc["before"]
            text += (f"; S at the onset of the drop (ε = {b['strain']:.3f}, σxx at {b['stress_fraction']:.0%} of "
                     f"peak) ranks it {b['rank'] + 1} of {b['boundaries']}")
        parts.append(text)
    if not tested:
        return Claim(name, paper, UNTESTABLE, "; ".join(parts) or "no plane-strain run")
    detail = "; ".join(parts)
    if nbase:
        detail += f". S0 ranks the crack above every simple quantity in {wins} of {tested} glasses"
    return Claim(name, paper, SEEN if ok else NOT_SEEN, detail,
                 f"a random boundary hits in every glass with probability {chance:.3f}; a random ranking has rank "
                 "fraction 0.5", {"wins_over_baselines": wins, "tested": tested})


def _quenched_stress(data, p):
    """{CN: (mean, standard error, n)} of the local hydrostatic stress of Al in the unstrained
    glass (step 0 of the plane-strain series), from its histograms."""
    rows = series_rows(data, p, "local_stress_GPa")
    if not rows or rows[0]["step"] != 0:
        return None
    edges = data.series[p][0]["bins"]["local_stress_GPa"]
    return {cn: mean_from_hist(rows[0]["local_stress_GPa"][cn], edges) for cn in ("4", "5", "6")}


def _diff_ci(a, b):
    """95 % interval of the difference of two means (mean, standard error, n)."""
    d = b[0] - a[0]
    h = Z95 * math.hypot(a[1], b[1])
    return d, (d - h, d + h)


def claim_stress_by_cn(data):
    name = "in the quenched glasses, the local stress on Al rises with CN (Al4 < Al5 < Al6, 95 % intervals)"
    paper = "we thus find that the stress on Al increases with CN"
    parts, ok, tested = [], True, 0
    for p in sorted(data.series):
        m = _quenched_stress(data, p)
        if m is None or any(v[2] < 2 for v in m.values()):
            parts.append(f"{p:g} GPa: no local stress of Al4, Al5 and Al6 at step 0")
            continue
        tested += 1
        d45, c45 = _diff_ci(m["4"], m["5"])
        d56, c56 = _diff_ci(m["5"], m["6"])
        rises = c45[0] > 0 and c56[0] > 0
        ok &= rises
        parts.append(f"{p:g} GPa: "
                     + ", ".join(f"Al{cn} {v[0]:+.2f} ± {v[1]:.2f} GPa (n={v[2]})" for cn, v in m.items())
                     + f"; Al5 - Al4 {d45:+.2f} [{c45[0]:+.2f}, {c45[1]:+.2f}], Al6 - Al5 {d56:+.2f} "
                       f"[{c56[0]:+.2f}, {c56[1]:+.2f}]" + ("" if rises else " - not rising"))
    if not tested:
        return Claim(name, paper, UNTESTABLE, "; ".join(parts) or "no plane-strain series with local stress")
    return Claim(name, paper, SEEN if ok else NOT_SEEN, "; ".join(parts) + " (mean at the histogram's bin centres)",
                 "with no CN effect each of the two steps passes with probability 0.025")


def claim_stress_by_pressure(data):
    name = ("in the quenched glasses, the local stress on Al4 and Al5 rises with quench pressure "
            "and shifts less for Al6")
    paper = ("with an increase in pressure, the stress experienced by Al4 and Al5 atoms increases; for Al6 atoms, "
             "there is no significant pressure-induced shift in the stress distribution")
    ps = [p for p in sorted(data.series) if _quenched_stress(data, p)]
    if len(ps) < 2:
        return Claim(name, paper, UNTESTABLE, "needs local stress of the unstrained glass at 2 or more pressures")
    lo, hi = _quenched_stress(data, ps[0]), _quenched_stress(data, ps[-1])
    if any(v[2] < 2 for m in (lo, hi) for v in m.values()):
        return Claim(name, paper, UNTESTABLE, "too few Al4, Al5 or Al6 in a glass")
    shifts = {cn: _diff_ci(lo[cn], hi[cn]) for cn in ("4", "5", "6")}
    rises = shifts["4"][1][0] > 0 and shifts["5"][1][0] > 0
    al6_less = abs(shifts["6"][0]) < min(shifts["4"][0], shifts["5"][0])
    detail = "; ".join(f"Al{cn}: {lo[cn][0]:+.2f} → {hi[cn][0]:+.2f} GPa, shift {d:+.2f} [{c[0]:+.2f}, {c[1]:+.2f}]"
                       for cn, (d, c) in shifts.items())
    detail += (f" ({ps[0]:g} → {ps[-1]:g} GPa; Al6 shift {'smaller' if al6_less else 'NOT smaller'} "
               "than Al4's and Al5's)")
    return Claim(name, paper, SEEN if rises and al6_less else NOT_SEEN, detail,
                 "with no pressure effect each rise passes with probability 0.025",
                 {"shifts": {cn: d for cn, (d, _) in shifts.items()}})


CLAIMS = [claim_density, claim_coordination, claim_accuracy, claim_fracture, claim_ductility, claim_failure_strain,
          claim_softness_peak, claim_p_dc, claim_crack, claim_stress_by_cn, claim_stress_by_pressure]


def evaluate(data):
    """Every claim of CLAIMS, tested on the run: a list of dicts (Claim.as_dict)."""
    return [c(data).as_dict() for c in CLAIMS]
