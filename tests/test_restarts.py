"""Restarts and reruns of in.tension.planestrain never lose a file and never mix two runs
(issue 18): every check that can refuse a run comes before any file is written, a continuation
is accepted only from the same run's restart pair and settings, and each refusal is one line.

Runs the shipped input on the 150-atom glass of test_inputs with a few fs per step.
"""

import os
import shutil
import subprocess

import numpy as np
import pytest

from test_inputs import INPUTS, LMP, MPIRUN, POT, TINY_FF, TINY_QUENCH, read_table, run_lmp

TINY = {"t_eq": 0.005, "t_nvt": 0.004, "t_avg": 0.002, "de": 0.02, "miniter": 20, "stop_steps": 0,
        "ss": "ss.txt"}


@pytest.fixture(scope="module")
def glass(tmp_path_factory):
    d = tmp_path_factory.mktemp("quench18")
    run_lmp(d, "in.quench", {**TINY_QUENCH, "P": 4, "seed": 7, "out": "glass.data"})
    run_lmp(d, "in.quench", {**TINY_QUENCH, "P": 0, "seed": 8, "out": "other.data"})
    return d / "glass.data", d / "other.data"


def attempt(workdir, variables, nprocs=1, env=None):
    """Run in.tension.planestrain without asserting success; (returncode, ERROR lines, stdout)."""
    cmd = [] if nprocs == 1 else [MPIRUN, "-np", str(nprocs)]
    cmd += [LMP, "-in", os.path.join(INPUTS, "in.tension.planestrain"), "-log", "none", "-nocite", "-var", "pot", POT]
    for name, value in {**TINY_FF, **variables}.items():
        cmd += ["-var", name, str(value)]
    proc = subprocess.run(cmd, cwd=str(workdir), capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})
    errors = [line for line in proc.stdout.splitlines() if line.startswith("ERROR")]
    return proc.returncode, errors, proc.stdout + proc.stderr


def refused(workdir, variables, expect, nprocs=1):
    """The run stops with exactly one ERROR line holding `expect`, and no traceback."""
    rc, errors, out = attempt(workdir, variables, nprocs)
    assert rc != 0 and len(errors) == 1 and expect in errors[0], out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    return errors[0]


def snapshot(d):
    return {p.name: p.read_bytes() for p in sorted(d.iterdir()) if p.is_file()}


def steps(d, name="ss.txt"):
    return read_table(d / name)[:, 0].astype(int).tolist()


# -- item 1: nothing is emptied before the checks ----------------------------------------------------


@pytest.mark.parametrize("extra,expect", [
    ({}, "ss.txt exists: add -var replace yes to overwrite it, or -var restart planestrain.restart"),
    ({"replace": "no"}, "ss.txt exists: add -var replace yes"),
    ({"replace": "maybe"}, "-var replace maybe: must be yes or no"),
    ({"restart": "planestrain.restrat"}, "-var restart planestrain.restrat: no such file"),
    ({"restart": "yes"}, "-var restart yes: no such file"),
])
def test_rerun_or_missing_restart_file_keeps_every_file(tmp_path, glass, extra, expect):
    data, _ = glass
    run_lmp(tmp_path, "in.tension.planestrain", {**TINY, "data": data, "nsteps": 3})
    before = snapshot(tmp_path)
    assert steps(tmp_path) == [0, 1, 2, 3]
    refused(tmp_path, {**TINY, "data": data, "nsteps": 3, **extra}, expect)
    assert snapshot(tmp_path) == before


def test_replace_yes_starts_a_new_run_with_a_new_id(tmp_path, glass):
    from pysoft.runid import ss_run_id

    data, _ = glass
    run_lmp(tmp_path, "in.tension.planestrain", {**TINY, "data": data, "nsteps": 1})
    first = ss_run_id(tmp_path / "ss.txt")
    run_lmp(tmp_path, "in.tension.planestrain", {**TINY, "data": data, "nsteps": 1, "replace": "yes"})
    assert steps(tmp_path) == [0, 1] and ss_run_id(tmp_path / "ss.txt") not in (None, first)


# -- items 3, 10: a continuation only from the same run and settings -------------------------------------


