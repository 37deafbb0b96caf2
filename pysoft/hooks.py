"""Hooks for ``fix pysoft/invoke``: tally a fracture run on the fly, with no trajectory dumps.

:class:`PlaneStrainTally` is called once per strain step of the paper's plane-strain loop
(``fix ... pysoft/invoke 1 pysoft.hooks:PlaneStrainTally at run0`` and ``run 0 post no`` at
the end of each step; see ``inputs/pysoft_analysis.mod``).  On every MPI rank, in lockstep,
it reads the per-atom results of LAMMPS computes from the running instance (each array once
per call, the atoms the rank owns), hands them to the pure reduction :func:`pysoft.tally.tally_row`,
and rank 0 appends the row, one JSON line per step, to the time series (schema:
:mod:`pysoft.series`): everything the paper's figures need (doc/method.md sections 4 and 7).

The script renews the D2min reference after each call (``fix_modify
pysoft_NA_NONAFFINE_REFERENCE reference current``, allowed only between runs).

Per-atom state that must follow the atoms and survive restarts lives in LAMMPS, not here:
the cumulative non-affine displacement D and the initial softness S0 in ``fix property/atom``
vectors, the bond-switching reference in ``compute bondswitch/atom``'s own storage.  The hook
keeps only the step counter, lx0 and the histogram edges, which it reads back from the series
file on a restart.

Units: lengths Å, stresses GPa (positive in tension), softness dimensionless, D in Å.
"""

import json
import os

import numpy as np

from pysoft import series
from pysoft.tally import Frame, first_bins, tally_row


class ModelRefused(RuntimeError):
    """The model args are refused: ``arg model`` names a file that pysoft refuses (every rank
    checks the same bytes, read on rank 0 and broadcast), or the args contradict each other.
    Raised alike on every rank: one ERROR line."""

    collective = True


class SeriesFileError(RuntimeError):
    """The series file cannot be written as asked.  Decided on rank 0 and broadcast, so raised
    alike on every rank: ``collective`` tells fix pysoft/invoke to stop with error->all and this
    one line instead of a traceback."""

    collective = True


def _flag(value):
    return str(value).lower() in ("1", "yes", "true", "on")


