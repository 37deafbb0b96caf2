"""One row of the strain-loop series from per-atom arrays: the pure reduction behind
:class:`pysoft.hooks.PlaneStrainTally`.

Everything here takes numpy arrays of the atoms a rank owns and an mpi4py-like communicator
(``allreduce``, ``reduce``, ``allgather``, ``alltoall``, ``bcast``, ``Get_rank``, ``Get_size``;
:class:`SerialComm` for one process without MPI).  Nothing imports LAMMPS, so the reduction is
tested on its own (tests/test_tally.py), on one rank and under mpirun.

Nothing per step grows with the atom count on one rank: every rank works on its own atoms and
exchanges fixed-size histograms, or the few atoms near a slab boundary.

* The top-fraction threshold is numpy's linear-interpolation quantile (``np.quantile``, the
  default method) of the softness of all centre atoms, found without gathering them: the two
  order statistics it interpolates are selected exactly by a radix select on the bits of the
  floats (8 rounds of a 256-bin histogram, summed over ranks).  Threshold and selected set are
  bit for bit those of ``np.quantile`` on the gathered array.
* The clusters of soft atoms are found in slabs: each soft atom goes to the rank of its slab
  (fractional coordinate along the longest cell height), with a copy of the atoms within the
  cutoff above each slab boundary to the rank below.  Each rank links its atoms with a cell list
  (O(n), numba); a cluster that crosses a boundary takes the smallest atom ID of its parts,
  passed across the boundaries until nothing changes; each cluster's size is summed on the rank
  given by its label.  doc/method.md ("High-softness clusters") says why not compute cluster/atom.
"""

from dataclasses import dataclass

import numpy as np
from pysoft.jit import njit_cached

from pysoft import series


class SerialComm:
    """A communicator of one rank: the reduction without MPI."""

    def Get_rank(self):
        return 0

    def Get_size(self):
        return 1

    def allreduce(self, value, op=None):
        return value

    def reduce(self, value, op=None, root=0):
        return value

    def allgather(self, value):
        return [value]

    def gather(self, value, root=0):
        return [value]

    def alltoall(self, values):
        return list(values)

    def bcast(self, value, root=0):
        return value

    def Barrier(self):
        pass


# -- histograms --------------------------------------------------------------------------------


def hist(values, edges):
    """Counts in bins, with under/overflow folded into the end bins."""
    v = np.clip(values, edges[0], np.nextafter(edges[-1], -np.inf))
    return np.histogram(v, bins=edges)[0]


def outside(values, edges):
    """How many values lie outside the edges (folded into the end bins by hist)."""
    return int(np.count_nonzero((values < edges[0]) | (values >= edges[-1])))


def global_min_max(comm, values):
    lo = min(comm.allgather(float(values.min()) if len(values) else np.inf))
    hi = max(comm.allgather(float(values.max()) if len(values) else -np.inf))
    return lo, hi


def data_edges(comm, values, nbins, widen, fallback):
    """Bins spanning the global [min, max] of `values` (all ranks), widened by `widen` times that
    range on each side; `fallback` when there is no spread.  Exact and O(1) per rank."""
    lo, hi = global_min_max(comm, values)
    if not (np.isfinite(lo) and np.isfinite(hi)) or hi - lo <= 1e-9 * max(abs(lo), abs(hi), 1.0):
        return np.asarray(fallback, float)
    w = hi - lo
    a, b = lo - widen * w, hi + widen * w
    # a round bin width on a grid of its multiples: the edges then do not move with the last
    # bits of min/max, which differ between rank counts (sums in another order)
    raw = (b - a) / nbins
    decade = 10.0 ** np.floor(np.log10(raw))
    width = decade * next(f for f in (1.0, 2.0, 2.5, 5.0, 10.0) if f * decade >= raw * (1 - 1e-12))
    start = np.floor(a / width) * width
    n = int(np.ceil((b - start) / width - 1e-9))
    return start + width * np.arange(n + 1)