def test_restart_pair_of_another_run_is_refused(tmp_path, glass):
    data, other = glass
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    run_lmp(a, "in.tension.planestrain", {**TINY, "data": data, "nsteps": 1})
    run_lmp(b, "in.tension.planestrain", {**TINY, "data": other, "nsteps": 1})
    from pysoft.runid import ss_run_id

    ida, idb = ss_run_id(a / "ss.txt"), ss_run_id(b / "ss.txt")
    for name in ("planestrain.restart", "planestrain.restart.vars"):
        shutil.copy(b / name, a / name)
    before = snapshot(a)
    # the glass of a: refused by the glass; without -var data: by the run IDs of the pair and the file
    refused(a, {**TINY, "data": data, "nsteps": 3, "restart": "planestrain.restart"}, "another glass")
    line = refused(a, {**TINY, "data": "none", "nsteps": 3, "restart": "planestrain.restart"},
                   f"belongs to run {idb}, ss.txt to run {ida}")
    assert "planestrain.restart" in line
    assert snapshot(a) == before


def test_restart_pair_mixed_from_two_runs_is_refused(tmp_path, glass):
    data, _ = glass
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    for d, seed in ((a, 1), (b, 2)):       # the same glass and seed would give the same bytes
        run_lmp(d, "in.tension.planestrain", {**TINY, "data": data, "nsteps": 1, "seed": seed})
    shutil.copy(b / "planestrain.restart", a / "planestrain.restart")
    refused(a, {**TINY, "data": data, "nsteps": 3, "seed": 1, "restart": "planestrain.restart"}, "are not a pair")


def test_changed_strain_step_is_refused(tmp_path, glass):
    data, _ = glass
    run_lmp(tmp_path, "in.tension.planestrain", {**TINY, "data": data, "nsteps": 1})
    before = snapshot(tmp_path)
    refused(tmp_path, {**TINY, "data": data, "nsteps": 3, "restart": "planestrain.restart", "de": 0.05},
            "with -var de 0.02; this run asks for -var de 0.05: give -var de 0.02")
    assert snapshot(tmp_path) == before


# -- item 6: the stress-strain file is trimmed with the series ------------------------------------------


def test_older_pair_trims_the_stress_strain_file(tmp_path, glass):
    """restart_every 2: the pair of step 1 is older than the rows of step 2; continuing from it
    drops row 2 and redoes it: steps 0 1 2 3, each once."""
    data, _ = glass
    common = {**TINY, "data": data, "restart_every": 2}
    run_lmp(tmp_path, "in.tension.planestrain", {**common, "nsteps": 2})
    assert steps(tmp_path) == [0, 1, 2]
    out = run_lmp(tmp_path, "in.tension.planestrain", {**common, "nsteps": 3, "restart": "planestrain.restart"})
    assert "dropped 1 rows" in out
    assert steps(tmp_path) == [0, 1, 2, 3]
    assert open(tmp_path / "ss.txt").read().count("# planestrain result:") == 1


# -- item 5: the stop rule's values ---------------------------------------------------------------------


@pytest.mark.parametrize("name,value,expect", [
    ("stop_frac", 5, "-var stop_frac 5: must be in (0, 1]"),
    ("stop_frac", 0, "-var stop_frac 0: must be in (0, 1]"),
    ("stop_steps", 1.5, "-var stop_steps 1.5: an integer is needed"),
    ("stop_steps", -1, "-var stop_steps -1: must be >= 0"),
    ("nsteps", "abc", "-var nsteps abc: an integer is needed"),
    ("de", 0, "-var de 0: must be > 0"),
    ("t_avg", 0.01, "-var t_avg 0.01: must be in (0, 0.004]"),
    ("restart_every", -2, "-var restart_every -2: must be >= 0"),
])
def test_bad_value_is_one_line_before_any_md(tmp_path, glass, name, value, expect):
    data, _ = glass
    line = refused(tmp_path, {**TINY, "data": data, "nsteps": 2, name: value}, expect)
    assert not (tmp_path / "ss.txt").exists(), line


# -- items 9, 13, 14 ------------------------------------------------------------------------------------


def test_model_typo_is_refused(tmp_path, glass):
    data, _ = glass
    refused(tmp_path, {**TINY, "data": data, "nsteps": 1, "model": "modle.json"}, "-var model modle.json: no such file")


@pytest.mark.parametrize("nprocs", [1, pytest.param(2, marks=pytest.mark.mpi)])
def test_series_in_a_missing_folder_is_one_line(tmp_path, glass, trained, nprocs):
    data, _ = glass
    _, model, _ = trained
    refused(tmp_path, {**TINY, "data": data, "nsteps": 1, "model": model, "series": "no/such/dir/s.jsonl",
                       "analysis": os.path.join(INPUTS, "pysoft_analysis.mod")},
            "-var series no/such/dir/s.jsonl: folder no/such/dir does not exist", nprocs=nprocs)


