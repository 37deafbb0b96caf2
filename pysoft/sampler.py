"""``fix pysoft/invoke`` hook: the training data of ``pysoft train`` collected during the run.

``pysoft train`` reads a dumped 300 K trajectory twice: phop and the labels, then the features
of the labelled (atom, frame) pairs.  :class:`Sampler` does both in the run, every N steps (one
frame), on every MPI rank in lockstep, and appends what it learnt to a dataset file
(:mod:`pysoft.samples`); ``pysoft train --samples FILE`` trains from it.  Same numbers as the
dump path, by construction:

* **phop** with the running sums of :class:`pysoft.phop.PhopStream` (its kernel, on the same
  unwrapped positions ``x + ix a + iy b + iz c`` that :mod:`pysoft.dump` forms), so the values are
  the same to the last bit;
* **labels** by the rules of :func:`pysoft.phop.label_events`, as a machine that sees one phop
  row a frame: a rearranging event is the maximum of a run of phop above the hop threshold (known
  when the run ends, which may be long after its maximum), a calm pair is one whose phop stayed
  below the calm threshold for tR around the frame, kept when :func:`pysoft.phop.keep_calm` says
  so (the thinning rule, ``calm_fraction``);
* **features** from the plugin's C++ structure functions (:func:`pysoft.spec.structure_functions`,
  the code behind ``compute structure/atom``) on the neighbours at the labelled frame.

Memory: the labels of frame t are known at frame t + 2h (h = tR/2 in frames), so every atom keeps
its unwrapped positions of the last 2h + 1 frames and the running sums of phop over 2h + 2 frames,
in a ``fix property/atom`` array that moves with the atom between ranks and is written to
restart files: 14h + 18 doubles, 8 (14h + 18) bytes per atom (3.5 kB at h = 30: tR = 6 ps, frames
0.1 ps apart).  A rearranging event whose maximum is older than 2h frames when its run ends was
written when that frame left the ring (a PENDING row) and is confirmed by a CLOSE row.

Features at a past frame need the neighbours' positions at that frame: each rank sends the
labelled atoms' positions at that frame to all ranks (allgather; a few atoms per frame), every
rank returns the displacements of its own atoms within the cutoff (every periodic image within
reach, from its own ring), and the owner evaluates.  No ghost atoms are used, so the ghost cutoff of the MD is not touched.

The last frames: the dump path closes the phop runs still open at the last frame.  The sampler
cannot know which frame is the last, so ``end_of_run`` (the function of a second fix, ``at run``)
writes what closing them now would add as a TAIL block, void if the run goes on.
"""

import json
import os
import time

import numpy as np

from pysoft import samples as ds
from pysoft.phop import _phop_push, half_window_frames, keep_calm

_LIVE = {}      # out path -> the Sampler writing it, for end_of_run


class SamplerError(RuntimeError):
    """A problem decided alike on every rank: fix pysoft/invoke stops with this one line."""

    collective = True


def state_columns(h):
    """Columns of the per-atom state for half window h (the size of the fix property/atom array)."""
    return 14 * h + 20


