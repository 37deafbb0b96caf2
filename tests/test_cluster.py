"""Tasks side by side and on a batch scheduler (issue 23).

The schedule rule (pysoft.schedule) on hand-made tasks; the plan of a config with ranks: per
stage; two quenches run at once by one pysoft run; and a tiny run end to end through a real
Slurm that the test starts itself (tests/slurm_local.py: slurmctld, slurmd and munged in a
temporary folder), with the plane-strain job cancelled (scancel) half way and resumed from its
restart pair by the same ``pysoft run --submit`` run again.  The Slurm test is skipped, with the
reason, where slurmctld, slurmd, munge or root are missing; CI installs them
(.ci/setup-slurm.sh).  The MD is test_pipeline.py's tiny protocol (150 atoms, 1 rank).
"""

import glob
import json
import os
import subprocess
import sys
import time

import pytest

from slurm_local import LocalSlurm, missing
from test_pipeline import done, run_cli, write_config


# ---- the schedule rule -----------------------------------------------------------------------

class T:
    def __init__(self, name, ranks, seconds, upstream=()):
        self.name, self.ranks, self.seconds, self.upstream = name, ranks, seconds, list(upstream)

    def __repr__(self):
        return self.name


def plan(tasks, total, running=()):
    from pysoft.schedule import simulate

    times, wall = simulate(tasks, total, lambda t: t.ranks, lambda t: t.upstream, lambda t: t.seconds, running)
    return {t.name: se for t, se in times.items()}, wall


def test_all_ranks_per_task_is_the_serial_order():
    q = [T(f"q{i}", 2, 10.0 * (i + 1)) for i in range(3)]
    n = [T(f"n{i}", 2, 5.0, [q[i]]) for i in range(3)]
    times, wall = plan(q + n, 2)
    assert wall == sum(t.seconds for t in q + n)
    order = sorted(times, key=lambda k: times[k][0])
    assert order == ["q0", "q1", "q2", "n0", "n1", "n2"]


def test_independent_tasks_run_side_by_side_and_wait_for_their_inputs():
    q = [T(f"q{i}", 2, 10.0) for i in range(3)]
    n = [T(f"n{i}", 2, 4.0, [q[i]]) for i in range(3)]
    train = T("train", 1, 1.0, n)
    times, wall = plan(q + n + [train], 4)
    assert times["q0"] == times["q1"] == (0.0, 10.0)
    assert times["q2"] == (10.0, 20.0)                 # two fit in 4 ranks at a time
    assert times["n0"][0] == 10.0 and times["n2"][0] == 20.0
    assert times["train"] == (24.0, 25.0) and wall == 25.0
    # a task already running holds its ranks for its time left
    times, wall = plan(q[1:], 4, running=[(q[0], 3.0)])
    assert times["q1"] == (0.0, 10.0) and times["q2"] == (3.0, 13.0) and wall == 13.0


def test_a_task_that_cannot_fit_is_an_error():
    with pytest.raises(ValueError, match="can never start"):
        plan([T("big", 8, 1.0)], 4)


# ---- the plan and a local run with tasks at once ---------------------------------------------

def test_plan_shows_the_schedule_and_both_wall_times(tmp_path, capsys):
    cfg = write_config(tmp_path / "c.yaml", stages=["quench", "nvt"], np=1,
                       ranks={"quench": 1, "nvt": 1})
    rc, out, err = run_cli(["run", cfg, "--out", str(tmp_path / "r"), "--plan", "--np", "2"], capsys)
    assert rc == 0, err
    lines = {ln.split("  ")[1].strip(): ln for ln in out.splitlines() if "rank(s), from" in ln}
    assert "from 0:00:00" in lines["quench P=0 GPa"] and "from 0:00:00" in lines["quench P=4 GPa"]
    wall = [ln for ln in out.splitlines() if "wall time:" in ln][0]
    side, serial = wall.split("wall time: ")[1].split(" with ")[0], wall.split("), ")[1].split(" one task")[0]
    hours = lambda s: sum(int(x) * 60 ** (2 - i) for i, x in enumerate(s.split(":")))  # noqa: E731
    assert hours(side) < hours(serial)
    # without ranks: every task on all ranks, one at a time: the same wall time twice
    cfg = write_config(tmp_path / "d.yaml", stages=["quench", "nvt"])
    rc, out, err = run_cli(["run", cfg, "--out", str(tmp_path / "r"), "--plan", "--np", "2"], capsys)
    wall = [ln for ln in out.splitlines() if "wall time:" in ln][0]
    assert wall.split("wall time: ")[1].split(" with ")[0] == wall.split("), ")[1].split(" one task")[0]


