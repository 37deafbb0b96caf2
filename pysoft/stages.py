"""The stages of ``pysoft run``, one object each, in :data:`STAGES`, their order.

A stage says which stages' outputs it reads (:meth:`Stage.needs`), what defines its result
(:meth:`Stage.params`: the ``-var`` values or training settings, stored in ``done.json``), what
it costs (:meth:`Stage.cost`, in atom-steps or atom-frames, and :meth:`Stage.disk`), how it runs
and checks its outputs (:meth:`Stage.run`), and the one-line summary of its result.  The
config (the ``stages`` key), the CLI (``--stop-after``), the pipeline (the plan) and the report
(the order of its tables) read this registry; :class:`pysoft.pipeline.Pipeline` schedules the
tasks and keeps ``done.json``.  doc/method.md sections 2, 3 and 6 describe the protocols.

=============  ========  ===============================  ========================================
stage          per       LAMMPS input (inputs/)           writes (in RUN_DIR/STAGE/PxGPa/ or train/)
=============  ========  ===============================  ========================================
quench         pressure  in.quench                        glass.data, log.lammps ("quench result:")
nvt            pressure  in.nvt300                        traj_PxGPa.lammpstrj[.gz]: 300 K trajectory
train          run       (pysoft train, a child process)  model.json, model_phop.png,
                                                                model_learning_curve.png
planestrain    pressure  in.tension.planestrain           planestrain.txt, series.jsonl
planestress    pressure  in.tension.planestress           planestress.txt
report         run       (pysoft.report)                  report/index.html (always rebuilt)
=============  ========  ===============================  ========================================
"""

import json
import os
import re
import sys

from pysoft.progress import size
from pysoft import series
from pysoft.results import planestrain_outcome, quench_result, read_table

DT_PS = 0.001                     # the MD timestep of every input in inputs/
MINIMIZE_COST = 0.5               # force evaluations per minimizer iteration, relative to an MD step
DUMP_BYTES_PER_ATOM = 60          # "id type x y z ix iy iz" text line, about
GZIP_FRACTION = 0.35              # gzip keeps about a third of it


class RunError(ValueError):
    """A problem that stops the pipeline; the message is one line for the user."""


def pressure_label(p_gpa):
    """Directory-safe label of a pressure in GPa: 0 -> 'P0GPa', 2.5 -> 'P2.5GPa', -1 -> 'P-1GPa'."""
    return f"P{p_gpa:g}GPa"


def label_pressure(label):
    """The pressure in GPa of a pressure_label, or None if `label` is not one."""
    m = re.fullmatch(r"P(.+)GPa", label)
    try:
        return float(m.group(1)) if m else None
    except ValueError:
        return None


def fmt_var(v):
    """A -var value (or command-line value) as LAMMPS will read it (no trailing noise, exact for
    decimals)."""
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


def analysis_on(cfg):
    """Whether the plane-strain stage runs the on-the-fly analysis (and so needs a model)."""
    return "planestrain" in cfg["stages"] and cfg["planestrain"]["analysis"]


def quench_seed(quench, p_gpa):
    """The seed of the random start of the glass quenched at `p_gpa`.

    The paper's glasses are independent, so by default each pressure draws its own melt: the
    base seed plus 1009 times a zigzag index of the pressure in 10 MPa (0, -0.01, +0.01, ... GPa
    -> 0, 1, 2, ...).  The 0 GPa glass keeps the base seed; the spacing (a prime > 2) keeps every
    seed and seed + 1 (in.quench draws O atoms with seed + 1) apart from any other pressure's.
    `paired: true` gives every pressure the base seed (the same melt at each pressure).
    """
    if quench["paired"]:
        return quench["seed"]
    k = round(p_gpa * 100)
    seed = quench["seed"] + 1009 * (2 * k if k >= 0 else -2 * k - 1)
    if seed + 1 > 2**31 - 1:
        raise RunError(f"quench seed {quench['seed']} at {p_gpa:g} GPa gives {seed}, beyond LAMMPS's "
                       f"2^31 - 1: choose a smaller quench.seed or set quench.paired: true")
    return seed


def _quench_vars(cfg, p_gpa):
    """The quench section as in.quench's -var values: the pressure's own seed, no pysoft-only keys."""
    q = {k: v for k, v in cfg["quench"].items() if k != "paired"}
    q["seed"] = quench_seed(cfg["quench"], p_gpa)
    return q


