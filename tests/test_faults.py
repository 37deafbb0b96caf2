"""Fault injection (issue 18): kill -9 at random moments, continue, and every file equals the
uninterrupted run's.

The plane-strain loop (in.tension.planestrain with the on-the-fly analysis) and the in-run
sampler (pysoft_sampler.mod) are started, killed with SIGKILL (the whole process group: mpirun
and every rank) after a random time, and continued as a user or ``pysoft run`` would: from the
restart file when there is one, else anew with ``-var replace yes``; the continuation may itself
be killed.  Some first attempts of the loop are killed between the two renames of the restart
pair (``PYSOFT_FAULT``, pysoft.runid: that moment is too short to hit by chance).  At the end
the stress-strain rows, the series rows, and the dataset's labels and features must equal those
of an uninterrupted run on the same number of ranks.  The MD after read_restart differs from
the uninterrupted one in the last bits (LAMMPS rebuilds its neighbour lists there), so numbers
compare to tolerances; steps, strains, labels and atom lists compare exactly.

Each kill is cheap (150 to 300 atoms, a few fs per strain step): KILLS kills per rank count.
"""

import json
import os
import signal
import subprocess
import time

import numpy as np
import pytest

from pysoft.results import planestrain_outcome

from conftest import mpi_prefix
from test_inputs import INPUTS, LMP, POT, TINY_FF, TINY_QUENCH, read_table, run_lmp
from test_sampler import SCRIPT as SAMPLER_SCRIPT

KILLS = 20
PER_SEQUENCE = 7
STARTUP = 0.3          # about the share of an attempt's time before its first step (interpreter, LAMMPS, setup)
SEED = int(os.environ.get("PYSOFT_FAULT_SEED", "18"))


@pytest.fixture(scope="module")
def glass(tmp_path_factory):
    d = tmp_path_factory.mktemp("faultglass")
    run_lmp(d, "in.quench", {**TINY_QUENCH, "P": 4, "seed": 7, "out": "glass.data"})
    return d / "glass.data"


def launch(d, cmd, log, env=None):
    fh = open(d / log, "w")
    proc = subprocess.Popen(cmd, cwd=str(d), stdout=fh, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, **(env or {})})
    proc.log = fh
    return proc


def wait_or_kill(proc, seconds):
    """True if the process was killed (SIGKILL to its whole group) before it ended by itself."""
    try:
        proc.wait(timeout=seconds)
        return False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return True
    finally:
        proc.log.close()


def finish(proc):
    proc.wait(timeout=300)
    proc.log.close()


def run_with_kills(rng, start, kills_left, t_ref, restart_args, fresh_args, fault_steps=()):
    """One sequence in one folder: attempts killed at random moments until one finishes (at most
    PER_SEQUENCE kills); returns the kills made.  start(args, env, log) launches an attempt;
    restart_args() gives the arguments of a continuation and the fraction of the work left (None:
    no restart file yet, start anew with fresh_args; "done": an attempt killed after its last
    write, on its way out, left every file whole).  The kill time is drawn uniformly over the
    attempt's expected length (its start, STARTUP of t_ref, and the work left; 0.8 of it, as the
    reference run's time holds its exit and the machine's load varies), so that most attempts
    are killed somewhere."""
    kills, n = 0, 0
    while True:
        got = restart_args()
        if got == "done":
            return kills
        args, left = (fresh_args, 1.0) if got is None else got
        env = None
        if n == 0 and len(fault_steps) and rng.random() < 0.3:
            env = {"PYSOFT_FAULT": f"pair:{int(rng.choice(fault_steps))}"}
        proc = start(args, env, f"log.{n}")
        n += 1
        if env is not None:
            finish(proc)
            if proc.returncode != 0:
                kills += 1
                continue
        elif kills < min(kills_left, PER_SEQUENCE) and wait_or_kill(
                proc, rng.uniform(0.0, 0.8 * t_ref * (STARTUP + (1 - STARTUP) * left))):
            kills += 1
            continue
        else:
            finish(proc)
        assert proc.returncode == 0, open(proc.log.name).read()[-3000:]
        return kills


def kill_sequences(base, rng, t_ref, start, restart_args, fresh_args, check, fault_steps=()):
    """Sequences of killed attempts, each in a folder of its own, until KILLS kills; check(folder)
    compares a finished sequence's files with the reference.  Returns (kills, sequences)."""
    kills, seq = 0, 0
    while kills < KILLS:
        d = base / f"seq{seq}"
        d.mkdir()
        seq += 1
        kills += run_with_kills(rng, lambda args, env, log: start(d, args, env, log), KILLS - kills, t_ref,
                                lambda: restart_args(d), fresh_args, fault_steps)
        check(d)
    return kills, seq


