"""Key frames of a strain loop: the per-atom state at a few moments, as LAMMPS dump files that
OVITO opens as they are (doc/keyframes.md).

The strain loop writes no trajectory (the series, :mod:`pysoft.series`, is its only per-step
output), so a scientist has nothing to look at.  :class:`KeyFrames`, driven by
:class:`pysoft.hooks.PlaneStrainTally` once per strain step, writes the per-atom state of

* ``unstrained``: step 0, the glass before any stretch (written at once);
* ``peak``: the step of the highest tensile stress along the loading axis;
* ``drop_onset``: the last step before the largest fall of that stress between two steps
  (the crack starts to open in the step after it);
* ``last``: the last strain step;
* every ``every``-th step when asked (written at once).

The peak and the onset of the largest drop are known only later (a higher stress or a larger
drop may still come).  Each rank keeps, in memory, its own atoms' frame of the previous step
and of the best candidates so far (at most three frames of its atoms); they are written when
the loop ends (:func:`finish`, called by the input script after the loop).  Nothing else is
dumped.

Files go to ``DIR/stepNNNN.dump.gz`` (gzip LAMMPS text dump, one frame) with a manifest
``DIR/keyframes.json`` that names each moment's file.  Every file is written under a temporary
name, flushed, and renamed, so a reader never sees half a file.  A rerun into a folder that
holds a previous run's key frames is refused unless ``replace`` is set; even then the old files
stay until the new run writes its first frame (after every check of the run has passed).

The per-atom columns (:data:`COLUMNS`) are documented in doc/keyframes.md.  Units: Å, GPa.
"""

import gzip
import json
import os

import numpy as np

from pysoft import series
from pysoft.atomicfile import replace_atomically
from pysoft.tally import SerialComm, _check_cutoff, _components, heights, quantile

FORMAT = "pysoft-keyframes"
VERSION = 1
MANIFEST = "keyframes.json"
MOMENTS = ("unstrained", "peak", "drop_onset", "last")

# name, what it is (doc/keyframes.md has the full text); id..z are LAMMPS's own dump names, so
# OVITO maps them to its Particle Identifier, Particle Type and Position
COLUMNS = (
    ("id", "atom ID"),
    ("type", "atom type"),
    ("x", "position x, wrapped into the box (Å)"),
    ("y", "position y (Å)"),
    ("z", "position z (Å)"),
    ("S", "softness (Al only; 0 for other types)"),
    ("S0", "softness in the unstrained glass, step 0 (Al only; 0 otherwise)"),
    ("D", "cumulative non-affine displacement since step 0 (Å)"),
    ("cn0", "Al-O coordination number at step 0 (Al only; -1 otherwise)"),
    ("cn", "Al-O coordination number now (Al only; -1 otherwise)"),
    ("switch", "bond-switching class 0 UC, 1 DC, 2 IC, 3 SC (Al only; -1 otherwise)"),
    ("cluster", "high-softness cluster: the smallest atom ID of the cluster (0: not in the softest top_fraction)"),
    ("slab", f"initial material slab along the loading axis, 0..{series.X_BINS - 1} (-1: not known)"),
)
INTEGER_COLUMNS = ("id", "type", "cn0", "cn", "switch", "cluster", "slab")
_REGISTRY = {}        # output folder -> the KeyFrames writing there, for finish()


class KeyFramesError(RuntimeError):
    """The key frames cannot be written as asked.  Decided on rank 0 and broadcast, so raised
    alike on every rank (``collective``: fix pysoft/invoke stops with this one line)."""

    collective = True


def cluster_labels(ids, points, cell, boxlo, cutoff):
    """The cluster of each point (points closer than `cutoff` are linked, minimum image): the
    smallest atom ID in its cluster.  The same cell-list linking as the series' cluster
    statistics (:func:`pysoft.tally.cluster_stats`), on one process."""
    ids = np.asarray(ids, np.int64)
    if len(ids) == 0:
        return np.zeros(0, np.int64)
    cell = np.asarray(cell, float)
    h = heights(cell)
    _check_cutoff(h, cutoff)
    frac = (np.asarray(points, float).reshape(-1, 3) - np.asarray(boxlo, float)) @ np.linalg.inv(cell)
    frac -= np.floor(frac)
    frac[frac >= 1.0] = 0.0
    roots = _components(frac, cell, cutoff, np.ones(3, bool), np.zeros(3), np.ones(3), h)
    label = np.full(len(ids), np.iinfo(np.int64).max)
    np.minimum.at(label, roots, ids)
    return label[roots]