class PlaneStrainTally:
    """Tally one strain step per call; see the module docstring.

    Parameters (all strings, as ``arg name value`` of fix pysoft/invoke)
    ----------------------------------------------------------------------
    out : time-series file (JSON lines), default ``series.jsonl``
    centre_type : LAMMPS type of the atoms analysed (Al), default ``1``
    axis : loading axis, ``x`` (default), ``y`` or ``z``
    softness : ID of ``compute softness`` (default ``pysoft_S``); ``none`` to skip
    model : a model file (JSON) written by ``pysoft train``, the file ``compute softness``
        takes: softness from it in Python, on the rows of ``compute structure/atom``
        ``features`` (default ``pysoft_F``), instead of ``compute softness``.  Read as data
        only (:meth:`pysoft.model.SoftnessModel.load`), checksum checked; safe on any file
    trusted_pickle : TRUSTED INPUT ONLY.  A joblib/pickle of any scikit-learn classifier (a
        non-linear one, say), used as ``model`` is, its ``decision_function`` as the softness.
        Loading a pickle runs whatever code it holds, with your rights, on every rank: name only
        a file you made yourself.  Nothing else in pysoft loads a pickle
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
    restart : ``yes`` to continue the series in ``out`` after read_restart (default ``no``).
        The file must exist.  The next row is ``resume_step`` when given, else the last row's
        step + 1
    resume_step : with restart: the step the restarted run tallies first, the step after the
        one the restart file was written at.  Rows of ``out`` at this step or later (written
        after that restart file) are dropped (the file is rewritten whole, then renamed over
        the old one) and a line on screen says so; a step beyond the last row + 1 is refused
        (steps would be missing)
    replace : ``yes`` to overwrite an existing ``out`` when not restarting (default ``no``:
        an existing file stops the run with one ERROR line)
    run_id : the identity of the run (:mod:`pysoft.runid`), written in the header of a new
        series; with restart, a series of another run is refused (default ``none``: no check)
    keyframes : a folder: also write the key frames of the loop there (:mod:`pysoft.keyframes`,
        doc/keyframes.md; default ``none``).  ``restart`` and ``replace`` apply to it as to ``out``
    keyframes_every : with keyframes, also write every this many strain steps (default 0: only
        the key moments)
    stress_var : an equal-style LAMMPS variable holding the step's stress along the loading
        axis in GPa, which picks the peak and the largest drop of the key frames (the plane-strain
        input gives ``sxx_k``, the mean of its stress-strain row); default ``none``: the pressure
        tensor at the moment of the call
    """

    def __init__(self, lmp, out="series.jsonl", centre_type="1", axis="x", softness="pysoft_S",
                 model=None, features="pysoft_F", bonds="pysoft_B", nonaffine="pysoft_NA", D="pysoft_D",
                 S0="pysoft_S0", stress="pysoft_stress", volume="pysoft_vol", cluster_cutoff="3.7",
                 top_fraction="0.1", unwrapped=None, X0=None, restart="no", resume_step=None, replace="no",
                 trusted_pickle=None, run_id="none", keyframes=None, keyframes_every="0", stress_var=None):
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
        self.run_id = none(run_id)
        self.model = None
        if none(model) and none(trusted_pickle):
            raise ModelRefused("give arg model (a model file) or arg trusted_pickle, not both")
        if none(model):
            self.model = self._read_model(model)
            self.softness_id = None
        elif none(trusted_pickle):
            import joblib

            try:
                self.model = joblib.load(trusted_pickle)     # the user vouched for this file
            except OSError as e:
                raise ModelRefused(f"cannot read trusted_pickle {trusted_pickle}: {e.strerror or e}")
            self.softness_id = None
        self.step = 0
        self.length0 = None
        self.bins = None            # histogram edges, fixed at the first step (or read back)
        resume_step = None if none(resume_step) is None else int(resume_step)
        # rank 0 looks at the file; every rank then raises, or goes on, alike
        decision = None
        if self.rank == 0:
            try:
                decision = ("ok", self._open_series(_flag(restart), resume_step, _flag(replace)))
            except SeriesFileError as e:
                decision = ("error", str(e))
        kind, value = self.comm.bcast(decision, root=0)
        if kind == "error":
            raise SeriesFileError(value)
        if value is not None:
            head, self.step = value
            self.length0 = head["length0_A"]
            self.bins = series.bins_of(head)
        self.keyframes, self.stress_var = None, none(stress_var)
        if none(keyframes):
            from pysoft.keyframes import KeyFrames

            self.keyframes = KeyFrames(self.comm, keyframes, every=keyframes_every, centre_type=self.centre_type,
                                       top_fraction=self.top_fraction, cluster_cutoff=self.cluster_cutoff,
                                       stress_source=f"variable {self.stress_var}" if self.stress_var else
                                       f"-p{2 * axis} at the end of the step, GPa",
                                       restart=_flag(restart), resume_step=self.step, replace=_flag(replace))

    def _read_model(self, path):
        """The SoftnessModel of a model file: rank 0 reads the bytes, every rank builds the
        model from them (the same checks, so the same outcome everywhere)."""
        from pysoft.model import ModelError, SoftnessModel, read_model_bytes

        data = None
        if self.rank == 0:
            try:
                data = ("ok", read_model_bytes(path))
            except ModelError as e:
                data = ("error", str(e))
        kind, value = self.comm.bcast(data, root=0)
        if kind == "error":
            raise ModelRefused(value)
        try:
            return SoftnessModel.from_json(value, path)[0]
        except ModelError as e:
            raise ModelRefused(str(e))

    # -- the series file (rank 0) -------------------------------------------------------------

    def _open_series(self, restart, resume_step, replace):
        """Check the file against the request; returns (header, next step) to continue, or None
        for a new series."""
        out = self.out
        folder = os.path.dirname(out)
        if folder and not os.path.isdir(folder):
            raise SeriesFileError(f"series file {out}: folder {folder} does not exist")
        if not restart:
            if resume_step is not None:
                raise SeriesFileError(f"resume_step {resume_step} needs restart yes")
            if os.path.exists(out):
                if not replace:
                    raise SeriesFileError(f"series file {out} exists; add 'arg replace yes' "
                                          f"to overwrite it, or 'arg restart yes' to continue it")
                os.unlink(out)
            return None
        if not os.path.exists(out):
            raise SeriesFileError(f"restart yes, but series file {out} does not exist")
        with open(out, errors="replace") as fh:
            lines = fh.read().splitlines()
        rows, torn = [], 0
        for line in lines:
            try:
                rows.append(json.loads(line))
            except ValueError:
                torn += 1            # the half-written last line of a killed run
        if not rows or not series.is_header(rows[0]):
            raise SeriesFileError(f"{out} has no {series.FORMAT} header, cannot continue it")
        head, rows = rows[0], rows[1:]
        if self.run_id is not None and head.get("run_id") != self.run_id:
            raise SeriesFileError(f"{out} belongs to run {head.get('run_id')}, this run is {self.run_id}: "
                                  f"cannot continue it")
        last = rows[-1]["step"] if rows else -1
        if resume_step is None:
            resume_step = last + 1
        if resume_step < 1:
            raise SeriesFileError(f"resume_step {resume_step}: step 0 is the reference "
                                  f"state, start a new series instead")
        if resume_step > last + 1:
            raise SeriesFileError(f"series file {out} ends at step {last}; resuming at step "
                                  f"{resume_step} would leave steps {last + 1}..{resume_step - 1} missing")
        keep = [r for r in rows if r["step"] < resume_step]
        if len(keep) < len(rows) or torn:
            tmp = f"{out}.tmp{os.getpid()}"
            with open(tmp, "w") as fh:
                for obj in [head] + keep:
                    fh.write(json.dumps(obj) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, out)
            dropped = len(rows) - len(keep)
            what = f"dropped {dropped} rows (steps {resume_step}..{last})" if dropped else "kept every row"
            print(f"PlaneStrainTally: {out}: {what}" + (f", removed {torn} torn lines" if torn else "") +
                  f"; continuing at step {resume_step}", flush=True)
        return head, resume_step

    # -- one call per strain step: the LAMMPS adapter ------------------------------------------

    def __call__(self, lmp):
        comm = self.comm
        first = self.length0 is None
        f = self._extract(lmp, first)
        if first:
            self.bins = first_bins(comm, f.S, f.hyd)
        row = tally_row(comm, f, self.bins, axis=self.axis, top_fraction=self.top_fraction,
                        cluster_cutoff=self.cluster_cutoff)
        if self.rank == 0:
            if first and self.step == 0:
                self._write(series.header(self.length0, "xyz"[self.axis], self.centre_type, self.top_fraction,
                                          self.cluster_cutoff, self.bins, comm.Get_size(), self.run_id))
            self._write(row)
        if self.keyframes is not None:
            self._record_keyframe(lmp, f)
        self.step += 1

    def _record_keyframe(self, lmp, f):
        from pysoft.keyframes import columns_from_lammps

        frame = columns_from_lammps(lmp, f, self.D_name if self.nonaffine_id else None)
        stress = lmp.extract_variable(self.stress_var) if self.stress_var else f.stress_GPa[2 * "xyz"[self.axis]]
        frame.update(step=f.step, strain=f.strain, stress=stress, timestep=lmp.extract_global("ntimestep"),
                     boxlo=f.boxlo, cell=f.cell)
        self.keyframes.record(frame)

    def _extract(self, lmp, first):
        """The Frame of this step: each per-atom array read once from LAMMPS (the atoms this
        rank owns); at the first step it also stores S0 and X0, and after it adds this step's
        non-affine displacement to D, in LAMMPS's per-atom state."""
        from lammps import LMP_STYLE_ATOM, LMP_TYPE_ARRAY, LMP_TYPE_VECTOR

        nlocal = lmp.extract_global("nlocal")

        def compute(cid, kind):
            return np.array(lmp.numpy.extract_compute(cid, LMP_STYLE_ATOM, kind)[:nlocal])

        def prop(name):            # a view: writes go to LAMMPS
            return lmp.numpy.extract_atom(f"d_{name}")[:nlocal]

        centre = np.array(lmp.numpy.extract_atom("type")[:nlocal]) == self.centre_type
        boxlo, boxhi, xy, yz, xz, _, _ = lmp.extract_box()
        lengths = np.subtract(boxhi, boxlo)
        if first:
            self.length0 = float(lengths[self.axis])
        cell = np.array([[lengths[0], 0, 0], [xy, lengths[1], 0], [xz, yz, lengths[2]]])
        f = Frame(step=self.step, strain=float(lengths[self.axis] / self.length0 - 1.0),
                  stress_GPa={c: -lmp.get_thermo(f"p{c}") / 1.0e4 for c in ("xx", "yy", "zz", "xy", "xz", "yz")},
                  ids=np.array(lmp.numpy.extract_atom("id")[:nlocal], np.int64),
                  x=np.array(lmp.numpy.extract_atom("x")[:nlocal]), centre=centre,
                  boxlo=np.asarray(boxlo, float), cell=cell)

        # softness of the centre atoms; S0 = S at the first call, kept per atom in LAMMPS
        if self.model is not None:
            f.S = self._model_softness(compute(self.features_id, LMP_TYPE_ARRAY)[centre])
        elif self.softness_id:
            f.S = compute(self.softness_id, LMP_TYPE_VECTOR)[centre]
        if self.S0_name:
            s0 = prop(self.S0_name)
            if first and f.S is not None:
                s0[centre] = f.S
            f.S0 = np.array(s0[centre])

        # cumulative non-affine displacement: D += sqrt(D2min since the previous step).  The
        # input script renews the reference after this call ("fix_modify ID_STORE reference
        # current" is allowed only between runs, and the hook runs inside "run 0").
        if self.nonaffine_id and self.D_name:
            D = prop(self.D_name)
            if not first:
                D += np.sqrt(np.maximum(compute(self.nonaffine_id, LMP_TYPE_VECTOR), 0.0))
            f.D = np.array(D[centre])

        if self.bonds_id:
            f.B = compute(self.bonds_id, LMP_TYPE_ARRAY)[centre]

        # local hydrostatic stress, GPa (+ = tension): trace(stress/atom) over 3 Voronoi
        # volumes (stress/atom is -pressure x volume, in bar Å^3)
        if self.stress_id and self.volume_id:
            sig = compute(self.stress_id, LMP_TYPE_ARRAY)[centre]
            vol = compute(self.volume_id, LMP_TYPE_ARRAY)[centre][:, 0]
            f.hyd = (sig[:, 0] + sig[:, 1] + sig[:, 2]) / (3.0 * np.maximum(vol, 1e-12)) / 1.0e4
            f.vol = vol

        if self.unwrapped_id and self.X0_name:
            xu = compute(self.unwrapped_id, LMP_TYPE_ARRAY)
            f.frac = ((xu - np.asarray(boxlo)) @ np.linalg.inv(cell))[:, self.axis]
            X0 = prop(self.X0_name)
            if first:
                X0[:] = f.frac
            f.X0 = np.array(X0)
        return f

    def _model_softness(self, X):
        m = self.model
        if hasattr(m, "softness"):
            return m.softness(X) if len(X) else np.zeros(0)
        return m.decision_function(X) if len(X) else np.zeros(0)

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
