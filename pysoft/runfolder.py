"""A run folder of ``pysoft run``, read back: the one reader of ``done.json`` and of the
outputs it lists, for the pipeline (what is finished) and for ``pysoft report``.

The layout is :mod:`pysoft.stages`' (``STAGE/PxGPa/`` or ``STAGE/``).  A task's result is the one
the pipeline recorded in its ``done.json``; only a task without one (a run still going, or an
interrupted one) is read from its output files, with the parsers of :mod:`pysoft.results`.
"""

import glob
import json
import os

import numpy as np

from pysoft import series
from pysoft.results import OUTCOME_KEYS, QUENCH_KEYS, planestrain_outcome, quench_result, read_table
from pysoft.stages import STAGES, label_pressure

DONE = "done.json"                # written by a task once it finished and its outputs were checked
TASK_MARKER = ".pysoft-task"      # in every task folder pysoft makes: only such folders are emptied


def read_json(path):
    """The JSON in `path`, or None if it is missing or unreadable."""
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def read_done(task_dir):
    """The done.json of the task folder `task_dir` as a dict, or None if it has none (or one
    that cannot be read, which counts as none)."""
    done = read_json(os.path.join(task_dir, DONE))
    return done if isinstance(done, dict) else None


def pressure_dirs(run_dir, stage):
    """[(pressure in GPa, folder)] of a per-pressure stage, by pressure."""
    out = []
    for d in glob.glob(os.path.join(run_dir, stage, "P*GPa")):
        p = label_pressure(os.path.basename(d))
        if p is not None and os.path.isdir(d):
            out.append((p, d))
    return sorted(out)


class RunData:
    """Everything ``pysoft report`` needs from a run folder; missing parts are None / empty."""

    def __init__(self, run_dir):
        self.run_dir = os.path.abspath(run_dir)
        self.config = read_json(os.path.join(self.run_dir, "config.json")) or {}
        self.quench = {}          # P -> dict of pysoft.results.QUENCH_KEYS
        self.strain = {}          # P -> array (nsteps, 7)
        self.stress = {}          # P -> array (nrows, 6) plane stress
        self.series = {}          # P -> (header, [rows])
        self.outcome = {}         # P -> how the plane-strain loop ended (pysoft.results.OUTCOME_KEYS)
        self.done = []            # done.json dicts, in stage order, then by pressure
        for p, d in pressure_dirs(self.run_dir, "quench"):
            r = _recorded(d, QUENCH_KEYS)
            if r is None:
                r = _quench_log(d)
            if r is not None:
                self.quench[p] = r
        for p, d in pressure_dirs(self.run_dir, "planestrain"):
            t = _table(os.path.join(d, "planestrain.txt"), 7)
            if t is not None and len(t):
                self.strain[p] = t
            o = _recorded(d, OUTCOME_KEYS)
            if o is None:
                o = planestrain_outcome(os.path.join(d, "planestrain.txt"))
            if o is not None:
                self.outcome[p] = o
            s = series.read(os.path.join(d, "series.jsonl"))
            if s is not None and s[0] is not None and s[1]:
                self.series[p] = s
        for p, d in pressure_dirs(self.run_dir, "planestress"):
            t = _table(os.path.join(d, "planestress.txt"), 6)
            if t is not None and len(t):
                self.stress[p] = t
        train = os.path.join(self.run_dir, STAGES["train"].directory(None))
        self.model = read_json(os.path.join(train, "model.json"))
        phop = os.path.join(train, "model_phop.png")
        self.phop_png = phop if os.path.isfile(phop) else None
        for name, stage in STAGES.items():
            if not stage.is_task:
                continue
            dirs = ([d for _, d in pressure_dirs(self.run_dir, name)] if stage.per_pressure
                    else [os.path.join(self.run_dir, stage.directory(None))])
            self.done += [d for d in map(read_done, dirs) if d]
        self.pressures = sorted(set(self.quench) | set(self.strain) | set(self.series) | set(self.stress))

    @property
    def empty(self):
        return not (self.pressures or self.model)


def _recorded(task_dir, keys):
    """The result the pipeline recorded for a finished task, restricted to `keys`, or None."""
    result = (read_done(task_dir) or {}).get("result")
    if not isinstance(result, dict) or not all(k in result for k in keys):
        return None
    return {k: result[k] for k in keys}


def _quench_log(d):
    for name in ("log.lammps", "screen.txt"):
        try:
            with open(os.path.join(d, name), errors="replace") as fh:
                r = quench_result(fh.read())
        except OSError:
            continue
        if r is not None:
            return r
    return None


def _table(path, ncols):
    read = read_table(path, ncols)
    if read is None:
        return None
    return np.array(read[0], dtype=float).reshape(-1, ncols)