def soft_clusters(types, ids, x, S, centre_type, top_fraction, cell, boxlo, cutoff):
    """The cluster column of a whole frame: the cluster label of each atom among the softest
    `top_fraction` of the centre atoms (threshold as the series': numpy's linear quantile of
    their softness), 0 for every other atom."""
    out = np.zeros(len(ids), np.int64)
    centre = types == centre_type
    if not centre.any():
        return out
    threshold = quantile(SerialComm(), S[centre], 1.0 - top_fraction)
    soft = centre & (S >= threshold)
    out[soft] = cluster_labels(ids[soft], x[soft], cell, boxlo, cutoff)
    return out


def _box_lines(boxlo, cell):
    """ITEM: BOX BOUNDS of a LAMMPS dump (the bounding box of a tilted cell, LAMMPS Howto triclinic)."""
    lx, ly, lz = cell[0, 0], cell[1, 1], cell[2, 2]
    xy, xz, yz = cell[1, 0], cell[2, 0], cell[2, 1]
    xlo, ylo, zlo = boxlo
    if xy == 0.0 and xz == 0.0 and yz == 0.0:
        return ["ITEM: BOX BOUNDS pp pp pp", f"{xlo:.10g} {xlo + lx:.10g}", f"{ylo:.10g} {ylo + ly:.10g}",
                f"{zlo:.10g} {zlo + lz:.10g}"]
    xb = (xlo + min(0.0, xy, xz, xy + xz), xlo + lx + max(0.0, xy, xz, xy + xz))
    yb = (ylo + min(0.0, yz), ylo + ly + max(0.0, yz))
    return ["ITEM: BOX BOUNDS xy xz yz pp pp pp", f"{xb[0]:.10g} {xb[1]:.10g} {xy:.10g}",
            f"{yb[0]:.10g} {yb[1]:.10g} {xz:.10g}", f"{zlo:.10g} {zlo + lz:.10g} {yz:.10g}"]


def dump_text(step, boxlo, cell, cols):
    """One LAMMPS dump frame (text) of the per-atom columns `cols` (a dict over COLUMNS),
    rows sorted by atom ID."""
    order = np.argsort(cols["id"], kind="stable")
    names = [c for c, _ in COLUMNS]
    lines = ["ITEM: TIMESTEP", str(int(step)), "ITEM: NUMBER OF ATOMS", str(len(order)),
             *_box_lines(boxlo, cell), "ITEM: ATOMS " + " ".join(names)]
    fmt = " ".join("%d" if c in INTEGER_COLUMNS else ("%.6f" if c in "xyz" else "%.7g") for c in names)
    table = np.empty((len(order), len(names)), dtype=object)
    for j, c in enumerate(names):
        v = np.asarray(cols[c])[order]
        table[:, j] = v.astype(np.int64) if c in INTEGER_COLUMNS else v.astype(float)
    body = "\n".join(fmt % tuple(row) for row in table)
    return "\n".join(lines) + "\n" + body + ("\n" if len(order) else "")


def read_manifest(directory):
    """The manifest of a key-frame folder as a dict, or None when there is none."""
    path = os.path.join(directory, MANIFEST)
    if not os.path.exists(path):
        return None
    with open(path) as fh:
        return json.load(fh)