def first_bins(comm, S, hyd):
    """The histogram edges of a series, from its first step (softness S and local stress hyd of
    the centre atoms; either may be None)."""
    bins = {"softness": series.S_EDGES, "D_A": series.D_EDGES, "local_stress_GPa": series.SIGMA_EDGES,
            "s0": series.S0_EDGES}
    if S is not None:
        bins["softness"] = data_edges(comm, S, series.S_BINS, series.S_WIDEN, series.S_EDGES)
        # the first step's S is S0, which never changes: no widening
        bins["s0"] = data_edges(comm, S, series.S0_BINS, 0.0, series.S0_EDGES)
    if hyd is not None:
        bins["local_stress_GPa"] = data_edges(comm, hyd, series.SIGMA_BINS, series.SIGMA_WIDEN, series.SIGMA_EDGES)
    return bins


# -- the top-fraction threshold ------------------------------------------------------------------

_SIGN = np.uint64(1 << 63)


def _sortable(values):
    """uint64 keys in the order of the float64 values (IEEE: flip all bits of negatives, the
    sign bit of the rest)."""
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)
    return np.where(bits & _SIGN, ~bits, bits | _SIGN)


def _unsortable(key):
    key = int(key)
    bits = key ^ (1 << 63) if key >> 63 else ~key & ((1 << 64) - 1)
    return float(np.array(bits, dtype=np.uint64).view(np.float64))


def order_statistic(comm, values, k):
    """The k-th smallest (0-based) of the values of all ranks, exactly: a radix select over the
    64 bits of the sortable keys, 8 bits a round; each round sums a 256-bin histogram over the
    ranks and keeps the candidates in the bin that holds the k-th."""
    keys = _sortable(values)
    prefix = 0
    for shift in range(56, -1, -8):
        digits = ((keys >> np.uint64(shift)) & np.uint64(255)).astype(np.intp)
        counts = comm.allreduce(np.bincount(digits, minlength=256))
        cum = np.cumsum(counts)
        d = int(np.searchsorted(cum, k, side="right"))
        if d > 0:
            k -= int(cum[d - 1])
        prefix |= d << shift
        keys = keys[digits == d]
    return _unsortable(prefix)


def quantile(comm, values, q, n=None):
    """``np.quantile(all values, q)`` (method "linear") of the values of all ranks, without
    gathering them: the same virtual index, the same two order statistics, the same
    interpolation (numpy's _lerp), so the result is the same float."""
    if n is None:
        n = comm.allreduce(len(values))
    if n == 0:
        raise ValueError("quantile of no values")
    v = (n - 1) * np.float64(q)
    if v >= n - 1:
        return order_statistic(comm, values, n - 1)
    if v < 0:
        return order_statistic(comm, values, 0)
    prev = np.floor(v)
    a = order_statistic(comm, values, int(prev))
    b = order_statistic(comm, values, int(prev) + 1)
    t = v - prev
    diff = np.float64(b) - np.float64(a)
    if t >= 0.5:
        return float(np.float64(b) - diff * (1 - t))
    return float(np.float64(a) + diff * t)


# -- clusters of soft atoms --------------------------------------------------------------------


def heights(cell):
    """Distances between opposite faces of the cell (rows a, b, c)."""
    vol = abs(np.linalg.det(cell))
    return np.array([vol / np.linalg.norm(np.cross(cell[(d + 1) % 3], cell[(d + 2) % 3])) for d in range(3)])


def cluster_sizes(points, cell, cutoff):
    """Sizes of the clusters of points linked when closer than `cutoff` (minimum image), on one
    process.  Requires cutoff < half the shortest cell height."""
    points = np.asarray(points, float).reshape(-1, 3)
    if len(points) == 0:
        return np.zeros(0, int)
    cell = np.asarray(cell, float)
    h = heights(cell)
    _check_cutoff(h, cutoff)
    frac = points @ np.linalg.inv(cell)
    frac -= np.floor(frac)
    roots = _components(frac, cell, cutoff, np.ones(3, bool), np.zeros(3), np.ones(3), h)
    return np.bincount(roots)[np.unique(roots)]