def _number(name, value, low, strict=True):
    """A numeric arg, checked alike on every rank (one line, never a traceback on one rank)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    if not (v > low if strict else v >= low) or v == float("inf"):
        raise SamplerError(f"{name} {value}: a number {'>' if strict else '>='} {low:g} is needed")
    return v


def _flag(value):
    return str(value).lower() in ("1", "yes", "true", "on")


class Sampler:
    """Collect phop labels and features during the run; see the module docstring.

    Parameters (strings, as ``arg name value`` of fix pysoft/invoke)
    ----------------------------------------------------------------
    out : dataset file, default ``samples.pysoft``
    types : species of LAMMPS types 1..n, e.g. ``"Al O"`` (required)
    every : the fix's N, MD steps between frames (required, to check the calls)
    tR : phop window, ps (6)
    centre : species labelled (default: the first of types)
    spec : structure-function spec, shipped name or file (``default``)
    hop_threshold, calm_threshold : Å^2 (0.2, 0.05)
    calm_fraction : calm pairs kept, :func:`pysoft.phop.keep_calm` (1/256 = 0.00390625)
    state : name of the ``fix property/atom d2_NAME`` array, 14h + 20 columns (``pysoft_sampler``)
    replace : ``yes`` to overwrite an existing ``out`` (default ``no``)
    restart : ``yes`` after ``read_restart``: continue ``out`` from the restart's step (its later
        frames are cut off); the per-atom state comes back with the fix property/atom
    sync : ``no`` to skip the fsync after each frame (default ``yes``)
    """

    def __init__(self, lmp, out="samples.pysoft", types=None, every=None, tR="6", centre=None, spec="default",
                 hop_threshold="0.2", calm_threshold="0.05", calm_fraction="0.00390625", state="pysoft_sampler",
                 replace="no", sync="yes", restart="no"):
        from mpi4py import MPI

        from pysoft.spec import load_spec, max_cutoff, ncols

        self.comm = MPI.COMM_WORLD
        self.rank = self.comm.Get_rank()
        if types is None or every is None:
            raise SamplerError("pysoft.sampler:Sampler needs 'arg types ...' and 'arg every N'")
        self.types = types.replace(",", " ").split()
        if len(self.types) != lmp.extract_global("ntypes"):
            raise SamplerError(f"arg types names {len(self.types)} species for {lmp.extract_global('ntypes')} atom types")
        self.centre = centre or self.types[0]
        self.every = int(_number("every", every, 0))
        self.dt = float(lmp.extract_global("dt"))
        self.t_r = _number("tR", tR, 0.0)
        try:
            self.h = h = half_window_frames(self.t_r, self.dt, [0, self.every])
        except ValueError as e:
            raise SamplerError(str(e))
        self.hop_threshold = _number("hop_threshold", hop_threshold, 0.0)
        self.calm_threshold = _number("calm_threshold", calm_threshold, 0.0)
        self.calm_fraction = _number("calm_fraction", calm_fraction, 0.0)
        if not 0 < self.calm_threshold <= self.hop_threshold:
            raise SamplerError("need 0 < calm_threshold <= hop_threshold")
        if not 0 < self.calm_fraction <= 1:
            raise SamplerError(f"calm_fraction must be in (0, 1], got {calm_fraction}")
        try:
            self.spec = load_spec(spec)
        except (FileNotFoundError, ValueError) as e:
            raise SamplerError(str(e))
        self.spec_text = json.dumps(self.spec)
        self.ncols = ncols(self.spec_text)
        self.cutoff = max_cutoff(self.spec_text)
        species = self.spec["species"]
        for t in self.types:
            if t != "NULL" and t not in species:
                raise SamplerError(f"arg types names {t}, which is not a species of the spec ({', '.join(species)})")
        # species index by LAMMPS type (index 0 unused); -1: not a neighbour (NULL)
        self.type_species = np.array([-1] + [species.index(t) if t != "NULL" else -1 for t in self.types], np.int32)
        self.centre_types = np.array([i + 1 for i, t in enumerate(self.types) if t == self.centre])
        if not len(self.centre_types):
            raise SamplerError(f"centre {self.centre} is not one of the types {types}")
        self.state = f"d2_{state}"
        self.out = out
        self.sync = _flag(sync)
        self.replace = _flag(replace)
        self.restart = _flag(restart)
        self.k = 0                  # frames seen
        self.last_timestep = None
        self.first_timestep = None
        self.hist = None
        self.writer = None
        self.bytes_written = 0
        self.seconds = 0.0          # wall time spent in the sampler on this rank
        from threadpoolctl import ThreadpoolController

        self._threads = ThreadpoolController()
        W, L = 2 * h + 1, 2 * h + 2
        self._cols = {"U": (0, 3 * W), "P": (3 * W, 3 * W + 3 * L), "Q": (3 * W + 3 * L, 3 * W + 4 * L)}
        base = 3 * W + 4 * L
        self._x0 = base
        self.IN_RUN, self.BEST, self.BEST_T, self.LAST_LOUD = base + 3, base + 4, base + 5, base + 6
        # the run's identity and the timestep of the last frame in the state, on every atom, so
        # that a restart file says which dataset and which frame it continues (pysoft.runid)
        self.RUN, self.LAST_TS = base + 7, base + 8
        _LIVE[os.path.abspath(out)] = self

    # -- per-atom state in LAMMPS ----------------------------------------------------------------

    def _views(self, lmp, n):
        need = state_columns(self.h)
        try:
            if hasattr(lmp, "extract_atom_size"):
                S = lmp.numpy.extract_atom(self.state)
                cols = None if S is None else S.shape[1] if S.ndim == 2 else 0
            else:
                # the lammps module of 29Aug2024 and older cannot count the columns of a custom
                # array (numpy's extract_atom guesses 2; 2Aug2023 reports a d2_ array as a
                # vector): LAMMPS says it through the plugin, and the view gets that width
                from lammps import LAMMPS_DOUBLE_2D

                from pysoft.plugin import custom_double_columns

                cols = custom_double_columns(lmp, self.state)
                cols = None if cols < 0 else cols
                S = lmp.numpy.extract_atom(self.state, dtype=LAMMPS_DOUBLE_2D, dim=need) if cols == need else None
        except Exception:
            S, cols = None, None
        if cols != need or S is None:
            have = "is missing" if cols is None else f"has {max(cols, 1)} columns"
            raise SamplerError(f"fix property/atom {self.state} {need} is needed (h = {self.h} frames); it {have}")
        S = S[:n]
        h = self.h
        W, L = 2 * h + 1, 2 * h + 2
        a, b = self._cols["U"]
        U = S[:, a:b].reshape(n, W, 3)
        a, b = self._cols["P"]
        P = S[:, a:b].reshape(n, L, 3).transpose(1, 0, 2)
        a, b = self._cols["Q"]
        Q = S[:, a:b].T
        return S, U, P, Q, S[:, self._x0:self._x0 + 3]

    def _frame(self, lmp):
        """This rank's atoms: ids, types, unwrapped positions (as pysoft.dump forms them), cell."""
        n = lmp.extract_global("nlocal")
        ids = np.array(lmp.numpy.extract_atom("id")[:n], np.int64)
        types = np.array(lmp.numpy.extract_atom("type")[:n], np.int64)
        x = np.array(lmp.numpy.extract_atom("x")[:n], np.float64).reshape(n, 3)
        image = np.array(lmp.numpy.extract_atom("image")[:n], np.int64)
        bits = 10 if lmp.extract_setting("imageint") == 4 else 21
        mask, half = (1 << bits) - 1, 1 << (bits - 1)
        flags = np.stack([(image & mask) - half, ((image >> bits) & mask) - half, (image >> 2 * bits) - half], 1)
        boxlo, boxhi, xy, yz, xz, periodic, _ = lmp.extract_box()
        cell = np.array([[boxhi[0] - boxlo[0], 0.0, 0.0], [xy, boxhi[1] - boxlo[1], 0.0],
                         [xz, yz, boxhi[2] - boxlo[2]]])
        f = flags.astype(np.float64)
        u = x.copy()
        # x + ix*a + iy*b + iz*c in the order of pysoft.dump (and LAMMPS' Domain::unmap)
        u += f[:, 0:1] * cell[0]
        u += f[:, 1:2] * cell[1]
        u += f[:, 2:3] * cell[2]
        return ids, types, u, cell, np.asarray(boxlo, float), tuple(periodic)

    # -- one frame ---------------------------------------------------------------------------------

    def __call__(self, lmp):
        # one BLAS thread: the cores belong to the MPI ranks, and BLAS threads that spin after a
        # call take them from the MD (measured: the loop time rose by about twice the sampler's
        # own time with the default threads, by about its own time with one)
        with self._threads.limit(limits=1, user_api="blas"):
            self._sample(lmp)

    def _sample(self, lmp):
        from mpi4py import MPI

        from pysoft.train import PHOP_BINS

        ts = int(lmp.extract_global("ntimestep"))
        if self.restart and self.k == 0:
            self._resume(lmp)
        if self.last_timestep is not None and ts == self.last_timestep:
            return              # a run that starts where the last one ended: this frame is in
        t0 = time.perf_counter()
        if self.last_timestep is not None and ts - self.last_timestep != self.every:
            raise SamplerError(f"frames must be {self.every} steps apart: timestep {ts} follows {self.last_timestep}")
        ids, types, u, cell, _, periodic = self._frame(lmp)
        n = len(ids)
        S, U, P, Q, X0 = self._views(lmp, n)
        h, k = self.h, self.k
        W, L = 2 * h + 1, 2 * h + 2
        centre = np.isin(types, self.centre_types)
        if k == 0:
            self._start(lmp, ids, centre, cell, ts, periodic)
            S[:] = 0.0
            X0[:] = u
            S[:, self.BEST_T] = -1
            S[:, self.LAST_LOUD] = -h - 1
            S[:, self.RUN] = self.run_id
        if k == 0:
            self.cell = cell
        elif not np.array_equal(cell, self.cell):
            # features at a past frame use today's cell for the periodic images
            raise SamplerError(f"the box changed at timestep {ts}: the sampler needs a fixed box (NVT)")
        U[:, k % W] = u
        t = k - h
        full = k >= 2 * h
        out = np.empty(n)
        _phop_push(u, X0, P, Q, k % L, (k + 1) % L, (t - h) % L, t % L, (t + 1) % L, h + 1, full, out)

        requests = []       # (kind, local rows, frame, phop)
        direct = []         # CLOSE rows: no features
        hist = np.zeros(len(PHOP_BINS) - 1, np.int64)
        if full:
            ci = np.flatnonzero(centre)
            v = out[ci]
            hist = np.histogram(np.clip(v, PHOP_BINS[0], PHOP_BINS[-1]), bins=PHOP_BINS)[0]
            self._peaks(S, ci, v, t, k, requests, direct, ids)
            self._calm(S, ci, v, k, ids, requests)
        rows = self._evaluate(requests, direct, ids, types, U, cell)
        self._write(ds.FRAME, ts, k, rows, hist, MPI)
        S[:, self.LAST_TS] = ts
        self.last_timestep = ts
        self.k += 1
        self.seconds += time.perf_counter() - t0

    def _peaks(self, S, ci, v, t, k, requests, direct, ids):
        """One phop row (frame t) through the peak rule of label_events (_mark_peaks)."""
        h = self.h
        in_run = S[ci, self.IN_RUN] > 0
        best = S[ci, self.BEST]
        best_t = S[ci, self.BEST_T].astype(np.int64)
        above = v > self.hop_threshold
        close = in_run & ~above
        # a run whose maximum is the first frame with a phop is dropped: its peak may lie before it
        keep = close & (best_t > h)
        _queue_events(keep, best_t, best, ci, ids, k, h, requests, direct)
        start = ~in_run & above
        better = in_run & above & (v > best)
        in_run = (in_run & above) | start
        best = np.where(start | better, v, best)
        best_t = np.where(start | better, t, best_t)
        S[ci, self.IN_RUN] = in_run
        S[ci, self.BEST] = best
        S[ci, self.BEST_T] = best_t
        # the frame k - 2h leaves the ring of positions after this call: keep the features of the
        # open runs whose maximum so far is there
        pend = in_run & (best_t == k - 2 * h) & (best_t > h)
        if pend.any():
            requests.append((ds.PENDING, ci[pend], k - 2 * h, best[pend]))

    def _calm(self, S, ci, v, k, ids, requests):
        """One phop row through the calm rule of label_events (_mark_calm); frame k - 2h."""
        h = self.h
        r = k - 2 * h                    # the row index of the phop array of the dump path
        last_loud = S[ci, self.LAST_LOUD]
        last_loud = np.where(~(v < self.calm_threshold), r, last_loud)
        S[ci, self.LAST_LOUD] = last_loud
        t_row = r - h
        if t_row < h:
            return
        frame = t_row + h
        calm = last_loud < t_row - h
        if calm.any():
            calm &= keep_calm(ids[ci], self.first_timestep + frame * self.every, self.calm_fraction)
        if calm.any():
            requests.append((ds.CALM, ci[calm], frame, np.zeros(int(calm.sum()))))

    # -- features at past frames -------------------------------------------------------------------

    def _evaluate(self, requests, direct, ids, types, U, cell):
        """Rows of this rank's requests, with features at their frames (collective)."""
        from scipy.spatial import cKDTree

        from pysoft.spec import structure_functions

        W = 2 * self.h + 1
        kinds = [np.full(len(r[1]), r[0], np.int8) for r in requests]
        local = np.concatenate([r[1] for r in requests]) if requests else np.zeros(0, np.int64)
        frames = np.concatenate([np.full(len(r[1]), r[2], np.int64) for r in requests]) if requests else np.zeros(0, np.int64)
        phop = np.concatenate([r[3] for r in requests]) if requests else np.zeros(0)
        pos = U[local, frames % W] if len(local) else np.zeros((0, 3))
        centres = self.comm.allgather((ids[local], frames, pos))
        inv = np.linalg.inv(cell)
        orth = not (cell[1, 0] or cell[2, 0] or cell[2, 1])
        lengths = np.diag(cell).copy()
        # a cutoff beyond half the box reaches several images of an atom (the centre's own too),
        # as LAMMPS' ghost atoms do: then every image within reach is enumerated
        hmin = _heights(cell).min()
        m = int(np.ceil(self.cutoff / hmin + 0.5)) if self.cutoff >= 0.5 * hmin else 0
        grid = np.arange(-m, m + 1)
        shifts = np.stack(np.meshgrid(grid, grid, grid, indexing="ij"), -1).reshape(-1, 3) @ cell
        species = self.type_species[types]
        trees = {}
        replies = []
        for cid, cframe, cpos in centres:
            owner_idx, disp, sp = [], [], []
            for frame in np.unique(cframe):
                sel = np.flatnonzero(cframe == frame)
                uf = U[:, frame % W]
                if m:
                    found = [None] * len(sel)
                elif orth:
                    if frame not in trees:
                        trees[frame] = cKDTree(_wrap(uf, lengths), boxsize=lengths)
                    found = trees[frame].query_ball_point(_wrap(cpos[sel], lengths), self.cutoff)
                else:
                    found = [np.arange(len(uf))] * len(sel)
                for j, nb in zip(sel, found):
                    nb = np.arange(len(uf)) if nb is None else np.asarray(nb, np.int64)
                    d = uf[nb] - cpos[j]
                    fr = d @ inv
                    d = (fr - np.round(fr)) @ cell
                    if m:
                        d = (d[:, None, :] + shifts[None]).reshape(-1, 3)
                        nb = np.repeat(nb, len(shifts))
                    r2 = np.einsum("ij,ij->i", d, d)
                    ok = (r2 < self.cutoff ** 2) & ((ids[nb] != cid[j]) | (r2 > 0)) & (species[nb] >= 0)
                    owner_idx.append(np.full(int(ok.sum()), j, np.int64))
                    disp.append(d[ok])
                    sp.append(species[nb[ok]])
            replies.append((np.concatenate(owner_idx) if owner_idx else np.zeros(0, np.int64),
                            np.concatenate(disp) if disp else np.zeros((0, 3)),
                            np.concatenate(sp).astype(np.int32) if sp else np.zeros(0, np.int32)))
        got = self.comm.alltoall(replies)
        idx = np.concatenate([g[0] for g in got])
        order = np.argsort(idx, kind="stable")
        counts = np.bincount(idx, minlength=len(local)).astype(np.int32)
        feats = (structure_functions(self.spec_text, counts, np.concatenate([g[1] for g in got])[order],
                                     np.concatenate([g[2] for g in got])[order])
                 if len(local) else np.zeros((0, self.ncols)))
        parts = [ds.Rows(np.concatenate(kinds) if kinds else np.zeros(0, np.int8), ids[local], frames, phop, feats)]
        for kind, cids, cframes, cphop in direct:
            parts.append(ds.Rows(np.full(len(cids), kind, np.int8), cids, cframes, cphop,
                                 np.zeros((len(cids), self.ncols))))
        return ds.Rows.concatenate(parts, self.ncols)

    # -- the file (rank 0) -------------------------------------------------------------------------

    def _start(self, lmp, ids, centre, cell, ts, periodic):
        from pysoft import __version__
        from pysoft.train import PHOP_BINS

        if not all(periodic):
            raise SamplerError("the sampler needs a periodic box (boundary p p p)")
        self.first_timestep = ts
        # 52 random bits: exact in the float64 columns of the per-atom state
        self.run_id = self.comm.bcast(int.from_bytes(os.urandom(7), "little") >> 4 if self.rank == 0 else None)
        self.hist = np.zeros(len(PHOP_BINS) - 1, np.int64)
        all_ids = np.concatenate(self.comm.gather(ids[centre], root=0) or [np.zeros(0, np.int64)])
        problem = None
        if self.rank == 0:
            header = {"types": self.types, "centre": self.centre, "spec": self.spec, "ncols": self.ncols,
                      "t_r": self.t_r, "dt": self.dt, "every": self.every, "half_window": self.h,
                      "hop_threshold": self.hop_threshold, "calm_threshold": self.calm_threshold,
                      "calm_fraction": self.calm_fraction, "first_timestep": ts, "phop_bins": len(PHOP_BINS) - 1,
                      "natoms": int(lmp.get_natoms()), "ranks": self.comm.Get_size(), "pysoft": __version__,
                      "run_id": self.run_id}
            try:
                self.writer = ds.SampleWriter(self.out, header, all_ids, replace=self.replace)
                self.bytes_written = os.path.getsize(self.out)
            except (ds.SamplesError, OSError) as e:
                problem = str(e) if isinstance(e, ds.SamplesError) else f"cannot write {self.out}: {e.strerror or e}"
        problem = self.comm.bcast(problem, root=0)
        if problem:
            raise SamplerError(problem)

    def _resume(self, lmp):
        """Continue the dataset after read_restart: counters from the file, state from LAMMPS.

        The restart's state names its run and the timestep of its last frame: the dataset must
        be that run's, and is cut back to that frame (a restart may fall between frames)."""
        from mpi4py import MPI

        from pysoft.train import PHOP_BINS

        n = lmp.extract_global("nlocal")
        S = self._views(lmp, n)[0]
        blank = self.comm.allreduce(int(n > 0 and not S.any()), op=MPI.MAX)
        run = S[:, self.RUN] if n else np.zeros(0)
        lo = self.comm.allreduce(float(run.min()) if n else np.inf, op=MPI.MIN)
        hi = self.comm.allreduce(float(run.max()) if n else -np.inf, op=MPI.MAX)
        last_ts = self.comm.allreduce(float(S[:, self.LAST_TS].max()) if n else -np.inf, op=MPI.MAX)
        decision = None
        if self.rank == 0:
            try:
                if blank:
                    raise ds.SamplesError(f"restart yes, but fix property/atom {self.state} holds no state: define it, "
                                          f"with the same ID, before the first run after read_restart")
                if lo != hi or lo <= 0:
                    raise ds.SamplesError(f"restart yes, but the state in fix property/atom {self.state} is not one "
                                          f"sampler run's (written by an older pysoft?): start a new dataset")
                header = ds.read_header(self.out)[0]
                if header.get("run_id") != int(lo):
                    raise ds.SamplesError(f"{self.out} belongs to sampler run {header.get('run_id')}, the restart file "
                                          f"to run {int(lo)}: continue a dataset from its own run's restart file")
                mine = {"half_window": self.h, "every": self.every, "t_r": self.t_r, "dt": self.dt,
                        "hop_threshold": self.hop_threshold, "calm_threshold": self.calm_threshold,
                        "calm_fraction": self.calm_fraction, "types": self.types, "spec": self.spec}
                for key, value in mine.items():
                    if header[key] != value:
                        raise ds.SamplesError(f"{self.out} was sampled with {key} {header[key]}, "
                                              f"this run asks for {value}: cannot continue it")
                header, k, last, hist = ds.resume(self.out, int(last_ts))
                if last != int(last_ts):
                    raise ds.SamplesError(f"{self.out} has no frame at timestep {int(last_ts)}, the restart file's "
                                          f"last frame: cannot continue it")
                decision = ("ok", (header["first_timestep"], k, last, hist))
            except (ds.SamplesError, OSError) as e:
                decision = ("error", str(e))
        kind, value = self.comm.bcast(decision, root=0)
        if kind == "error":
            raise SamplerError(value)
        self.first_timestep, self.k, self.last_timestep, hist = value
        self.run_id = int(lo)
        self.hist = np.asarray(hist, np.int64) if len(hist) else np.zeros(len(PHOP_BINS) - 1, np.int64)
        if self.rank == 0:
            self.writer = ds.SampleWriter(self.out, None, None)
            self.bytes_written = os.path.getsize(self.out)
            print(f"pysoft.sampler: continuing {self.out} after frame {self.k - 1} (timestep {self.last_timestep})",
                  flush=True)
        self.cell = self._frame(lmp)[3]

    def _write(self, kind, ts, frame, rows, hist, MPI):
        parts = self.comm.gather(rows, root=0)
        total = self.comm.reduce(hist, op=MPI.SUM, root=0)
        if self.rank == 0:
            if kind == ds.FRAME:
                self.hist += total
            rows = ds.Rows.concatenate(parts, self.ncols).sorted()
            self.bytes_written += self.writer.append(kind, ts, frame, rows, self.hist, sync=self.sync)

    def end_of_run(self, lmp):
        """Write the TAIL block: the events that closing the open phop runs now would add."""
        with self._threads.limit(limits=1, user_api="blas"):
            self._end_of_run(lmp)

    def _end_of_run(self, lmp):
        from mpi4py import MPI

        if self.k == 0 or self.last_timestep is None:
            return
        k = self.k - 1                       # the last frame
        h = self.h
        ids, types, _, cell, _, _ = self._frame(lmp)
        S, U = self._views(lmp, len(ids))[:2]
        requests, direct = [], []
        if k >= 2 * h:
            ci = np.flatnonzero(np.isin(types, self.centre_types))
            in_run = S[ci, self.IN_RUN] > 0
            best = S[ci, self.BEST]
            best_t = S[ci, self.BEST_T].astype(np.int64)
            # label_events closes the open runs after its last row (frame k - h), dropping a
            # maximum on the first or the last row
            keep = in_run & (best_t > h) & (best_t < k - h)
            _queue_events(keep, best_t, best, ci, ids, k, h, requests, direct)
        rows = self._evaluate(requests, direct, ids, types, U, cell)
        self._write(ds.TAIL, self.last_timestep, k, rows, np.zeros_like(self.hist), MPI)
        slowest = self.comm.reduce(self.seconds, op=MPI.MAX, root=0)
        if self.rank == 0:
            print(f"pysoft.sampler: {self.k} frames, {slowest:.2f} s in the sampler "
                  f"({1e3 * slowest / self.k:.1f} ms a frame), {self.bytes_written} bytes in {self.out}", flush=True)


