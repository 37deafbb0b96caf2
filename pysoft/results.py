"""What the LAMMPS inputs of ``inputs/`` write as their results, parsed in one place.

``pysoft run`` reads these files to check a stage and record its result in ``done.json``;
``pysoft report`` reads the recorded results (:mod:`pysoft.runfolder`) and falls back on these
parsers only for a task that has no ``done.json`` yet.
"""

import re

_FLOAT = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?nan|[-+]?inf)"
# in.quench: the printed line, not the echoed print command (which holds $(...) instead of numbers)
QUENCH_RESULT = re.compile(
    rf"^quench result: P {_FLOAT} GPa\s+density {_FLOAT} g/cm3\s+Al4 {_FLOAT}\s+Al5 {_FLOAT}\s+Al6 {_FLOAT}"
    rf"\s+other {_FLOAT}", re.M)
QUENCH_KEYS = ("P_GPa", "density_g_cm3", "Al4", "Al5", "Al6", "other")


def quench_result(text):
    """The last "quench result:" line of a log as a dict (QUENCH_KEYS), or None."""
    m = None
    for m in QUENCH_RESULT.finditer(text):
        pass
    return None if m is None else dict(zip(QUENCH_KEYS, (float(v) for v in m.groups())))


PLANESTRAIN_RESULT = re.compile(r"^# planestrain result: fractured ([01]) failure_step (-?\d+) failure_strain (\S+)", re.M)


OUTCOME_KEYS = ("fractured", "failure_step", "failure_strain")


def planestrain_outcome(path):
    """How the plane-strain loop ended, from its stress-strain file (in.tension.planestrain).

    {"fractured": bool, "failure_step": int or None, "failure_strain": float or None}; None when
    the file has no result line (the loop was stopped before its end).
    """
    try:
        with open(path) as fh:
            text = fh.read()
    except OSError:
        return None
    m = None
    for m in PLANESTRAIN_RESULT.finditer(text):      # a continued run (restart) adds its own: the last counts
        pass
    if m is None:
        return None
    fractured = m.group(1) == "1"
    return {"fractured": fractured, "failure_step": int(m.group(2)) if fractured else None,
            "failure_strain": float(m.group(3)) if fractured else None}


def read_table(path, ncols):
    """The rows of a stress-strain file (in.tension.*: '#' comments, then numbers).

    Returns (rows, bad): rows are the lines of `ncols` numbers, as lists of floats (non-finite
    values kept); bad lists (reason, line) of the other lines, reason "non-numeric" or
    "columns".  None when there is no file.
    """
    try:
        fh = open(path)
    except OSError:
        return None
    rows, bad = [], []
    with fh:
        for line in fh:
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                row = [float(v) for v in line.split()]
            except ValueError:
                bad.append(("non-numeric", line.strip()))
                continue
            if len(row) == ncols:
                rows.append(row)
            else:
                bad.append(("columns", line.strip()))
    return rows, bad