def _check_cutoff(h, cutoff):
    if not cutoff < 0.5 * h.min():
        raise ValueError(f"cluster cutoff {cutoff} Å is not below half the shortest cell height "
                         f"({0.5 * h.min():.3f} Å): the minimum image is ambiguous")


def _components(frac, cell, cutoff, periodic, lo, width, h):
    """Root index of each point's cluster (a cell list over [lo, lo + width) in fractional
    coordinates; periodic axes use the minimum image)."""
    nb = np.maximum(1, np.floor(width * h / cutoff)).astype(np.int64)
    idx = np.clip(((frac - lo) / width * nb).astype(np.int64), 0, nb - 1)
    flat = (idx[:, 0] * nb[1] + idx[:, 1]) * nb[2] + idx[:, 2]
    order = np.argsort(flat, kind="stable")
    start = np.searchsorted(flat[order], np.arange(nb.prod() + 1))
    return _link_cells(np.ascontiguousarray(frac), np.ascontiguousarray(cell), cutoff * cutoff,
                       periodic.astype(np.bool_), nb, idx, order, start)


@njit_cached()
def _find(parent, a):
    while parent[a] != a:
        parent[a] = parent[parent[a]]
        a = parent[a]
    return a


@njit_cached()
def _link_cells(frac, cell, cutsq, periodic, nb, idx, order, start):
    n = frac.shape[0]
    parent = np.arange(n)
    cand = np.empty((3, 3), np.int64)
    ncand = np.empty(3, np.int64)
    for i in range(n):
        for d in range(3):
            c, m = idx[i, d], nb[d]
            if periodic[d] and m <= 3:
                for k in range(m):
                    cand[d, k] = k
                ncand[d] = m
            else:
                k = 0
                for off in (-1, 0, 1):
                    e = c + off
                    if periodic[d]:
                        e %= m
                    elif e < 0 or e >= m:
                        continue
                    cand[d, k] = e
                    k += 1
                ncand[d] = k
        for p in range(ncand[0]):
            for q in range(ncand[1]):
                for r in range(ncand[2]):
                    cc = (cand[0, p] * nb[1] + cand[1, q]) * nb[2] + cand[2, r]
                    for s in range(start[cc], start[cc + 1]):
                        j = order[s]
                        if j <= i:
                            continue
                        d0 = frac[j, 0] - frac[i, 0]
                        d1 = frac[j, 1] - frac[i, 1]
                        d2 = frac[j, 2] - frac[i, 2]
                        if periodic[0]:
                            d0 -= np.round(d0)
                        if periodic[1]:
                            d1 -= np.round(d1)
                        if periodic[2]:
                            d2 -= np.round(d2)
                        x = d0 * cell[0, 0] + d1 * cell[1, 0] + d2 * cell[2, 0]
                        y = d1 * cell[1, 1] + d2 * cell[2, 1]
                        z = d2 * cell[2, 2]
                        if x * x + y * y + z * z < cutsq:
                            a = _find(parent, i)
                            b = _find(parent, j)
                            if a != b:
                                parent[max(a, b)] = min(a, b)
    for i in range(n):
        parent[i] = _find(parent, i)
    return parent


def _exchange(comm, outgoing):
    """alltoall of {rank: object}; returns the list received, one entry per rank (None if none)."""
    return comm.alltoall([outgoing.get(r) for r in range(comm.Get_size())])