def check(lmp, out="samples.pysoft", replace="no", restart="no", **kwargs):
    """The ``at now`` hook of pysoft_sampler.mod: every argument and the dataset file checked
    before the per-atom state is sized from them, and before the MD; one line on every rank,
    naming the -var options of the shipped inputs."""
    from mpi4py import MPI

    Sampler(lmp, out=out, replace=replace, restart=restart, **kwargs)
    comm = MPI.COMM_WORLD
    problem = None
    if comm.Get_rank() == 0:
        folder = os.path.dirname(out)
        if str(replace) not in ("yes", "no"):
            problem = f"-var replace {replace}: must be yes or no"
        elif str(restart) not in ("yes", "no"):
            problem = f"-var sampler_restart {restart}: must be yes or no"
        elif folder and not os.path.isdir(folder):
            problem = f"-var samples {out}: folder {folder} does not exist"
        elif restart == "no" and replace == "no" and os.path.exists(out):
            problem = (f"{out} exists: add -var replace yes to overwrite it (or, after read_restart, "
                       f"-var sampler_restart yes to continue it)")
        elif restart == "yes" and not os.path.isfile(out):
            problem = f"-var sampler_restart yes, but {out} does not exist: nothing to continue"
    problem = comm.bcast(problem, root=0)
    if problem:
        raise SamplerError(problem)