def _common(cfg):
    return {"units": cfg["units"], "rc": cfg["potential"]["rc"], "kacc": cfg["potential"]["kacc"]}


def _potential_vars(cfg):
    return {"rc": cfg["potential"]["rc"], "kacc": cfg["potential"]["kacc"]}


class Stage:
    """One step of the workflow; its tasks are run by :class:`pysoft.pipeline.Pipeline`."""

    name = None
    per_pressure = True       # one task per quench pressure, else one task for the run
    script = None             # its LAMMPS input in inputs/; None: not an MD run
    default = True            # in the config's default stages
    is_task = True            # has tasks and done.json (the report is rebuilt every time instead)
    resumable = False         # an interrupted attempt can continue (run(..., resume=True))
    cost_unit = "atom-steps"

    def needs(self, cfg):
        """Stages whose outputs a task reads: the task at the same pressure of a per-pressure
        stage (every pressure's, for a stage run once), the one task of a run-level stage."""
        return ()

    def params(self, cfg, pressure):
        """What defines the result of the task at `pressure` (None for a stage run once); a
        finished task with other params is not reused."""
        return {}

    def cost(self, cfg, natoms):
        return 0.0

    def disk(self, cfg, natoms):
        """Bytes a task writes, about."""
        return natoms * 200 + 5.0e6 if self.script else 0.0

    def directory(self, pressure):
        return os.path.join(self.name, pressure_label(pressure)) if self.per_pressure else self.name

    def run(self, pipe, task, d, beat):
        """Run `task` in its folder `d`; return (outputs, result) for done.json, or raise RunError."""
        raise NotImplementedError

    def summary(self, result):
        return ""

    @staticmethod
    def glass(pipe, task):
        """The quenched glass a task of a per-pressure stage starts from."""
        return os.path.join(pipe.run_dir, task.upstream[0].directory, "glass.data")


class Quench(Stage):
    name = "quench"
    script = "in.quench"

    def params(self, cfg, pressure):
        return {**_common(cfg), "P": pressure, **_quench_vars(cfg, pressure)}

    def cost(self, cfg, natoms):
        q = cfg["quench"]
        ps = sum(q[k] for k in ("t_melt", "t_cool", "t_liq", "t_dens", "t_quench", "t_rnvt", "t_rnpt"))
        return natoms * (ps / DT_PS + 1000 * MINIMIZE_COST)

    def run(self, pipe, task, d, beat):
        cfg = pipe.config
        log = pipe._lammps(task, d, self.script, {**_potential_vars(cfg), "units": cfg["units"], "P": task.pressure,
                                                   **_quench_vars(cfg, task.pressure), "out": "glass.data"},
                          beat)
        natoms = _data_atoms(os.path.join(d, "glass.data"))
        if natoms != pipe.natoms:
            raise RunError(f"{task.label}: glass.data holds {natoms} atoms, expected {pipe.natoms}")
        result = quench_result(log)
        if result is None:
            raise RunError(f"{task.label}: no 'quench result:' line in {os.path.join(d, 'log.lammps')}")
        if not all(v == v and abs(v) != float("inf") for v in result.values()):
            raise RunError(f"{task.label}: non-finite quench result: {result}")
        return {"data": "glass.data", "log": "log.lammps"}, result

    def summary(self, r):
        return (f": density {r['density_g_cm3']:.3f} g/cm3, Al4/Al5/Al6 {100 * r['Al4']:.1f}/{100 * r['Al5']:.1f}/"
                f"{100 * r['Al6']:.1f} %")


