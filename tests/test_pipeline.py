"""pysoft run: strict config validation before any MD, and checkpoints that survive a kill.

The validation tests start no MD: each mistake must come back as one line, ``pysoft: error:``,
exit status 2, and leave no run folder behind.  The checkpoint tests run the real stages on a
tiny protocol (30 Al2O3 units = 150 atoms, stages of a few fs, PPPM accuracy 1e-3, one rank, as
in test_inputs.py) so that each LAMMPS run takes seconds.  Training on such short trajectories
needs a window tR of 10 fs and phop thresholds scaled down to the sub-Å^2 motions of 60 fs
(0.005 and 0.001 Å^2 give ~80 rearranging and ~250 calm events); the numbers mean nothing
physically, the point is that every stage runs, is checked and is checkpointed.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
INPUTS = os.path.normpath(os.path.join(HERE, "..", "inputs"))
LMP = os.path.join(os.path.dirname(sys.executable), "lmp")

TINY = {
    "name": "tiny",
    "units": 30,
    "pressures": ["0 GPa", "4 GPa"],
    "np": 1,
    "inputs_dir": INPUTS,
    "potential": {"kacc": 1.0e-3},
    "quench": {"t_melt": "5 fs", "t_cool": "5 fs", "t_liq": "5 fs", "t_dens": "5 fs", "t_quench": "10 fs",
               "t_rnvt": "5 fs", "t_rnpt": "5 fs"},
    "nvt": {"time": 0.06, "dump_every": 0.001, "seed": 11},
    "train": {"t_r": 0.01, "hop_threshold": 0.005, "calm_threshold": 0.001, "min_events": 5, "folds": 2,
              "C": [1.0]},
    "planestrain": {"nx": 1, "t_eq": 0.005, "nsteps": 2, "t_nvt": 0.004, "t_avg": 0.002, "miniter": 20},
    "stages": ["quench", "nvt", "train", "planestrain", "report"],
}


def write_config(path, cfg=None, **changes):
    cfg = json.loads(json.dumps(cfg or TINY))
    for key, value in changes.items():
        section, _, name = key.partition("__")
        if name:
            cfg.setdefault(section, {})[name] = value
        elif value is None:
            cfg.pop(section, None)
        else:
            cfg[section] = value
    with open(path, "w") as fh:
        yaml.safe_dump(cfg, fh)
    return str(path)


def analysis_available():
    from pysoft.pipeline import analysis_problem

    return analysis_problem(INPUTS, LMP) is None


# ---- validation: one line, exit 2, no MD ---------------------------------------------------

def run_cli(args, capsys):
    from pysoft.cli import main

    rc = main(args)
    out, err = capsys.readouterr()
    return rc, out, err


BAD_CONFIGS = [
    ({"unit": 300}, "unknown key 'unit'"),
    ({"quench__t_mlt": 5}, "unknown key 'quench.t_mlt'"),
    ({"units": "many"}, "units must be an integer, got 'many'"),
    ({"units": 2.5}, "units must be an integer"),
    ({"units": 2}, "units must be >= 4"),
    ({"np": True}, "np must be an integer"),
    ({"nvt__time": "5 parsecs"}, "nvt.time: unknown unit 'parsecs'"),
    ({"nvt__time": [1, 2]}, "nvt.time must be a duration"),
    ({"quench__T": "300 C"}, "quench.T: unknown unit 'C'"),
    ({"pressures": ["0 GPa", "2 psi"]}, "pressures[1]: unknown pressure unit 'psi'"),
    ({"pressures": [0, 2], "pressure_unit": "atm"}, "pressure_unit: unknown pressure unit 'atm'"),
    ({"pressures": ["1 GPa", "10 kbar"]}, "the same pressure is given twice"),
    ({"pressures": ["-1 GPa"]}, "pressures[0] must be a finite pressure >= 0"),
    ({"pressures": "0 GPa"}, "pressures must be a non-empty list"),
    ({"stages": ["quench", "fly"]}, "stages: unknown stage 'fly'"),
    ({"planestrain__t_avg": 0.01}, "planestrain.t_avg (0.01 ps) must not exceed planestrain.t_nvt"),
    ({"train__calm_threshold": 0.01}, "train.calm_threshold (0.01) must not exceed train.hop_threshold"),
    ({"nvt__time": 0.01}, "nvt.time (0.01 ps) is shorter than the 2 tR = 0.02 ps that training needs"),
    ({"planestrain__analysis": "yes please"}, "planestrain.analysis must be true or false"),
    ({"stages": ["quench", "nvt", "planestrain"], "planestrain__analysis": True},
     "the planestrain stage needs a softness model"),
    ({"stages": ["quench", "nvt", "planestrain"], "model": "/nonexistent/model.json"},
     "model: /nonexistent/model.json does not exist"),
    ({"model": "/nonexistent/model.json"}, "model: is given and the train stage is on"),
    ({"stages": ["nvt"]}, "nvt P=0 GPa needs quench P=0 GPa, which is neither in stages nor finished"),
    ({"mpirun": "/nonexistent/bin/mpirun"}, "mpirun: /nonexistent/bin/mpirun not found or not executable"),
    ({"lmp": "no-such-lmp-here"}, "lmp: no-such-lmp-here not found"),
    ({"inputs_dir": "/nonexistent/inputs"}, "inputs_dir /nonexistent/inputs holds no in.quench"),
    ({"units": 1620, "nvt__time": 1.0e5, "nvt__dump_every": 0.001}, "not enough disk space"),
]


@pytest.mark.parametrize("changes,message", BAD_CONFIGS, ids=[m[:40] for _, m in BAD_CONFIGS])
def test_config_mistake_is_one_line_and_starts_nothing(tmp_path, capsys, changes, message):
    cfg = write_config(tmp_path / "c.yaml", **changes)
    out_dir = tmp_path / "run"
    rc, out, err = run_cli(["run", cfg, "--out", str(out_dir)], capsys)
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pysoft: error: "), err
    assert message in lines[0], lines[0]
    assert not out_dir.exists()


def test_yaml_syntax_error(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text("units: 30\npressures: [0 GPa, 2 GPa\n")
    rc, _, err = run_cli(["run", str(path), "--out", str(tmp_path / "run")], capsys)
    assert rc == 2 and err.count("\n") == 1 and "not valid YAML" in err and "line" in err


@pytest.mark.parametrize("text,message", [
    ("units: 30\nnp: 1\nunits: 3000\n", "key 'units' is given twice, on line 1 and on line 3"),
    ("quench:\n  t_melt: 5 fs\n  T: 300\n  t_melt: 6 fs\n", "key 't_melt' is given twice, on line 2 and on line 4"),
])
def test_yaml_key_given_twice(tmp_path, capsys, text, message):
    # PyYAML keeps the last value silently; a run of 3000 units instead of 30 is no small surprise
    path = tmp_path / "c.yaml"
    path.write_text(text)
    rc, _, err = run_cli(["run", str(path), "--out", str(tmp_path / "run"), "--plan"], capsys)
    assert rc == 2 and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "run").exists()


def test_plain_numbers_in_pressure_unit(tmp_path):
    from pysoft.config import load_config

    cfg = load_config(write_config(tmp_path / "c.yaml", pressures=[0, 20, 40], pressure_unit="kbar",
                                   nvt__time="60 fs", quench__T="300 K"))
    assert cfg["pressures"] == [0.0, 2.0, 4.0]
    assert cfg["nvt"]["time"] == pytest.approx(0.06)
    assert cfg["planestress"]["rate"] == 5.0e10                 # defaults are the paper's
    assert cfg["quench"]["rho1"] == 3.175 and cfg["planestrain"]["de"] == 0.01


@pytest.mark.parametrize("setting", ["default", "radial", "defualt", "my.json", "../specs/my.json",
                                     "sub.spec", "myspec", "here", "/nowhere/x.json"])
def test_spec_setting_means_what_the_library_reads_in_the_config_folder(tmp_path, monkeypatch, setting):
    # pysoft.config rebases train.spec onto the config's folder for `pysoft train`, which runs
    # elsewhere: the file the library (pysoft.spec.spec_path) finds for the rebased setting from
    # any folder is the one it finds for the setting itself from the config's folder
    from pysoft.config import load_config
    from pysoft.spec import spec_path

    folder = tmp_path / "cfg"
    (folder / "specs").mkdir(parents=True)
    for name in ("my.json", "sub.spec", "myspec", "radial"):
        (folder / name).write_text("{}")
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "my.json").write_text("{}")

    def found(name):
        try:
            return os.path.realpath(spec_path(name))
        except FileNotFoundError:
            return None

    rebased = load_config(write_config(folder / "c.yaml", train__spec=setting))["train"]["spec"]
    monkeypatch.chdir(folder)
    want = found(setting)
    monkeypatch.chdir(tmp_path / "specs")
    assert found(rebased) == want
    assert (want is None) == (setting in ("defualt", "here", "/nowhere/x.json"))


def test_plan_and_keys(tmp_path, capsys):
    rc, out, _ = run_cli(["run", "--keys"], capsys)
    assert rc == 0 and "t_quench" in out and "hop_threshold" in out
    cfg = write_config(tmp_path / "c.yaml", planestrain__analysis=False)
    rc, out, _ = run_cli(["run", cfg, "--out", str(tmp_path / "run"), "--plan"], capsys)
    assert rc == 0 and "quench P=4 GPa" in out and "to do" in out
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("name", ["small", "paper", "validation"])
def test_shipped_configs_are_valid(tmp_path, capsys, name):
    """The shipped examples pass the same validation as any config (the README's main job runs
    small.yaml); --plan starts no MD."""
    from pysoft.plugin import DATA_DIR

    cfg = os.path.join(DATA_DIR, "examples", f"{name}.yaml")
    rc, out, err = run_cli(["run", cfg, "--out", str(tmp_path / "run"), "--plan"], capsys)
    assert rc == 0, err
    assert "quench P=4 GPa" in out and "planestrain P=0 GPa" in out and "estimated time left" in out
    assert not (tmp_path / "run").exists()


# ---- checkpoints and resume (real MD on 150 atoms) -----------------------------------------

def done(run, stage):
    with open(os.path.join(run, stage, "done.json")) as fh:
        return json.load(fh)


def stamp(run, stage, name):
    return os.stat(os.path.join(run, stage, name)).st_mtime_ns


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory):
    d = tmp_path_factory.mktemp("pipeline")
    return write_config(d / "tiny.yaml", planestrain__analysis=analysis_available())


def test_resume_skips_finished_stages_and_redoes_the_interrupted_one(tmp_path, tiny_config, capsys):
    run = str(tmp_path / "run")
    rc, out, err = run_cli(["run", tiny_config, "--out", run, "--stop-after", "quench"], capsys)
    assert rc == 0, err
    assert "stopped after the quench stage" in out
    assert not os.path.exists(os.path.join(run, "nvt"))
    first = {p: done(run, f"quench/{p}") for p in ("P0GPa", "P4GPa")}
    assert first["P4GPa"]["result"]["P_GPa"] == 4.0
    assert 1.0 < first["P0GPa"]["result"]["density_g_cm3"] < 6.0
    data_time = stamp(run, "quench/P0GPa", "glass.data")

    # an nvt run killed half way: its folder holds a partial trajectory and no done.json
    from pysoft.pipeline import TASK_MARKER

    partial = os.path.join(run, "nvt", "P0GPa")
    os.makedirs(partial)
    open(os.path.join(partial, TASK_MARKER), "w").close()      # pysoft marks a folder as it makes it
    with open(os.path.join(partial, "traj_P0GPa.lammpstrj"), "w") as fh:
        fh.write("ITEM: TIMESTEP\n0\nITEM: NUMBER OF ATOMS\n150\nITEM: BOX BOUNDS pp pp pp\n")
    open(os.path.join(partial, "stale-file"), "w").close()

    rc, out, err = run_cli(["run", tiny_config, "--out", run, "--stop-after", "nvt"], capsys)
    assert rc == 0, err
    assert out.count("done earlier") == 2 and "quench P=0 GPa: done earlier" in out
    assert {p: done(run, f"quench/{p}") for p in ("P0GPa", "P4GPa")} == first
    assert stamp(run, "quench/P0GPa", "glass.data") == data_time
    assert not os.path.exists(os.path.join(partial, "stale-file"))
    nvt0 = done(run, "nvt/P0GPa")
    assert nvt0["result"]["frames"] == 61
    assert nvt0["upstream"] == {"quench P=0 GPa": first["P0GPa"]["id"]}

    # the rest; then once more, which must find everything done and change nothing
    rc, out, err = run_cli(["run", tiny_config, "--out", run], capsys)
    assert rc == 0, err
    assert out.count("done earlier") == 4
    train = done(run, "train")
    assert train["result"]["events"]["rearranging"] >= 5
    assert os.path.isfile(os.path.join(run, "train", "model.json"))
    assert not os.path.exists(os.path.join(run, "train", "model.joblib"))     # JSON only (issue 22)
    ss = os.path.join(run, "planestrain", "P4GPa", "planestrain.txt")
    rows = [ln for ln in open(ss) if ln.strip() and not ln.startswith("#")]
    assert [int(r.split()[0]) for r in rows] == [0, 1, 2]
    if done(run, "planestrain/P4GPa")["params"]["analysis"]:
        series = [json.loads(ln) for ln in open(os.path.join(run, "planestrain", "P4GPa", "series.jsonl"))]
        assert [r["step"] for r in series[1:]] == [0, 1, 2]
    assert os.path.isfile(os.path.join(run, "report", "index.html"))
    markers = {s: done(run, s) for s in ("quench/P0GPa", "nvt/P4GPa", "train", "planestrain/P0GPa")}
    times = {s: stamp(run, s, "done.json") for s in markers}

    # a crafted pickle where older versions wrote model.joblib is never unpickled
    from test_model_file import plant_pickle

    plant_pickle(os.path.join(run, "train", "model.json"), os.path.join(run, "pwned"))
    rc, out, err = run_cli(["run", tiny_config, "--out", run], capsys)
    assert rc == 0, err
    assert out.count("done earlier") == 7 and "started" not in out
    assert not os.path.exists(os.path.join(run, "pwned"))
    assert {s: done(run, s) for s in markers} == markers
    assert {s: stamp(run, s, "done.json") for s in markers} == times
    assert [ln for ln in open(ss) if ln.strip() and not ln.startswith("#")] == rows
    log = open(os.path.join(run, "pipeline.log")).read()
    assert log.count("quench P=0 GPa: started") == 1 and log.count("train: started") == 1

    # an upstream stage redone (its marker lost) makes the stages that read it stale
    os.unlink(os.path.join(run, "quench", "P0GPa", "done.json"))
    rc, out, err = run_cli(["run", tiny_config, "--out", run, "--stop-after", "nvt"], capsys)
    assert rc == 0, err
    assert "quench P=0 GPa: started" in out and "nvt P=0 GPa: started" in out
    assert "quench P=4 GPa: done earlier" in out and "nvt P=4 GPa: started" not in out
    assert done(run, "nvt/P4GPa") == markers["nvt/P4GPa"]

    # changed settings for a finished stage: refused, with the key named, before any MD
    changed = write_config(tmp_path / "changed.yaml", planestrain__analysis=analysis_available(),
                           quench__t_melt="6 fs")
    rc, out, err = run_cli(["run", changed, "--out", run], capsys)
    assert rc == 2 and err.count("\n") == 1
    assert "was finished with other settings (t_melt: 0.005 -> 0.006)" in err


def test_sigterm_stops_the_stage_and_the_next_run_resumes(tmp_path, tiny_config):
    run = str(tmp_path / "run")
    cmd = [sys.executable, "-m", "pysoft.cli", "run", tiny_config, "--out", run, "--stop-after", "nvt"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:
            if "nvt P=0 GPa: started" in line:
                proc.send_signal(signal.SIGTERM)
                break
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 2
    assert "terminated" in err and err.count("\n") == 1
    assert not os.path.exists(os.path.join(run, "nvt", "P0GPa", "done.json"))
    quench = done(run, "quench/P4GPa")
    # the run folder is free again (the lock went with the process) and the next run resumes
    time.sleep(0.1)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "quench P=4 GPa: done earlier" in proc.stdout and "nvt P=0 GPa: started" in proc.stdout
    assert done(run, "quench/P4GPa") == quench
    assert done(run, "nvt/P0GPa")["result"]["frames"] == 61


def test_one_run_per_folder(tmp_path, tiny_config, capsys):
    from pysoft.pipeline import _lock

    run = tmp_path / "run"
    run.mkdir()
    held = _lock(str(run))
    try:
        rc, _, err = run_cli(["run", tiny_config, "--out", str(run)], capsys)
    finally:
        held.close()
    assert rc == 2 and "another pysoft run is working in" in err
    assert not (run / "quench").exists()


# ---- folders that are not pysoft's are refused, never emptied (issue 9) ----------------------

@pytest.mark.parametrize("pysoft_run_folder", [False, True])
def test_a_folder_pysoft_did_not_make_is_refused_not_emptied(tmp_path, capsys, pysoft_run_folder):
    # the task folder used to be removed without a word before the task ran in it
    cfg = write_config(tmp_path / "q.yaml", stages=["quench"], pressures=["0 GPa"])
    run = tmp_path / "run"
    (run / "quench" / "P0GPa").mkdir(parents=True)
    (run / "quench" / "P0GPa" / "notes.txt").write_text("mine")
    if pysoft_run_folder:
        (run / ".lock").write_text("")
    rc, out, err = run_cli(["run", cfg, "--out", str(run)], capsys)
    assert rc == 2 and err.count("\n") == 1, err
    if pysoft_run_folder:
        assert f"{run / 'quench' / 'P0GPa'} was not made by pysoft" in err
    else:
        assert f"the run folder {run} holds files and was not made by pysoft run" in err
    assert (run / "quench" / "P0GPa" / "notes.txt").read_text() == "mine"
    assert "started" not in out


def test_an_unwritable_run_folder_is_refused_before_any_work(tmp_path, capsys):
    # /proc is not writable even for root; the run used to end in a traceback from makedirs
    cfg = write_config(tmp_path / "q.yaml", stages=["quench"], pressures=["0 GPa"])
    rc, out, err = run_cli(["run", cfg, "--out", "/proc/pysoft-run"], capsys)
    assert rc == 2 and err.count("\n") == 1 and "cannot write in /proc" in err, err
    (tmp_path / "file").write_text("")
    rc, out, err = run_cli(["run", cfg, "--out", str(tmp_path / "file" / "run")], capsys)
    assert rc == 2 and err.count("\n") == 1 and "is a file" in err, err


def test_interrupted_planestrain_continues_from_its_restart(tmp_path, capsys):
    """A plane-strain task stopped half way (SIGTERM to pysoft run) continues from the restart
    pair of its last finished strain step: the stress-strain rows and the series hold every step
    once, and the first attempt's log is kept beside the continuation's."""
    cfg = write_config(tmp_path / "c.yaml", planestrain__analysis=analysis_available(),
                       planestrain__nsteps=6, planestrain__stop_steps=0, pressures=[0])
    run = str(tmp_path / "run")
    rc, out, err = run_cli(["run", cfg, "--out", run, "--stop-after", "train"], capsys)
    assert rc == 0, err
    vars_ = os.path.join(run, "planestrain", "P0GPa", "planestrain.restart.vars")
    proc = subprocess.Popen([sys.executable, "-m", "pysoft.cli", "run", cfg, "--out", run],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 240
    while time.time() < deadline:
        try:
            if int(open(vars_).read().split("k_first equal")[1].split()[0]) >= 3:
                break
        except (OSError, IndexError, ValueError):
            pass
        time.sleep(0.2)
    else:
        proc.kill()
        raise AssertionError("the plane-strain stage never reached step 2")
    proc.send_signal(signal.SIGTERM)
    out1 = proc.communicate(timeout=60)[0]
    assert proc.returncode != 0 and "terminated" in out1, out1
    d = os.path.join(run, "planestrain", "P0GPa")
    assert not os.path.exists(os.path.join(d, "done.json"))

    rc, out, err = run_cli(["run", cfg, "--out", run], capsys)
    assert rc == 0, err
    assert "planestrain P=0 GPa: continuing the interrupted attempt from its restart file" in out
    rows = [ln for ln in open(os.path.join(d, "planestrain.txt")) if ln.strip() and not ln.startswith("#")]
    assert [int(r.split()[0]) for r in rows] == list(range(7))
    assert os.path.isfile(os.path.join(d, "log.lammps")) and os.path.isfile(os.path.join(d, "log.continued1.lammps"))
    assert done(run, "planestrain/P0GPa")["result"]["rows"] == 7
    if analysis_available():
        series = [json.loads(ln) for ln in open(os.path.join(d, "series.jsonl"))]
        assert [r["step"] for r in series[1:]] == list(range(7))


def test_inrun_sampler_stage_trains_without_a_trajectory(tmp_path, capsys):
    """nvt.sampler: inrun writes a dataset instead of the trajectory, and the train stage reads it."""
    cfg = write_config(tmp_path / "inrun.yaml", nvt__sampler="inrun", nvt__calm_fraction=0.25,
                       stages=["quench", "nvt", "train"])
    run = str(tmp_path / "run")
    rc, out, err = run_cli(["run", cfg, "--out", run], capsys)
    assert rc == 0, err + out
    for p in ("P0GPa", "P4GPa"):
        nvt = done(run, f"nvt/{p}")
        assert nvt["outputs"]["samples"] == f"samples_{p}.pysoft"
        assert nvt["result"]["frames"] == 61
        assert not [f for f in os.listdir(os.path.join(run, "nvt", p)) if f.endswith(".lammpstrj")]
    train = done(run, "train")
    assert train["result"]["n_samples"] >= 10
    command = open(os.path.join(run, "train", "command.txt")).read()
    assert "--samples" in command and "--calm-fraction 0.25" in command


@pytest.mark.parametrize("value", ["gzip", "INRUN"])
def test_bad_sampler_is_one_line(tmp_path, capsys, value):
    cfg = write_config(tmp_path / "bad.yaml", nvt__sampler=value)
    rc, out, err = run_cli(["run", cfg, "--out", str(tmp_path / "run")], capsys)
    assert rc != 0 and f"nvt.sampler must be dump or inrun, got '{value}'" in err


def test_each_pressure_quenches_its_own_melt_unless_paired():
    """The paper's glasses are independent (issue 19): one seed per pressure by default, the 0 GPa
    glass keeps the base seed, no seed + 1 (in.quench's O draw) meets another pressure's seed,
    and `paired: true` gives every pressure the same melt."""
    from pysoft.config import SCHEMA
    from pysoft.stages import quench_seed
    q = {k: key.default for k, key in SCHEMA["quench"].items()}
    pressures = [p / 100 for p in range(-300, 1001)]
    seeds = [quench_seed(q, p) for p in pressures]
    assert quench_seed(q, 0.0) == q["seed"]
    drawn = set(seeds) | {s + 1 for s in seeds}
    assert len(drawn) == 2 * len(pressures)
    assert quench_seed({**q, "paired": True}, 4.0) == quench_seed({**q, "paired": True}, 0.0) == q["seed"]
