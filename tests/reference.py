"""Independent brute-force references for the tests.

Written directly from the formulas of doc/method.md sections 4 and 5 and issue 2, in NumPy,
with every periodic image enumerated explicitly.  Nothing here is shared with the plugin.
"""

import itertools
import math

import numpy as np


def cell_matrix(boxlo, boxhi, xy=0.0, yz=0.0, xz=0.0):
    """Rows are the LAMMPS cell vectors a, b, c."""
    lx, ly, lz = np.subtract(boxhi, boxlo)
    return np.array([[lx, 0.0, 0.0], [xy, ly, 0.0], [xz, yz, lz]])


def image_shifts(cell, cutoff):
    """All lattice translations n.cell that can bring an image within `cutoff` of the cell."""
    a, b, c = cell
    vol = abs(np.dot(a, np.cross(b, c)))
    # plane spacings: the image range needed along each cell vector
    spacing = [vol / np.linalg.norm(np.cross(b, c)), vol / np.linalg.norm(np.cross(c, a)),
               vol / np.linalg.norm(np.cross(a, b))]
    reach = [int(math.ceil(cutoff / s)) + 1 for s in spacing]
    ns = itertools.product(*[range(-r, r + 1) for r in reach])
    return np.array([np.dot(n, cell) for n in ns])


def neighbours(x, i, cell, cutoff):
    """Indices j and displacement vectors x_j + shift - x_i of every image within cutoff."""
    shifts = image_shifts(cell, cutoff)
    d = x[None, :, :] + shifts[:, None, :] - x[i]
    r2 = np.einsum("sjk,sjk->sj", d, d)
    keep = (r2 < cutoff * cutoff) & (r2 > 0.0)
    s, j = np.nonzero(keep)
    return j, d[s, j]


def structure_functions(x, species, cell, spec):
    """Features of every atom: radial blocks per species, then angular blocks per pair."""
    rc = max(spec["radial"]["cutoff"], spec["angular"]["cutoff"] if spec.get("angular") else 0.0)
    rows = []
    for i in range(len(x)):
        j, d = neighbours(x, i, cell, rc)
        sj = species[j]
        ok = sj >= 0
        rows.append(neighbour_features(d[ok], sj[ok], spec))
    return np.array(rows).reshape(len(x), -1)


def neighbour_features(d, sj, spec):
    """Features of one centre from its neighbours' displacements d and species sj."""
    ns = len(spec["species"])
    first, last, step = spec["radial"]["mu"]
    mu = first + step * np.arange(int(round((last - first) / step)) + 1)
    L = spec["radial"]["L"]
    rc_rad = spec["radial"]["cutoff"]
    ang = spec.get("angular")
    rc_ang = ang["cutoff"] if ang else 0.0
    params = ang["params"] if ang else []
    pairs = [(a, b) for a in range(ns) for b in range(a, ns)]
    out = np.zeros(ns * len(mu) + len(pairs) * len(params))
    r = np.linalg.norm(d, axis=1)
    for s in range(ns):
        rs = r[(sj == s) & (r < rc_rad)]
        out[s * len(mu):(s + 1) * len(mu)] = np.exp(-((rs[:, None] - mu[None, :]) ** 2) / L**2).sum(0)
    if not ang:
        return out
    m = (r < rc_ang) & (r > 0)
    d, r, sj = d[m], r[m], sj[m]
    jj, kk = np.triu_indices(len(r), k=1)
    cos = np.einsum("pk,pk->p", d[jj], d[kk]) / (r[jj] * r[kk])
    rjk2 = np.einsum("pk,pk->p", d[jj] - d[kk], d[jj] - d[kk])
    ssum = r[jj] ** 2 + r[kk] ** 2 + rjk2
    lo, hi = np.minimum(sj[jj], sj[kk]), np.maximum(sj[jj], sj[kk])
    base = ns * len(mu)
    for p, (a, b) in enumerate(pairs):
        sel = (lo == a) & (hi == b)
        for q, (xi, lam, zeta) in enumerate(params):
            val = np.exp(-ssum[sel] / xi**2) * np.clip(1.0 + lam * cos[sel], 0.0, None) ** zeta
            out[base + p * len(params) + q] = val.sum()
    return out