@pytest.mark.parametrize("bad,message", [
    ({"ranks": {"quench": 0}}, "ranks.quench must be >= 1"),
    ({"ranks": {"quenchh": 2}}, "unknown key 'ranks.quenchh'"),
    ({"cluster": {"executor": "condor"}}, "cluster.executor must be one of slurm, pbs, lsf"),
    ({"cluster": {"time_limit": 0}}, "cluster.time_limit must be > 0"),
])
def test_cluster_keys_are_checked(tmp_path, capsys, bad, message):
    cfg = write_config(tmp_path / "c.yaml", **bad)
    rc, out, err = run_cli(["run", cfg, "--out", str(tmp_path / "r"), "--plan"], capsys)
    assert rc == 2 and err.count("\n") == 1 and message in err, err


def test_two_quenches_run_at_once(tmp_path, capsys):
    cfg = write_config(tmp_path / "c.yaml", stages=["quench"], np=2, ranks={"quench": 1})
    run = str(tmp_path / "run")
    rc, out, err = run_cli(["run", cfg, "--out", run], capsys)
    assert rc == 0, err
    lines = out.splitlines()
    first_end = min(i for i, ln in enumerate(lines) if ": done in" in ln)
    assert sum(": started" in ln for ln in lines[:first_end]) == 2, out
    for p in ("P0GPa", "P4GPa"):
        d = done(run, f"quench/{p}")
        assert d["np"] == 1 and d["cpu_s"] > 0
        assert open(os.path.join(run, "quench", p, "command.txt")).read().split()[1:3] == ["-np", "1"]


# ---- end to end through a real Slurm ---------------------------------------------------------

@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    why = missing()
    if why:
        pytest.skip(f"no local Slurm: {why}")
    cluster = LocalSlurm(str(tmp_path_factory.mktemp("slurm")), cpus=2)
    try:
        cluster.start()
    except RuntimeError as e:
        cluster.stop()
        pytest.fail(f"the local Slurm did not start: {e}")
    yield cluster
    cluster.stop()