def test_restarting_a_finished_run_names_nsteps(tmp_path, glass):
    data, _ = glass
    run_lmp(tmp_path, "in.tension.planestrain", {**TINY, "data": data, "nsteps": 2})
    before = snapshot(tmp_path)
    refused(tmp_path, {**TINY, "data": data, "nsteps": 2, "restart": "planestrain.restart"},
            "has done steps 0..2, -var nsteps is 2: give a larger -var nsteps")
    assert snapshot(tmp_path) == before


def test_rerun_with_series_names_shipped_options(tmp_path, glass, trained):
    data, _ = glass
    _, model, _ = trained
    common = {**TINY, "data": data, "nsteps": 1, "model": model, "series": "series.jsonl",
              "analysis": os.path.join(INPUTS, "pysoft_analysis.mod")}
    run_lmp(tmp_path, "in.tension.planestrain", common)
    (tmp_path / "ss.txt").unlink()
    line = refused(tmp_path, common, "series.jsonl exists: add -var replace yes to overwrite it, or -var restart")
    assert "arg " not in line


# -- item 11: a pair left half-renamed ------------------------------------------------------------------


def test_half_renamed_pair_is_completed(tmp_path, glass):
    """Killed between the two renames of the pair (restart new, .vars old, .vars.tmp left): the
    continuation completes the rename and gives every step once."""
    data, _ = glass
    common = {**TINY, "data": data}
    rc, _, out = attempt(tmp_path, {**common, "nsteps": 3}, env={"PYSOFT_FAULT": "pair:2"})
    assert rc != 0
    assert (tmp_path / "planestrain.restart.vars.tmp").exists() and not (tmp_path / "planestrain.restart.tmp").exists()
    assert steps(tmp_path) == [0, 1]
    out = run_lmp(tmp_path, "in.tension.planestrain", {**common, "nsteps": 3, "restart": "planestrain.restart"})
    assert "completed the rename" in out and "at strain step 2" in out
    assert steps(tmp_path) == [0, 1, 2, 3]
    assert not (tmp_path / "planestrain.restart.vars.tmp").exists()


def test_unit_trim_rows_one_rule(tmp_path):
    from pysoft.runid import RunIdentityError, ss_keep, ss_step, trim_rows

    p = tmp_path / "ss.txt"
    p.write_text("# in.tension.planestrain: run abc, lx0 1 A\n# step strain\n0 0.0 1\n1 0.01 2\n"
                 "# planestrain result: fractured 0\n2 0.02 3\n3 0.0")
    assert trim_rows(str(p), 2, ss_step, ss_keep) == (1, 1)
    assert p.read_text() == "# in.tension.planestrain: run abc, lx0 1 A\n# step strain\n0 0.0 1\n1 0.01 2\n"
    p.write_text("0 0 1\n2 0 1\n")
    with pytest.raises(RunIdentityError, match="step 2 follows step 0"):
        trim_rows(str(p), 5, ss_step, ss_keep)
    np.testing.assert_array_equal(read_table(p)[:, 0], [0, 2])


def test_series_of_random_bytes_reads_as_no_series(tmp_path):
    # pysoft report reads series through series.read (pysoft.runfolder): random bytes gave a
    # UnicodeDecodeError traceback
    from pysoft import series

    p = tmp_path / "series.jsonl"
    p.write_bytes(np.random.default_rng(3).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    assert series.read(str(p)) == (None, [])


def test_nvt300_refuses_to_overwrite_a_trajectory(tmp_path, glass):
    """The dump path now refuses an existing trajectory as the in-run sampler refuses a dataset."""
    data, _ = glass
    variables = {"data": data, "time": 0.004, "dump_every": 0.002, "dump": "traj.lammpstrj", "seed": 11}
    run_lmp(tmp_path, "in.nvt300", variables)
    before = snapshot(tmp_path)
    cmd = [LMP, "-in", os.path.join(INPUTS, "in.nvt300"), "-log", "none", "-nocite", "-var", "pot", POT]
    for name, value in {**TINY_FF, **variables}.items():
        cmd += ["-var", name, str(value)]
    proc = subprocess.run(cmd, cwd=str(tmp_path), capture_output=True, text=True, timeout=120)
    errors = [x for x in proc.stdout.splitlines() if x.startswith("ERROR")]
    assert proc.returncode != 0 and len(errors) == 1, proc.stdout[-3000:]
    assert "traj.lammpstrj exists: add -var replace yes to overwrite it" in errors[0]
    assert snapshot(tmp_path) == before
    run_lmp(tmp_path, "in.nvt300", {**variables, "replace": "yes"})