# Bond switching (doc/method.md section 4), numbered as column 3 of compute bondswitch/atom.
UC, DC, IC, SC = 0, 1, 2, 3


def bonded_ids(x, types, cell, rc, centres, neighbour_types):
    """Per atom, the sorted ids (index + 1) of the atoms of `neighbour_types` closer than rc, one
    entry per periodic image; None for atoms that are not centres."""
    shifts = image_shifts(cell, rc)
    cand = np.flatnonzero(np.isin(types, neighbour_types))
    images = x[cand][None, :, :] + shifts[:, None, :]
    out = []
    for i in range(len(x)):
        if not centres[i]:
            out.append(None)
            continue
        d = images - x[i]
        r2 = np.einsum("sjk,sjk->sj", d, d)
        _, j = np.nonzero((r2 < rc * rc) & (r2 > 0.0))
        out.append(sorted(int(k) + 1 for k in cand[j]))
    return out


def bond_switch_state(ref_ids, now_ids):
    """DC / IC when the coordination number fell / rose, else SC when a neighbour id differs, else UC."""
    if len(now_ids) < len(ref_ids):
        return DC
    if len(now_ids) > len(ref_ids):
        return IC
    return UC if sorted(ref_ids) == sorted(now_ids) else SC


def bond_switching(x_ref, cell_ref, x_now, cell_now, types, centres, rc, neighbour_types):
    """Rows (reference CN, CN now, state) per atom; zeros for atoms that are not centres."""
    ref = bonded_ids(x_ref, types, cell_ref, rc, centres, neighbour_types)
    now = bonded_ids(x_now, types, cell_now, rc, centres, neighbour_types)
    out = np.zeros((len(x_now), 3))
    for i, (a, b) in enumerate(zip(ref, now)):
        if a is not None:
            out[i] = len(a), len(b), bond_switch_state(a, b)
    return out


def image_triples(cell, cutoff):
    """Integer triples n of every lattice translation n.cell that can bring an image within
    `cutoff` of the cell."""
    a, b, c = cell
    vol = abs(np.dot(a, np.cross(b, c)))
    spacing = [vol / np.linalg.norm(np.cross(b, c)), vol / np.linalg.norm(np.cross(c, a)),
               vol / np.linalg.norm(np.cross(a, b))]
    reach = [int(math.ceil(cutoff / s)) + 1 for s in spacing]
    return np.array(list(itertools.product(*[range(-r, r + 1) for r in reach])), dtype=float)


def d2min(u0, cell0, u, cell, cutoff):
    """Falk-Langer D2min of every atom: SUM over its reference neighbours of |d - J X|^2,
    minimised over J by least squares (numpy.linalg.lstsq).

    u0, u: unwrapped positions (N, 3) in the reference and the current configuration, rows in the
    same atom order; cell0, cell: their cells, rows a, b, c.  The neighbours of atom i are the
    images (j, n), j != i or n != 0, with X = u0_j + n.cell0 - u0_i shorter than `cutoff`;
    d = u_j + n.cell - u_i is the same image now.
    """
    u0, u = np.asarray(u0, float), np.asarray(u, float)
    triples = image_triples(np.asarray(cell0), cutoff)
    shifts0 = triples @ np.asarray(cell0)
    shifts = triples @ np.asarray(cell)
    out = np.zeros(len(u0))
    for i in range(len(u0)):
        X = u0[None, :, :] + shifts0[:, None, :] - u0[i]
        r2 = np.einsum("sjk,sjk->sj", X, X)
        s, j = np.nonzero((r2 < cutoff * cutoff) & (r2 > 0.0))
        if len(j) == 0:
            continue
        X = X[s, j]
        d = u[j] + shifts[s] - u[i]
        # rows: d_k^T = X_k^T J^T, so J^T is the least-squares solution of X J^T = d
        Jt = np.linalg.lstsq(X, d, rcond=None)[0]
        out[i] = np.sum((d - X @ Jt) ** 2)
    return out