def end_of_run(lmp, out="samples.pysoft"):
    """The ``at run`` hook that closes the dataset of the Sampler writing `out`."""
    sampler = _LIVE.get(os.path.abspath(out))
    if sampler is None:
        return
    sampler.end_of_run(lmp)


def _heights(cell):
    """Distances between opposite faces of the cell (rows a, b, c)."""
    vol = abs(np.linalg.det(cell))
    return np.array([vol / np.linalg.norm(np.cross(cell[(d + 1) % 3], cell[(d + 2) % 3])) for d in range(3)])


def _wrap(points, lengths):
    """Points into [0, L) per axis, for a periodic KD-tree (orthogonal box at the origin shift)."""
    p = np.mod(points, lengths)
    p[p >= lengths] = 0.0
    return p


def _queue_events(keep, best_t, best, ci, ids, k, h, requests, direct):
    """Queue the closed rearranging runs `keep`: a peak still in the position ring (the last 2h
    frames) is featurized at its frame (HOP), an older one only confirms its PENDING row (CLOSE)."""
    recent = keep & (best_t >= k - 2 * h)
    for frame in np.unique(best_t[recent]):
        sel = recent & (best_t == frame)
        requests.append((ds.HOP, ci[sel], int(frame), best[sel]))
    old = keep & ~recent
    if old.any():
        direct.append((ds.CLOSE, ids[ci[old]], best_t[old], best[old]))