class Nvt(Stage):
    name = "nvt"
    script = "in.nvt300"

    def needs(self, cfg):
        return ("quench",)

    def params(self, cfg, pressure):
        n = cfg["nvt"]
        if n["sampler"] == "dump":
            # the sampler's keys do not define a dumped trajectory (and runs finished before they
            # existed keep their done.json valid)
            n = {k: v for k, v in n.items() if k not in ("sampler", "calm_fraction")}
        return {**_common(cfg), **n}

    def cost(self, cfg, natoms):
        return natoms * cfg["nvt"]["time"] / DT_PS

    def disk(self, cfg, natoms):
        n = cfg["nvt"]
        if n["sampler"] == "inrun":
            return natoms * 200 + 5.0e6         # the dataset holds the labelled atoms only; logs
        return nvt_frames(n) * natoms * DUMP_BYTES_PER_ATOM * (GZIP_FRACTION if n["compress"] else 1)

    def run(self, pipe, task, d, beat):
        from pysoft.dump import DumpError, read_timesteps

        n = pipe.config["nvt"]
        name = f"traj_{pressure_label(task.pressure)}.lammpstrj" + (".gz" if n["compress"] else "")
        variables = {**_potential_vars(pipe.config), "data": self.glass(pipe, task),
                     **{k: v for k, v in n.items() if k != "compress"}, "dump": name}
        if n["sampler"] == "inrun":
            return self._run_inrun(pipe, task, d, beat, variables)
        pipe._lammps(task, d, self.script, variables, beat)
        try:
            frames = len(read_timesteps(os.path.join(d, name)))
        except DumpError as e:
            raise RunError(f"{task.label}: {e}")
        want = nvt_frames(n)
        if frames != want:
            raise RunError(f"{task.label}: {name} has {frames} frames, expected {want}")
        return {"trajectory": name, "log": "log.lammps"}, {"frames": frames,
                                                             "bytes": os.path.getsize(os.path.join(d, name))}

    def _run_inrun(self, pipe, task, d, beat, variables):
        """The 300 K stage with the in-run sampler (nvt.sampler: inrun): a dataset, no trajectory."""
        from pysoft.samples import SamplesError, read_dataset

        tr = pipe.config["train"]
        name = f"samples_{pressure_label(task.pressure)}.pysoft"
        variables = {**variables, "samples": name, "sampler_mod": os.path.join(pipe.inputs_dir, "pysoft_sampler.mod"),
                     "tR": tr["t_r"], "hop_threshold": tr["hop_threshold"], "calm_threshold": tr["calm_threshold"],
                     "spec": tr["spec"]}
        variables.pop("dump")
        if os.path.exists(os.path.join(d, name)):
            os.unlink(os.path.join(d, name))       # a stage re-run starts its dataset afresh
        pipe._lammps(task, d, self.script, variables, beat)
        try:
            frames = read_dataset(os.path.join(d, name)).nframes
        except SamplesError as e:
            raise RunError(f"{task.label}: {e}")
        want = nvt_frames(pipe.config["nvt"])
        if frames != want:
            raise RunError(f"{task.label}: {name} has {frames} frames, expected {want}")
        return {"samples": name, "log": "log.lammps"}, {"frames": frames,
                                                        "bytes": os.path.getsize(os.path.join(d, name))}

    def summary(self, r):
        return f": {r['frames']} frames, {size(r['bytes'])}"