# -- the plane-strain loop ---------------------------------------------------------------------------

STRAIN = {"t_eq": 0.003, "t_nvt": 0.003, "t_avg": 0.002, "de": 0.02, "miniter": 10, "stop_steps": 0, "nsteps": 2,
          "ss": "ss.txt", "series": "series.jsonl", "analysis": os.path.join(INPUTS, "pysoft_analysis.mod")}


def strain_cmd(nprocs, variables):
    cmd = mpi_prefix(nprocs) + [LMP, "-in", os.path.join(INPUTS, "in.tension.planestrain"), "-log", "none",
                                "-nocite", "-var", "pot", POT]
    for name, value in {**TINY_FF, **variables}.items():
        cmd += ["-var", name, str(value)]
    return cmd


def series_rows(d):
    lines = [json.loads(x) for x in open(d / "series.jsonl")]
    return lines[0], lines[1:]


def assert_same_strain_files(ref, got):
    a, b = read_table(ref / "ss.txt"), read_table(got / "ss.txt")
    np.testing.assert_array_equal(b[:, :2], a[:, :2])
    np.testing.assert_allclose(b[:, 2:5], a[:, 2:5], atol=1e-3)
    assert open(got / "ss.txt").read().count("# planestrain result:") == 1
    (ha, ra), (hb, rb) = series_rows(ref), series_rows(got)
    ha.pop("run_id")
    hb.pop("run_id")
    assert ha == hb
    assert [r["step"] for r in rb] == [r["step"] for r in ra]
    for x, y in zip(ra, rb):
        assert y.keys() == x.keys()
        assert y["strain"] == pytest.approx(x["strain"], abs=1e-12)
        assert y["softness"]["mean"] == pytest.approx(x["softness"]["mean"], abs=1e-4)
        assert y["D_A"]["mean"] == pytest.approx(x["D_A"]["mean"], abs=1e-3)
        assert y["bond_fraction"] == pytest.approx(x["bond_fraction"], abs=0.02)
        assert y["stress_GPa"]["xx"] == pytest.approx(x["stress_GPa"]["xx"], abs=1e-2)


@pytest.mark.parametrize("nprocs", [1, pytest.param(2, marks=pytest.mark.mpi)])
def test_strain_loop_survives_kill_9(tmp_path, glass, trained, nprocs):
    _, model, _ = trained
    common = {**STRAIN, "data": glass, "model": model}
    ref = tmp_path / "ref"
    ref.mkdir()
    t0 = time.perf_counter()
    proc = launch(ref, strain_cmd(nprocs, common), "log.ref")
    finish(proc)
    t_ref = time.perf_counter() - t0
    assert proc.returncode == 0, open(ref / "log.ref").read()[-3000:]

    def start(d, args, env, log):
        return launch(d, strain_cmd(nprocs, {**common, **args}), log, env)

    def restart_args(d):
        from pysoft.runid import read_vars

        if not (d / "planestrain.restart.vars").exists():
            return None
        if planestrain_outcome(str(d / "ss.txt")) is not None:
            return "done"             # as pysoft run takes it (pysoft.stages.PlaneStrain)
        k_first = int(read_vars(str(d / "planestrain.restart.vars"))[1]["k_first"])
        return {"restart": "planestrain.restart"}, max(0.0, 1 - k_first / (STRAIN["nsteps"] + 1))

    kills, seq = kill_sequences(tmp_path, np.random.default_rng(SEED + nprocs), 1.1 * t_ref, start, restart_args,
                                {"replace": "yes"}, lambda d: assert_same_strain_files(ref, d),
                                fault_steps=range(1, STRAIN["nsteps"] + 1))
    print(f"strain loop, {nprocs} rank(s): {kills} kills in {seq} sequences, "
          f"{time.perf_counter() - t0:.0f} s")


# -- the in-run sampler ------------------------------------------------------------------------------

EVERY, DT, TR, STEPS = 10, 0.005, 0.4, 300
SAMPLER_SPEC = {"species": ["Al", "O"], "radial": {"mu": [0.8, 2.4, 0.4], "L": 0.2, "cutoff": 2.6},
                "angular": {"cutoff": 1.8, "params": [[1.0, -1, 1], [1.0, 1, 2]]}}
