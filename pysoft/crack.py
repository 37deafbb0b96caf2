"""Where does the crack open, and did the softness field say so beforehand?

The series of :class:`pysoft.hooks.PlaneStrainTally` holds, per strain step, a profile along the
loading axis over material slabs: every atom belongs for good to the slab of its fractional
position at the first step (X0), and each slab reports the mean fractional position of its atoms
now (``u_mean``) and the mean softness of its Al (``S_mean``).  An affine stretch keeps the slab
means evenly spaced; a crack is a jump between two neighbouring slabs, because the material on
either side relaxes back and the gap takes up the stretch.  So the crack plane is the slab
boundary with the largest opening, and it can be compared with the boundary that the softness
of the unstrained glass (S0, step 0) or of the glass at the onset of the stress drop ranks
softest (pysoft.claims).

Everything here is a pure function of the series rows, tested without LAMMPS.  Boundary b lies
between slab b and slab b + 1 (periodic: boundary nb - 1 is between the last slab and slab 0).
"""

import numpy as np


def openings(u_mean):
    """Opening of each slab boundary, in fractions of the box length (affine: 1 / nb each).

    ``u_mean`` is the per-slab mean fractional position; None (an empty slab) gives NaN.
    """
    u = np.array([np.nan if v is None else v for v in u_mean], float)
    gaps = np.empty_like(u)
    gaps[:-1] = u[1:] - u[:-1]
    gaps[-1] = u[0] + 1.0 - u[-1]
    return gaps


def crack_boundary(u_mean):
    """The boundary with the largest opening (where the crack is), and that opening."""
    gaps = openings(u_mean)
    if not np.isfinite(gaps).any():
        return None, float("nan")
    b = int(np.nanargmax(gaps))
    return b, float(gaps[b])


def boundary_softness(S_mean, width=1):
    """Softness of each boundary: the mean over the `width` slabs on each side (periodic)."""
    s = np.array([np.nan if v is None else v for v in S_mean], float)
    nb = len(s)
    idx = np.arange(nb)
    window = [(idx + k) % nb for k in range(1 - width, width + 1)]
    return np.nanmean(np.stack([s[w] for w in window]), axis=0)


def rank_of(boundary, scores):
    """0-based rank of `boundary` among the boundaries sorted by descending score: the number of
    boundaries that score strictly higher (a tie does not count against it)."""
    scores = np.asarray(scores, float)
    return int(np.sum(scores > scores[boundary]))


def periodic_distance(a, b, n):
    d = abs(a - b) % n
    return min(d, n - d)


def fold(profile, period):
    """A periodic slab profile averaged over its replicas (len(profile) / period of them)."""
    v = np.array([np.nan if x is None else x for x in profile], float)
    return np.nanmean(v.reshape(-1, period), axis=0)


def prediction_score(u_mean_final, S_mean, width=1, period=None):
    """How well a per-slab score (higher = cracks here; softness, or a baseline) points at the crack.

    With `period` (slabs per replica of a glass replicated along the axis), the score is folded
    over the replicas and the crack boundary taken modulo the period: a profile of the unstrained
    replicated glass cannot tell the replicas apart, so the crack's twin is as good as the crack.

    Returns a dict: the crack boundary (position, opening), the number of boundaries ranked and
    the crack's (folded) boundary among them, the predicted boundary (highest boundary score), the
    rank of the crack boundary and that rank as a fraction of the boundaries - 1 (0 = the top
    boundary is the crack; a random ranking gives 0.5 on average), and whether the prediction is
    within one boundary of the crack (chance 3 / boundaries).
    """
    nb = len(u_mean_final)
    b, gap = crack_boundary(u_mean_final)
    if b is None:
        return None
    s = np.array([np.nan if v is None else v for v in S_mean], float)
    if period and period < nb and nb % period == 0:
        s, m, bc = fold(s, period), period, b % period
    else:
        m, bc = nb, b
    score = boundary_softness(s, width)
    pred = int(np.nanargmax(score))
    rank = rank_of(bc, score)
    return {"boundary": b, "position": (b + 1) / nb, "opening": gap, "affine_opening": 1.0 / nb,
            "boundaries": m, "folded_boundary": bc, "predicted": pred, "rank": rank, "rank_fraction": rank / (m - 1),
            "hit_within_1": bool(periodic_distance(pred, bc, m) <= 1), "chance_rank_fraction": 0.5,
            "chance_hit_within_1": min(3, m) / m}