class Train(Stage):
    name = "train"
    per_pressure = False
    cost_unit = "atom-frames"
    PRIOR = (30.0, 2.0e-6)        # seconds = a + b * atom-frames, until a training run is measured

    def needs(self, cfg):
        return ("nvt",)

    def params(self, cfg, pressure):
        return {"units": cfg["units"], "pressures": cfg["pressures"], **cfg["train"]}

    def cost(self, cfg, natoms):
        return nvt_frames(cfg["nvt"]) * natoms * len(cfg["pressures"]) * 0.4     # Al atoms x frames

    def run(self, pipe, task, d, beat):
        pipe._stale_upstream(task)
        tr = pipe.config["train"]
        dumps = [os.path.join(pipe.run_dir, u.directory, u.done["outputs"]["trajectory"]) for u in task.upstream
                 if "trajectory" in u.done["outputs"]]
        datasets = [os.path.join(pipe.run_dir, u.directory, u.done["outputs"]["samples"]) for u in task.upstream
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
            inputs = ["--samples", *datasets, "--calm-fraction", fmt_var(fraction.pop())]
        cmd = [sys.executable, "-m", "pysoft.cli", "train", *inputs, "--types", "Al", "O", "-o", "model.json",
               "--spec", tr["spec"], "--tr", fmt_var(tr["t_r"]), "--dt", fmt_var(DT_PS),
               "--hop-threshold", fmt_var(tr["hop_threshold"]), "--calm-threshold", fmt_var(tr["calm_threshold"]),
               "--min-events", str(tr["min_events"]), "--seed", str(tr["seed"]),
               "--C", ",".join(fmt_var(c) for c in tr["C"]), "--folds", str(tr["folds"])]
        also = [t for t in tr["also_thresholds"] if t > tr["hop_threshold"]]
        cmd += ["--also-threshold", *(fmt_var(t) for t in also)]
        if tr["per_class"] is not None:
            cmd += ["--per-class", str(tr["per_class"])]
        pipe._write_command(d, cmd)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        if task.ranks < pipe.nprocs:              # other tasks run beside it: phop keeps to its share
            env["NUMBA_NUM_THREADS"] = str(task.ranks)
        log = os.path.join(d, "train.log")
        rc = pipe._child(cmd, d, log, beat, env=env)
        if rc != 0:
            lines = open(log, errors="replace").read().splitlines()
            msg = next((ln.split("error:", 1)[1].strip() for ln in lines if ln.startswith("pysoft: error:")),
                       lines[-1] if lines else "(no output)")
            hint = ""
            if "too few events" in msg:
                hint = " (config keys: nvt.time, train.hop_threshold, train.calm_threshold, train.min_events)"
            raise RunError(f"{task.label} failed: {msg}{hint}; log {log}")
        from pysoft.model import ModelError, SoftnessModel

        try:
            _, model = SoftnessModel.load(os.path.join(d, "model.json"))
        except ModelError as e:
            raise RunError(f"{task.label}: {e}")
        m, prov = model.get("metrics", {}), model.get("provenance", {})
        hold = m.get("holdout") or {}
        result = {"events": prov.get("events"), "cv_accuracy": m.get("cv_accuracy"), "C": m.get("C"),
                  "holdout_test": hold.get("test"), "holdout_balanced": hold.get("balanced_accuracy"),
                  "holdout_baseline": hold.get("majority_baseline"), "n_samples": m.get("n_samples")}
        outputs = {"model": "model.json", "log": "train.log"}
        for key, name in (("phop_figure", "model_phop.png"), ("learning_curve_figure", "model_learning_curve.png")):
            if os.path.isfile(os.path.join(d, name)):
                outputs[key] = name
        return outputs, result

    def summary(self, r):
        ev = r.get("events") or {}
        base = r.get("holdout_baseline")
        return (f": {ev.get('rearranging', '?')} rearranging events, CV accuracy {r['cv_accuracy']:.3f}, "
                f"held-out test {r['holdout_test']:.3f}"
                + (f" (majority baseline {base:.3f})" if base is not None else ""))


class PlaneStrain(Stage):
    name = "planestrain"
    script = "in.tension.planestrain"
    resumable = True

    def needs(self, cfg):
        # a given model: replaces the train stage (its identity goes into the params instead)
        return ("quench", "train") if analysis_on(cfg) and cfg["model"] is None else ("quench",)

    def params(self, cfg, pressure):
        analysis = analysis_on(cfg)
        params = {**_common(cfg), **{k: v for k, v in cfg["planestrain"].items() if k != "analysis"},
                  "analysis": analysis}
        if analysis and cfg["model"] is not None:
            st = os.stat(cfg["model"])
            params["model"] = {"path": cfg["model"], "bytes": st.st_size, "mtime": int(st.st_mtime)}
        return params

    @staticmethod
    def check_model(cfg):
        """The model: a plane-strain run with the analysis reads instead of the train stage's."""
        model = cfg["model"]
        if analysis_on(cfg) and model is not None:
            if not os.path.isfile(model):
                raise RunError(f"model: {model} does not exist")
            from pysoft.model import ModelError, SoftnessModel

            try:
                SoftnessModel.load(model)           # JSON only: the checks of compute softness
            except ModelError as e:
                raise RunError(f"model: {e}")

    def cost(self, cfg, natoms):
        ps = cfg["planestrain"]
        steps = ps["t_nvt"] / DT_PS + ps["miniter"] * MINIMIZE_COST
        return natoms * ps["nx"] * (ps["t_eq"] / DT_PS + (ps["nsteps"] + 1) * steps)

    def run(self, pipe, task, d, beat, resume=False):
        ps = pipe.config["planestrain"]
        analysis = analysis_on(pipe.config)
        variables = {**_potential_vars(pipe.config), "data": self.glass(pipe, task),
                     **{k: v for k, v in ps.items() if k != "analysis"}, "ss": "planestrain.txt"}
        if analysis:
            variables.update(model=pipe._model_path(), series="series.jsonl", analysis="pysoft_analysis.mod")
        log = "log.lammps"
        ended = resume and planestrain_outcome(os.path.join(d, "planestrain.txt")) is not None
        if resume:
            # each continuation keeps its own log; the stress-strain file and the series go on
            # from the restart pair's step: pysoft.runid (called by the input) drops the rows
            # written after the pair, both files by one rule
            n = 1 + sum(1 for f in os.listdir(d) if re.fullmatch(r"log\.continued\d+\.lammps", f))
            log = f"log.continued{n}.lammps"
            variables["restart"] = "planestrain.restart"
        if not ended:       # else the loop had ended and only the exit was lost: its files are checked below
            pipe._lammps(task, d, self.script, variables, beat, log=log)
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
                  "final_stress_GPa": rows[-1][2], "analysis": analysis, **outcome}
        if analysis:
            steps = _series_steps(os.path.join(d, "series.jsonl"), task.label)
            if steps != list(range(len(rows))):
                raise RunError(f"{task.label}: series.jsonl has steps {_span(steps)}, expected 0..{len(rows) - 1}")
            outputs["series"] = "series.jsonl"
            if os.path.isfile(os.path.join(d, "keyframes", "keyframes.json")):
                outputs["keyframes"] = "keyframes/keyframes.json"      # pysoft.keyframes
        return outputs, result

    def summary(self, r):
        if "fractured" not in r:
            return f": peak stress {r['peak_stress_GPa']:.2f} GPa"
        end = (f"fractured at strain {r['failure_strain']:.3f}" if r["fractured"]
               else f"not fractured by the cap (final stress {r['final_stress_GPa']:.2f} GPa)")
        return f": peak stress {r['peak_stress_GPa']:.2f} GPa, {end}"