class KeyFrames:
    """Keeps and writes the key frames of one strain loop; every rank calls :meth:`record` once
    per strain step, in lockstep, with the per-atom columns of the atoms it owns.

    Parameters
    ----------
    comm : mpi4py communicator (or :class:`pysoft.tally.SerialComm`)
    directory : the output folder (made if missing)
    every : also write every this many strain steps (0: only the key moments)
    centre_type, top_fraction, cluster_cutoff : as the series (the cluster column)
    stress_source : what the stress of a step is (said in the manifest)
    restart : continue the key frames of a run continued from a restart file, from step
        `resume_step` on (the manifest's entries at that step or later are dropped)
    replace : overwrite a previous run's key frames in `directory` (else refused)
    """

    def __init__(self, comm, directory, every=0, centre_type=1, top_fraction=0.1, cluster_cutoff=3.7,
                 stress_source="", restart=False, resume_step=0, replace=False):
        self.comm, self.rank = comm, comm.Get_rank()
        self.directory = os.path.abspath(directory)
        self.every = int(every)
        if self.every < 0:
            raise KeyFramesError(f"keyframes_every must be 0 or more, got {every}")
        self.centre_type, self.top_fraction, self.cluster_cutoff = int(centre_type), top_fraction, cluster_cutoff
        self.prev = self.peak = self.onset = None          # this rank's frames kept in memory
        self.stress = []                                   # [step, stress] of every step so far
        self.old_files = []                                # a replaced run's files, removed at the first write
        decision = None
        if self.rank == 0:
            try:
                decision = ("ok", self._open(stress_source, restart, resume_step, replace))
            except (KeyFramesError, OSError, ValueError) as e:
                decision = ("error", str(e))
        kind, value = comm.bcast(decision, root=0)
        if kind == "error":
            raise KeyFramesError(value)
        self.manifest, self.stress = value
        _REGISTRY[self.directory] = self

    def _open(self, stress_source, restart, resume_step, replace):
        old = read_manifest(self.directory) if os.path.isdir(self.directory) else None
        if old is not None and old.get("format") != FORMAT:
            raise KeyFramesError(f"{os.path.join(self.directory, MANIFEST)} is not a {FORMAT} manifest")
        if restart and old is not None:
            frames = [f for f in old["frames"] if f["step"] < resume_step]
            stress = [s for s in old["stress_history"] if s[0] < resume_step]
            self.old_files = [f["file"] for f in old["frames"] if f["step"] >= resume_step]
            return {**old, "frames": frames, "complete": False, "restarted_at": resume_step}, stress
        if old is not None and not restart:
            if not replace:
                raise KeyFramesError(f"key frames of another run in {self.directory}; add 'arg replace yes' "
                                     f"to overwrite them, or give another keyframes folder")
            self.old_files = [f["file"] for f in old["frames"]]
        os.makedirs(self.directory, exist_ok=True)
        manifest = {"format": FORMAT, "version": VERSION, "columns": {c: d for c, d in COLUMNS},
                    "units": {"length": "Å", "stress": "GPa, positive in tension", "D": "Å"},
                    "stress_source": stress_source, "centre_type": self.centre_type,
                    "top_fraction": self.top_fraction, "cluster_cutoff_A": self.cluster_cutoff,
                    "every": self.every, "frames": [], "moments": {}, "stress_history": [], "complete": False}
        if restart:
            # no manifest to continue: the moments are those of the steps from here on
            manifest["restarted_at"] = resume_step
        return manifest, []

    # -- every step (all ranks) -----------------------------------------------------------------

    def record(self, frame):
        """Take one strain step: `frame` is a dict with ``step``, ``strain``, ``stress`` (GPa),
        ``timestep``, ``boxlo``, ``cell`` and the per-atom :data:`COLUMNS` of this rank's atoms
        (``cluster`` is filled in when written)."""
        step, s = frame["step"], float(frame["stress"])
        history = self.stress
        if step == 0 or (self.every and step % self.every == 0):
            self._write(frame, [] if step else ["unstrained"])
        if history and history[-1][0] == step - 1 and self.prev is not None:
            drop = history[-1][1] - s
            best = self._largest_drop(history)
            if drop > 0 and (best is None or drop > best[1]):
                self.onset = self.prev
        if not history or s > max(v for _, v in history):
            self.peak = frame
        history.append([step, s])
        self.prev = frame
        # the stress of every step goes to the manifest (a few kB, renamed into place): a run
        # killed between key-frame writes and continued from a restart file still knows the
        # peak and drop of the steps before it
        self._save_manifest()

    @staticmethod
    def _largest_drop(history):
        """(onset step, size) of the largest fall between consecutive steps so far, or None."""
        best = None
        for (k0, s0), (k1, s1) in zip(history, history[1:]):
            if k1 == k0 + 1 and s0 - s1 > 0 and (best is None or s0 - s1 > best[1]):
                best = (k0, s0 - s1)
        return best

    # -- the end of the loop (all ranks) ----------------------------------------------------------

    def finish(self):
        """Write the peak, the drop onset and the last step, and mark the manifest complete."""
        history = self.stress
        moments = {}
        if history:
            moments["peak"] = max(history, key=lambda kv: kv[1])[0]
            drop = self._largest_drop(history)
            moments["drop_onset"] = drop[0] if drop else None
            moments["last"] = history[-1][0]
        written = {f["step"] for f in self.manifest["frames"]}
        for name, kept in (("peak", self.peak), ("drop_onset", self.onset), ("last", self.prev)):
            step = moments.get(name)
            if step is None:
                continue
            if step in written:
                self._tag(step, name)
            elif kept is not None and kept["step"] == step:
                self._write(kept, [name])
                written.add(step)
        m = self.manifest
        m["moments"] = {"unstrained": 0 if any(f["step"] == 0 for f in m["frames"]) else None, **moments}
        m["lost"] = sorted(name for name, step in moments.items() if step is not None and step not in written)
        m["complete"] = True
        self._save_manifest()
        self.prev = self.peak = self.onset = None
        _REGISTRY.pop(self.directory, None)

    # -- writing (rank 0 writes; all ranks gather) -------------------------------------------------

    def _write(self, frame, moments):
        parts = self.comm.gather({c: np.asarray(frame[c]) for c, _ in COLUMNS if c != "cluster"}, root=0)
        if self.rank == 0:
            self._write_root(frame, moments, parts)
        # every rank holds the same list of written frames: finish() decides on it
        self.manifest = self.comm.bcast(self.manifest, root=0)

    def _write_root(self, frame, moments, parts):
        cols = {c: np.concatenate([p[c] for p in parts]) for c in parts[0]}
        x = np.column_stack([cols["x"], cols["y"], cols["z"]])
        cols["cluster"] = soft_clusters(cols["type"], cols["id"], x, cols["S"], self.centre_type,
                                        self.top_fraction, frame["cell"], frame["boxlo"], self.cluster_cutoff)
        name = f"step{frame['step']:04d}.dump.gz"
        path = os.path.join(self.directory, name)
        text = dump_text(frame["step"], frame["boxlo"], frame["cell"], cols).encode("ascii")
        for old in self.old_files:            # a replaced run's frames go once this one writes
            if old != name and os.path.exists(os.path.join(self.directory, old)):
                os.unlink(os.path.join(self.directory, old))
        self.old_files = []
        replace_atomically(path, gzip.compress(text, compresslevel=6, mtime=0))
        frames = [f for f in self.manifest["frames"] if f["step"] != frame["step"]]
        frames.append({"file": name, "step": int(frame["step"]), "strain": float(frame["strain"]),
                       "stress_GPa": float(frame["stress"]), "timestep": int(frame["timestep"]),
                       "atoms": int(len(cols["id"])), "bytes": os.path.getsize(path), "moments": list(moments)})
        self.manifest["frames"] = sorted(frames, key=lambda f: f["step"])
        self.manifest["stress_history"] = self.stress
        self._save_manifest()

    def _tag(self, step, name):
        for f in self.manifest["frames"]:
            if f["step"] == step and name not in f["moments"]:
                f["moments"].append(name)

    def _save_manifest(self):
        if self.rank == 0:
            self.manifest["stress_history"] = self.stress
            replace_atomically(os.path.join(self.directory, MANIFEST),
                              (json.dumps(self.manifest, indent=1) + "\n").encode())