def pysoft(args, env, timeout=120):
    proc = subprocess.run([sys.executable, "-m", "pysoft.cli", "run", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def wait_for(what, check, timeout, slurm, run):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    queue = subprocess.run(["squeue", "-t", "all"], env=slurm.env, capture_output=True, text=True).stdout
    outs = sorted(glob.glob(os.path.join(run, "jobs", "slurm", "*.out")), key=os.path.getmtime)
    tail = lambda p: " | ".join(open(p, errors="replace").read().splitlines()[-5:]) if os.path.exists(p) else ""  # noqa
    raise AssertionError(f"{what} did not happen in {timeout} s; squeue: {queue}; slurmd: {slurm.log_tail('slurmd')}; "
                         f"last job output: {tail(outs[-1]) if outs else ''}; "
                         f"pipeline.log: {tail(os.path.join(run, 'pipeline.log'))}")


def restart_step(d):
    """The step the restart pair continues from, once the row of the step before it is written
    too (the input writes the pair, then the row: a kill between them would lose the row)."""
    try:
        k = int(open(os.path.join(d, "planestrain.restart.vars")).read().split("k_first equal")[1].split()[0])
        rows = [ln for ln in open(os.path.join(d, "planestrain.txt")) if ln.strip() and not ln.startswith("#")]
    except (OSError, IndexError, ValueError):
        return 0
    return k if len(rows) >= k else 0


def test_slurm_jobs_with_dependencies_cancel_and_resume(tmp_path, slurm):
    """quench -> plane strain as two jobs, the second held by an afterok dependency; the plane-
    strain job cancelled after its second strain step; --status says so; --submit again keeps the
    finished quench and resubmits the plane strain, which continues from its restart pair."""
    cfg = write_config(tmp_path / "c.yaml", stages=["quench", "planestrain", "report"], pressures=["0 GPa"],
                       planestrain__analysis=False, planestrain__nsteps=12, planestrain__stop_steps=0,
                       ranks={"quench": 1, "planestrain": 1})
    run = str(tmp_path / "run")
    env = slurm.env
    out = pysoft([cfg, "--out", run, "--submit"], env)
    jobs = json.load(open(os.path.join(run, "jobs.json")))
    quench, strain = jobs["quench P=0 GPa"]["job"], jobs["planestrain P=0 GPa"]["job"]
    assert jobs["planestrain P=0 GPa"]["after"] == [quench] and f"after job(s) {quench}" in out
    dep = subprocess.run(["squeue", "-h", "-j", strain, "-o", "%E"], env=env, capture_output=True, text=True).stdout
    assert quench in dep or os.path.exists(os.path.join(run, "quench", "P0GPa", "done.json")), dep

    d = os.path.join(run, "planestrain", "P0GPa")
    wait_for("strain step 2", lambda: restart_step(d) >= 2, 300, slurm, run)
    subprocess.run(["scancel", strain], env=env, check=True)
    wait_for("the cancel", lambda: strain not in subprocess.run(
        ["squeue", "-h", "-t", "R,CG,PD", "-o", "%i"], env=env, capture_output=True, text=True).stdout.split(), 60, slurm, run)
    assert not os.path.exists(os.path.join(d, "done.json"))
    status = pysoft([cfg, "--out", run, "--status"], env)
    assert "quench P=0 GPa" in status and "done" in status.split("quench P=0 GPa")[1].splitlines()[0]
    line = [ln for ln in status.splitlines() if "planestrain P=0 GPa" in ln][0]
    assert f"job {strain} cancelled" in line and "restart at strain step" in line, status

    out = pysoft([cfg, "--out", run, "--submit"], env)
    assert "quench" not in out.split("to slurm")[1].split("report")[0], out     # finished: not resubmitted
    again = json.load(open(os.path.join(run, "jobs.json")))["planestrain P=0 GPa"]
    assert again["job"] != strain and again["after"] == []
    wait_for("the resumed plane strain", lambda: os.path.exists(os.path.join(d, "done.json")), 300, slurm, run)
    rows = [ln for ln in open(os.path.join(d, "planestrain.txt")) if ln.strip() and not ln.startswith("#")]
    assert [int(r.split()[0]) for r in rows] == list(range(13))
    assert os.path.isfile(os.path.join(d, "log.continued1.lammps"))
    assert done(run, "planestrain/P0GPa")["result"]["rows"] == 13
    wait_for("the report", lambda: os.path.exists(os.path.join(run, "report", "index.html")), 180, slurm, run)
    status = pysoft([cfg, "--out", run, "--status"], env)
    assert "2 of 2 task(s) done" in status, status


# ---- doc/install.md's batch script, as written ------------------------------------------------

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SBATCH = os.path.join(ROOT, "examples", "slurm", "planestrain.sbatch")
MODULES_INIT = "/etc/profile.d/modules.sh"


def test_doc_shows_the_shipped_batch_script():
    doc = open(os.path.join(ROOT, "doc", "install.md")).read()
    assert "```bash\n" + open(SBATCH).read() + "```" in doc


def test_doc_batch_script_runs_under_slurm(tmp_path, slurm, trained):
    """examples/slurm/planestrain.sbatch through sbatch: a login shell with Environment Modules,
    `module load lammps/22Jul2025` (a module file that puts this environment's lmp on PATH),
    `source ~/pysoft-env/bin/activate` (HOME holds a pysoft-env link to this environment), and
    `srun --mpi=pmi2` on 2 ranks; LMPVARS shrinks the loop to two strain steps of a tiny glass."""
    if not os.path.exists(MODULES_INIT):
        pytest.skip("Environment Modules not installed (.ci/setup-slurm.sh installs environment-modules)")
    from test_inputs import TINY_FF, TINY_PLANESTRAIN, TINY_QUENCH, run_lmp

    run_lmp(tmp_path, "in.quench", {**TINY_QUENCH, "P": 0, "seed": 5, "out": "glass.data"})
    os.symlink(trained[1], tmp_path / "model.json")
    home = tmp_path / "home"
    home.mkdir()
    os.symlink(os.path.dirname(os.path.dirname(sys.executable)), home / "pysoft-env")
    modules = tmp_path / "modulefiles" / "lammps"
    modules.mkdir(parents=True)
    (modules / "22Jul2025").write_text(f"#%Module1.0\nprepend-path PATH {os.path.dirname(sys.executable)}\n")
    small = {"rc": 8, **TINY_FF, "nx": 1, **TINY_PLANESTRAIN}
    env = {**slurm.env, "HOME": str(home), "MODULEPATH": str(tmp_path / "modulefiles"),
           "LMPVARS": " ".join(f"-var {k} {v}" for k, v in small.items())}
    env.pop("LAMMPS_PLUGIN_PATH", None)
    env.pop("VIRTUAL_ENV", None)
    proc = subprocess.run(["sbatch", "--wait", "-o", "job.out", SBATCH], cwd=str(tmp_path), env=env,
                          capture_output=True, text=True, timeout=300)
    out = (tmp_path / "job.out").read_text() if (tmp_path / "job.out").exists() else ""
    assert proc.returncode == 0, proc.stdout + proc.stderr + out[-3000:] + slurm.log_tail("slurmd")
    assert "ERROR" not in out and "pysoft analysis: off" not in out, out[-3000:]
    assert "with 2 MPI tasks" in out          # srun started one LAMMPS of 2 ranks, not 2 of 1
    rows = [ln for ln in open(tmp_path / "planestrain.txt") if ln.strip() and not ln.startswith("#")]
    assert [int(r.split()[0]) for r in rows] == [0, 1, 2]
    series = [json.loads(ln) for ln in open(tmp_path / "series.jsonl")]
    assert len(series) == 4 and series[0]["run_id"] in open(tmp_path / "planestrain.txt").read()