class PlaneStress(Stage):
    name = "planestress"
    script = "in.tension.planestress"
    default = False

    def needs(self, cfg):
        return ("quench",)

    def params(self, cfg, pressure):
        return {**_common(cfg), **cfg["planestress"]}

    def cost(self, cfg, natoms):
        pst = cfg["planestress"]
        return natoms * pst["nx"] * (pst["t_eq"] + pst["strain"] / (pst["rate"] * 1e-12)) / DT_PS

    def run(self, pipe, task, d, beat):
        pst = pipe.config["planestress"]
        variables = {**_potential_vars(pipe.config), "data": self.glass(pipe, task), **pst, "ss": "planestress.txt"}
        pipe._lammps(task, d, self.script, variables, beat)
        rows = _table(os.path.join(d, "planestress.txt"), 6, task.label)
        want = planestress_rows(pst)
        if len(rows) != want:
            raise RunError(f"{task.label}: planestress.txt has {len(rows)} rows, expected {want}")
        return {"stress_strain": "planestress.txt", "log": "log.lammps"}, {
            "rows": len(rows), "peak_stress_GPa": max(r[2] for r in rows)}

    def summary(self, r):
        return f": peak stress {r['peak_stress_GPa']:.2f} GPa"


class Report(Stage):
    """The report: rebuilt from the run folder at the end of every run, no task of its own."""

    name = "report"
    per_pressure = False
    is_task = False
    SECONDS = 15.0                # its share of the time-left estimate


STAGES = {s.name: s for s in (Quench(), Nvt(), Train(), PlaneStrain(), PlaneStress(), Report())}
TASK_STAGES = tuple(name for name, s in STAGES.items() if s.is_task)
DEFAULT_STAGES = tuple(name for name, s in STAGES.items() if s.default)


# -- checks of a task's outputs --------------------------------------------------------------


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
    """The rows of a stress-strain file, every one complete and finite, else RunError."""
    read = read_table(path, ncols)
    name = os.path.basename(path)
    if read is None:
        raise RunError(f"{label}: {name} was not written")
    rows, bad = read
    if bad:
        reason, line = bad[0]
        raise RunError(f"{label}: {name} has a {'non-numeric' if reason == 'non-numeric' else 'bad'} row: {line}")
    for row in rows:
        if not all(v == v and abs(v) != float("inf") for v in row):
            raise RunError(f"{label}: {name} has a bad row: {' '.join(fmt_var(v) for v in row)}")
    return rows


def _series_steps(path, label):
    read = series.read(path)
    if read is None:
        raise RunError(f"{label}: series.jsonl was not written (the on-the-fly analysis did not run)")
    header, rows = read
    if header is None:
        raise RunError(f"{label}: series.jsonl has no pysoft-series header")
    return [r["step"] for r in rows]


def _span(steps):
    return f"{steps[0]}..{steps[-1]} ({len(steps)} rows)" if steps else "none"