def finish(lmp, dir="keyframes"):
    """fix pysoft/invoke hook for the end of a strain loop: write the kept key frames of the
    loop whose key frames go to `dir` (``fix ID all pysoft/invoke 1 pysoft.keyframes:finish at
    run0 arg dir DIR`` then ``run 0 post no``, after ``unfix`` of the tally)."""
    kf = _REGISTRY.get(os.path.abspath(dir))
    if kf is not None:
        kf.finish()


def columns_from_lammps(lmp, f, D_name):
    """The per-atom key-frame columns of the atoms this rank owns, from the running LAMMPS and
    the tally's Frame `f` (centre-atom arrays in the order of ``f.centre``)."""
    nlocal = len(f.ids)
    types = np.array(lmp.numpy.extract_atom("type")[:nlocal], np.int64)
    centre = f.centre

    def per_atom(values, fill):
        out = np.full(nlocal, fill, float)
        if values is not None:
            out[centre] = values
        return out

    D = np.zeros(nlocal)
    if D_name:
        D = np.array(lmp.numpy.extract_atom(f"d_{D_name}")[:nlocal], float)
    B = f.B if f.B is not None else None
    slab = np.full(nlocal, -1, np.int64)
    if f.X0 is not None:
        slab = np.minimum((np.mod(f.X0, 1.0) * series.X_BINS).astype(np.int64), series.X_BINS - 1)
    return {"id": f.ids, "type": types, "x": f.x[:, 0].copy(), "y": f.x[:, 1].copy(), "z": f.x[:, 2].copy(),
            "S": per_atom(f.S, 0.0), "S0": per_atom(f.S0, 0.0), "D": D,
            "cn0": per_atom(None if B is None else B[:, 0], -1), "cn": per_atom(None if B is None else B[:, 1], -1),
            "switch": per_atom(None if B is None else B[:, 2], -1), "slab": slab}
