"""The time series of a strain loop (``series.jsonl``): its schema, in one place.

Written by :class:`pysoft.hooks.PlaneStrainTally` (rows from :func:`pysoft.tally.tally_row`),
read by :mod:`pysoft.pipeline` and :mod:`pysoft.report`.  One JSON object per line: the header
first (``format``, ``version``, units, the histogram edges of this series, the state and CN-class
names), then one row per strain step (``step`` 0, 1, 2, ...).

The histogram edges of softness, local stress and initial softness come from the first step's data (the unstrained
glass) and are stored in the header, so every row of one series shares them; the defaults below
are the fallbacks when the first step has no spread.  Nothing here imports numba or LAMMPS.
"""

import json

import numpy as np

FORMAT = "pysoft-series"
VERSION = 1

# Softness and local stress take their range from the data of the first step, widened so that
# the strained steps stay inside (pysoft.tally.data_edges): the local hydrostatic stress of Al
# with the Matsui potential lies at +23..+90 GPa, far outside any fixed guess.
S_EDGES = np.linspace(-4.0, 4.0, 41)              # softness (fallback)
SIGMA_EDGES = np.linspace(-20.0, 20.0, 81)        # local hydrostatic stress, GPa (fallback)
S_BINS, SIGMA_BINS = 60, 80
S_WIDEN, SIGMA_WIDEN = 1.0, 0.5                   # extra range on each side, in units of the first step's range
# D starts at 0 and grows without a known bound: logarithmic bins, 15 per decade, 0.01-1000 Å
D_EDGES = np.concatenate([[0.0], np.geomspace(1.0e-2, 1.0e3, 76)])
# initial softness bins for P(DC | S0): S0 is fixed per atom, so the first step's [min, max] in
# S0_BINS bins holds every later step (the scale of S depends on the model: about +-2 in the
# demo, +-0.3 in examples/validation.yaml); S0_EDGES is the fallback
S0_EDGES = np.linspace(-3.0, 3.0, 13)
S0_BINS = 12
X_BINS = 20                                       # bins along the loading axis

STATES = ("UC", "DC", "IC", "SC")                 # column 3 of compute bondswitch/atom, codes 0..3
SWITCHED = STATES[1:]                             # the states of an Al whose bonds switched
CN_CLASSES = (4, 5, 6)                            # Al4, Al5, Al6 by initial CN (column 1)

UNITS = {"length": "Å", "stress": "GPa, positive in tension", "softness": "dimensionless", "D": "Å"}


def header(length0, axis, centre_type, top_fraction, cluster_cutoff, bins, ranks, run_id=None):
    """The first line of a series; `bins` holds the edges fixed at the first step; `run_id` the
    identity of the run (:mod:`pysoft.runid`)."""
    return {"format": FORMAT, "version": VERSION, "run_id": run_id, "units": dict(UNITS),
            "length0_A": length0, "axis": axis, "centre_type": centre_type,
            "top_fraction": top_fraction, "cluster_cutoff_A": cluster_cutoff,
            "bins": {"softness": np.asarray(bins["softness"]).tolist(), "D_A": np.asarray(bins["D_A"]).tolist(),
                     "local_stress_GPa": np.asarray(bins["local_stress_GPa"]).tolist(),
                     "s0": np.asarray(bins.get("s0", S0_EDGES)).tolist(),
                     "axis": X_BINS},
            "states": list(STATES), "ranks": ranks}


def bins_of(head):
    """The histogram edges of a series, from its header (as arrays)."""
    return {k: np.asarray(head["bins"].get(k, S0_EDGES if k == "s0" else None), float)
            for k in ("softness", "D_A", "local_stress_GPa", "s0")}


def is_header(obj):
    return isinstance(obj, dict) and obj.get("format") == FORMAT


def read(path):
    """(header, rows) of a series file; header None when it has no series header; None when the
    file cannot be read.  A line that is not JSON (the torn last line of a killed run) is skipped."""
    try:
        fh = open(path, errors="replace")     # random bytes: not JSON lines, never a traceback
    except OSError:
        return None
    head, rows = None, []
    with fh:
        for line in fh:
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if is_header(obj):
                head = obj
            elif isinstance(obj, dict) and "step" in obj and head is not None:
                rows.append(obj)
    return head, rows