def cluster_stats(comm, ids, x, boxlo, cell, cutoff):
    """Number and largest size of the clusters of the soft atoms of all ranks (atom IDs `ids`,
    positions `x` of those this rank owns; box origin `boxlo`, cell rows a, b, c), linked when
    closer than `cutoff` (minimum image), and how many soft atoms there are."""
    P, me = comm.Get_size(), comm.Get_rank()
    cell = np.asarray(cell, float)
    h = heights(cell)
    _check_cutoff(h, cutoff)
    frac = (np.asarray(x, float).reshape(-1, 3) - np.asarray(boxlo, float)) @ np.linalg.inv(cell)
    frac -= np.floor(frac)
    frac[frac >= 1.0] = 0.0                      # -tiny - floor(-tiny) rounds to 1.0
    ids = np.asarray(ids, np.int64)
    a = int(np.argmax(h))
    nslab = max(1, min(P, int(h[a] // cutoff)))  # a slab is at least the cutoff thick
    w = cutoff / h[a]

    # 1. each soft atom to the rank of its slab
    slab = np.minimum((frac[:, a] * nslab).astype(np.int64), nslab - 1)
    got = _exchange(comm, {r: (ids[slab == r], frac[slab == r]) for r in range(nslab) if (slab == r).any()})
    own_ids = np.concatenate([g[0] for g in got if g is not None] + [np.zeros(0, np.int64)])
    own = np.concatenate([g[1] for g in got if g is not None] + [np.zeros((0, 3))])
    n_own = len(own_ids)

    # 2. the atoms within the cutoff above a slab's lower boundary, to the rank below (the
    #    slab below slab 0 is the last one, one box length down)
    sent = np.zeros(0, np.intp)
    halo_ids, halo = np.zeros(0, np.int64), np.zeros((0, 3))
    if nslab > 1:
        below = (me - 1) % nslab
        if me < nslab:
            sent = np.flatnonzero(own[:, a] < me / nslab + w)
            copy = own[sent].copy()
            if me == 0:
                copy[:, a] += 1.0
            got = _exchange(comm, {below: (own_ids[sent], copy)} if len(sent) else {})
        else:
            got = _exchange(comm, {})
        parts = [g for g in got if g is not None]
        if parts:
            halo_ids, halo = parts[0]
    nodes = np.concatenate([own, halo])
    node_ids = np.concatenate([own_ids, halo_ids])

    # 3. clusters on this rank: a cell list over the slab and its halo
    if len(nodes):
        periodic = np.ones(3, bool)
        lo, width = np.zeros(3), np.ones(3)
        if nslab > 1:
            periodic[a] = False
            lo[a], width[a] = me / nslab, 1.0 / nslab + w
        roots = _components(nodes, cell, cutoff, periodic, lo, width, h)
    else:
        roots = np.zeros(0, np.intp)
    label = np.full(len(nodes), np.iinfo(np.int64).max)
    np.minimum.at(label, roots, node_ids)        # a cluster's label: its smallest atom ID

    # 4. a cluster crossing a boundary: the smallest label, passed across until none changes
    if nslab > 1:
        above = (me + 1) % nslab
        halo_roots = roots[n_own:]
        sent_roots = roots[sent]
        while True:
            changed = 0
            up = _exchange(comm, {above: label[halo_roots]} if me < nslab and len(halo_roots) else {})
            if me < nslab and len(sent_roots):
                new = up[below]
                changed |= bool(np.any(new < label[sent_roots]))
                np.minimum.at(label, sent_roots, new)
            down = _exchange(comm, {below: label[sent_roots]} if me < nslab and len(sent_roots) else {})
            if me < nslab and len(halo_roots):
                new = down[above]
                changed |= bool(np.any(new < label[halo_roots]))
                np.minimum.at(label, halo_roots, new)
            if not comm.allreduce(int(changed)):
                break

    # 5. the size of each cluster: the atoms each rank owns in it, summed on rank label % P
    counts = np.bincount(roots[:n_own], minlength=len(nodes))
    parts = np.flatnonzero(counts)
    labels, sizes = label[parts], counts[parts]
    dest = labels % P
    got = _exchange(comm, {r: (labels[dest == r], sizes[dest == r]) for r in range(P) if (dest == r).any()})
    got = [g for g in got if g is not None]
    if got:
        labels = np.concatenate([g[0] for g in got])
        sizes = np.concatenate([g[1] for g in got])
        uniq, inv = np.unique(labels, return_inverse=True)
        total = np.bincount(inv, weights=sizes).astype(np.int64)
    else:
        total = np.zeros(0, np.int64)
    number = comm.allreduce(len(total))
    largest = max(comm.allgather(int(total.max()) if len(total) else 0))
    soft = comm.allreduce(n_own)
    return {"number": int(number), "largest": int(largest), "soft_atoms": int(soft)}


# -- one row -------------------------------------------------------------------------------------


@dataclass
class Frame:
    """The per-atom data of one strain step on one rank (the atoms it owns), as the LAMMPS
    adapter extracts it.  Arrays named per centre atom hold the centre atoms only, in the order
    of ``centre``; the optional ones are None when the series leaves that part out.

    step, strain, stress_GPa : the step number, engineering strain, global stress (GPa, + tension)
    ids, x, centre : atom IDs, positions (Å) and the centre-type mask of the owned atoms
    boxlo, cell : box origin and cell rows a = (lx, 0, 0), b = (xy, ly, 0), c = (xz, yz, lz)
    S : softness of the centre atoms
    D : cumulative non-affine displacement of the centre atoms (Å, this step included)
    B : compute bondswitch/atom rows of the centre atoms (initial CN, CN, state)
    S0 : initial softness of the centre atoms
    hyd : local hydrostatic stress of the centre atoms (GPa)
    vol : Voronoi volume of the centre atoms (Å³)
    frac, X0 : fractional coordinate along the loading axis of every owned atom, from its
        unwrapped position, now and at the first step (the material slab; pysoft.crack)
    """

    step: int
    strain: float
    stress_GPa: dict
    ids: np.ndarray
    x: np.ndarray
    centre: np.ndarray
    boxlo: np.ndarray
    cell: np.ndarray
    S: np.ndarray = None
    D: np.ndarray = None
    B: np.ndarray = None
    S0: np.ndarray = None
    hyd: np.ndarray = None
    vol: np.ndarray = None
    frac: np.ndarray = None
    X0: np.ndarray = None


def tally_row(comm, f, bins, axis=0, top_fraction=0.1, cluster_cutoff=3.7):
    """The series row of frame `f` (all ranks call it in lockstep); the row on rank 0, None on
    the others.  `bins`: the edges fixed at the first step (:func:`first_bins`)."""
    root = comm.Get_rank() == 0
    n_centre = comm.allreduce(int(f.centre.sum()))
    row = {"step": f.step, "strain": f.strain, "stress_GPa": f.stress_GPa, "n_centre": n_centre}

    if f.S is not None:
        S = f.S
        mean = comm.allreduce(float(S.sum())) / n_centre
        std = float(np.sqrt(comm.allreduce(float(np.sum((S - mean) ** 2))) / n_centre))
        edges = bins["softness"]
        row["softness"] = {"mean": float(mean), "std": std,
                           "hist": comm.reduce(hist(S, edges), root=0),
                           "outside": comm.reduce(outside(S, edges), root=0)}
        threshold = quantile(comm, S, 1.0 - top_fraction, n=n_centre)
        soft = S >= threshold
        row["clusters"] = cluster_stats(comm, f.ids[f.centre][soft], f.x[f.centre][soft], f.boxlo, f.cell,
                                        cluster_cutoff)
        row["clusters"]["threshold"] = threshold

    if f.D is not None:
        total = comm.allreduce(float(f.D.sum()))
        row["D_A"] = {"mean": total / max(n_centre, 1), "hist": comm.reduce(hist(f.D, bins["D_A"]), root=0)}

    if f.B is not None:
        row.update(bond_switching(comm, f, axis, bins.get("s0", series.S0_EDGES)))

    if f.hyd is not None:
        cn0 = f.B[:, 0] if f.B is not None else np.zeros(len(f.hyd))
        edges = bins["local_stress_GPa"]
        row["local_stress_GPa"] = {str(c): comm.reduce(hist(f.hyd[cn0 == c], edges), root=0)
                                   for c in series.CN_CLASSES}
        row["local_stress_GPa"]["all"] = comm.reduce(hist(f.hyd, edges), root=0)
        row["local_stress_GPa"]["outside"] = comm.reduce(outside(f.hyd, edges), root=0)

    if f.frac is not None and f.X0 is not None:
        row["profile"] = profile(comm, f)
    return row if root else None


def bond_switching(comm, f, axis, s0_edges):
    """Bond-switching fractions, counts by initial CN, where along the axis, and P(DC | S0) in
    the bins s0_edges."""
    root = comm.Get_rank() == 0
    cn0, state = f.B[:, 0].astype(int), f.B[:, 2].astype(int)
    counts = np.array([(state == k).sum() for k in range(len(series.STATES))])
    by_cn = np.array([[((state == k) & (cn0 == c)).sum() for k in range(len(series.STATES))]
                      for c in series.CN_CLASSES])
    x = f.x[f.centre]
    lo, length = f.boxlo[axis], f.cell[axis, axis]
    frac = ((x[:, axis] - lo) / length) % 1.0
    along = np.array([np.histogram(frac[state == k], bins=series.X_BINS, range=(0, 1))[0]
                      for k in range(1, len(series.STATES))])
    counts, by_cn, along = (comm.reduce(v, root=0) for v in (counts, by_cn, along))
    out = {}
    if f.S0 is not None:
        al5 = cn0 == 5
        tot = hist(f.S0[al5], s0_edges)
        dc = hist(f.S0[al5 & (state == 1)], s0_edges)
        tot, dc = comm.reduce(tot, root=0), comm.reduce(dc, root=0)
        if root:
            out["p_dc_al5_by_s0"] = {"total": tot.tolist(), "dc": dc.tolist()}
    if root:
        n = max(int(counts.sum()), 1)
        out["bond_fraction"] = {s: float(counts[k] / n) for k, s in enumerate(series.STATES)}
        out["bond_counts_by_cn0"] = {str(c): dict(zip(series.STATES, by_cn[i].tolist()))
                                     for i, c in enumerate(series.CN_CLASSES)}
        out["switch_along_axis"] = {s: along[i].tolist() for i, s in enumerate(series.SWITCHED)}
    return out


def profile(comm, f):
    """Sums over material slabs along the loading axis (see pysoft.crack).

    X0 is each atom's fractional coordinate along the axis at the first step, unwrapped; the
    slab of an atom is X0 mod 1 in X_BINS bins, for good.  u is its fractional coordinate now,
    shifted by the whole box lengths it was away at the first step, so that an affine stretch
    keeps u = X0 mod 1 and a crack shows as a jump of the slab means of u between two slabs.
    """
    nb = series.X_BINS
    u = f.frac - np.floor(f.X0)
    slab = np.minimum((np.mod(f.X0, 1.0) * nb).astype(int), nb - 1)
    n = np.bincount(slab, minlength=nb)
    usum = np.bincount(slab, weights=u, minlength=nb)
    nS = np.bincount(slab[f.centre], minlength=nb)
    # per-slab means over the centre atoms: softness, and the simple structural quantities the
    # crack ranking by softness is compared with (pysoft.claims): local hydrostatic stress,
    # Voronoi volume and initial CN
    centred = {"S_mean": f.S, "hyd_mean": f.hyd, "V_mean": f.vol,
               "CN0_mean": f.B[:, 0] if f.B is not None else None}
    sums = {k: np.bincount(slab[f.centre], weights=v, minlength=nb) for k, v in centred.items() if v is not None}
    n, usum, nS = (comm.reduce(v, root=0) for v in (n, usum, nS))
    sums = {k: comm.reduce(v, root=0) for k, v in sums.items()}
    if comm.Get_rank() != 0:
        return None
    # an empty slab (only in samples a few atoms thick) has no mean: null in the JSON
    out = {"n": n.tolist(), "u_mean": [float(v / c) if c else None for v, c in zip(usum, n)],
           "n_centre": nS.tolist()}
    for k, v in sums.items():
        out[k] = [float(a / c) if c else None for a, c in zip(v, nS)]
    return out