# the liquid of test_sampler, equilibrated, written once (create_atoms random depends on the rank count)
LIQUID = SAMPLER_SCRIPT[:SAMPLER_SCRIPT.index("reset_timestep 0\nvariable dt")].format(
    box=6, natoms=205, seed=5107, dt=DT) + "write_data liquid.data\n"
LJ_PAIRS = SAMPLER_SCRIPT[SAMPLER_SCRIPT.index("pair_style"):SAMPLER_SCRIPT.index("minimize")]
SAMPLED = """
units lj
atom_style atomic
{read}
{pairs}
timestep {dt}
variable dt equal {dt}
variable n_dump equal {every}
{fix}
restart 50 r.*.restart
include {mod}
run {steps} upto
"""


def sampled_cmd(d, nprocs, restart):
    read = f"read_restart {restart}" if restart else f"read_data {d.parent / 'liquid.data'} nocoeff\nreset_timestep 0"
    script = SAMPLED.format(read=read, pairs=LJ_PAIRS, dt=DT, every=EVERY, steps=STEPS, mod=os.path.join(INPUTS, "pysoft_sampler.mod"),
                            fix="fix md all nvt temp 0.9 0.9 0.5")
    name = "in.restarted" if restart else "in.fresh"
    (d / name).write_text(script)
    cmd = mpi_prefix(nprocs) + [LMP, "-in", name, "-log", "none", "-nocite",
                                "-var", "samples", "run.samples", "-var", "tR", str(TR), "-var", "calm_fraction", "0.25",
                                "-var", "spec", str(d.parent / "spec.json"), "-var", "hop_threshold", "0.25",
                                "-var", "calm_threshold", "0.07"]
    return cmd + (["-var", "sampler_restart", "yes"] if restart else ["-var", "replace", "yes"])


def newest_restart(d):
    """The newest restart file that LAMMPS wrote whole: LAMMPS ends a restart file with its
    magic string, which a killed write leaves out."""
    files = sorted(d.glob("r.*.restart"), key=lambda p: int(p.name.split(".")[1]))
    whole = [p for p in files if p.read_bytes().endswith(b"LammpS RestartT\0")]
    return whole[-1].name if whole else None


def dataset(path):
    from pysoft.samples import labelled_pairs, read_dataset

    ds = read_dataset(str(path))
    return ds, labelled_pairs(ds)


@pytest.mark.parametrize("nprocs", [1, pytest.param(2, marks=pytest.mark.mpi)])
def test_sampler_survives_kill_9(tmp_path, nprocs):
    base = tmp_path
    (base / "spec.json").write_text(json.dumps(SAMPLER_SPEC))
    (base / "in.liquid").write_text(LIQUID)
    subprocess.run([LMP, "-in", "in.liquid", "-log", "none"], cwd=str(base), check=True, capture_output=True,
                   timeout=120)
    ref = base / "ref"
    ref.mkdir()
    t0 = time.perf_counter()
    proc = launch(ref, sampled_cmd(ref, nprocs, None), "log.ref")
    finish(proc)
    t_ref = time.perf_counter() - t0
    assert proc.returncode == 0, open(ref / "log.ref").read()[-3000:]
    (ds_a, (ev_a, hop_a, calm_a)) = dataset(ref / "run.samples")
    assert ev_a.n_rearranging >= 3 and ev_a.n_calm >= 10

    def start(d, args, env, log):
        return launch(d, sampled_cmd(d, nprocs, args.get("restart")), log, env)

    def restart_args(d):
        r = newest_restart(d) if (d / "run.samples").exists() else None
        return ({"restart": r}, 1 - int(r.split(".")[1]) / STEPS) if r else None

    def check(d):
        ds_b, (ev_b, hop_b, calm_b) = dataset(d / "run.samples")
        assert ds_b.nframes == ds_a.nframes and not ds_b.torn
        np.testing.assert_array_equal(ds_b.ids, ds_a.ids)
        for field in ("rearranging_frame", "rearranging_atom", "calm_frame", "calm_atom"):
            np.testing.assert_array_equal(getattr(ev_b, field), getattr(ev_a, field), err_msg=f"{d}: {field}")
        np.testing.assert_allclose(hop_b, hop_a, rtol=0, atol=1e-8)
        np.testing.assert_allclose(calm_b, calm_a, rtol=0, atol=1e-8)

    kills, seq = kill_sequences(base, np.random.default_rng(SEED + 10 * nprocs), 1.1 * t_ref, start, restart_args,
                                {}, check)
    print(f"sampler, {nprocs} rank(s): {kills} kills in {seq} sequences, {time.perf_counter() - t0:.0f} s")
