"""pysoft train end to end on synthetic glass trajectories with planted rearrangements.

The trajectories are made here: Al and O placed at random; the Al atoms with the fewest O
within 2.6 Å (a loosely packed environment) hop once, by 1 Å, at a planted frame; every atom
vibrates by 0.05 Å.  So rearranging and calm atoms differ in structure and a model must learn it.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from dumpgen import write_dump

BIN = os.path.dirname(sys.executable)
PYSOFT = os.path.join(BIN, "pysoft")
CELL = np.array([[13.5, 0, 0], [0.8, 13.0, 0], [-0.5, 0.4, 13.2]])
SPACING = 100          # MD steps between frames; with dt = 0.001 ps: 0.1 ps
TR = 2.0               # ps -> h = 10 frames


def glass_frames(nframes=110, seed=0, n_al=90, n_o=135):
    rng = np.random.default_rng(seed)
    x0 = rng.random((n_al + n_o, 3)) @ CELL
    types = np.array([1] * n_al + [2] * n_o)
    # loosely packed Al: fewest O within 2.6 Å (minimum image, small triclinic cell)
    inv = np.linalg.inv(CELL)
    d = x0[:n_al, None, :] - x0[None, n_al:, :]
    f = d @ inv
    f -= np.round(f)
    r = np.linalg.norm(f @ CELL, axis=-1)
    crowd = (r < 2.6).sum(1) + 0.01 * r.min(1)
    hoppers = np.argsort(crowd)[: n_al // 3]
    # spread over the frames that have full phop windows, so the 80 % time split has both classes
    hop_frame = rng.integers(22, nframes - 12, len(hoppers))
    jump = rng.normal(size=(len(hoppers), 3))
    jump /= np.linalg.norm(jump, axis=1)[:, None]
    frames = []
    base = x0.copy()
    for k in range(nframes):
        for a, t, j in zip(hoppers, hop_frame, jump):
            if k == t:
                base[a] += 1.0 * j
        pos = base + rng.normal(0, 0.05, base.shape)
        frames.append({"timestep": k * SPACING, "ids": np.arange(1, len(types) + 1), "types": types,
                       "positions": pos, "cell": CELL})
    return frames, hoppers, hop_frame


@pytest.fixture(scope="module")
def trajectories(tmp_path_factory):
    d = tmp_path_factory.mktemp("traj")
    out = {}
    for s in (0, 1):
        frames, hoppers, hop_frame = glass_frames(seed=s)
        out[s] = (write_dump(d / f"sample{s}.dump", frames), hoppers, hop_frame, frames)
    return d, out


def pysoft(*args, cwd):
    return subprocess.run([PYSOFT, *map(str, args)], cwd=str(cwd), capture_output=True, text=True, timeout=600)


def train_args(paths, out, *extra):
    return ["train", *paths, "--types", "Al", "O", "--tr", TR, "--seed", 3, "-o", out, *extra]


@pytest.fixture(scope="module")
def trained(trajectories):
    from test_model_file import plant_pickle

    d, tr = trajectories
    paths = [tr[0][0], tr[1][0]]
    plant_pickle(d / "model.json", d / "pwned")           # a crafted pickle where the joblib was
    proc = pysoft(*train_args(paths, d / "model.json"), cwd=d)
    assert proc.returncode == 0, proc.stderr
    assert not (d / "pwned").exists()                      # never unpickled
    return d, proc, json.loads((d / "model.json").read_text())


def test_train_writes_model_report_and_figure(trained):
    d, proc, model = trained
    assert (d / "model_phop.png").exists()
    assert (d / "model_learning_curve.png").stat().st_size > 10000
    for key in ("spec", "mean", "scale", "coef", "intercept", "metrics", "provenance", "feature_labels", "checksum"):
        assert key in model
    assert len(model["coef"]) == 150 and model["spec"]["species"] == ["Al", "O"]
    m = model["metrics"]
    # 30 hoppers per sample, all found: 60 rearranging events, 60 calm drawn
    assert model["provenance"]["events"]["rearranging"] == 60
    assert m["n_samples"] == 120
    # well above chance (0.5) on 120 events; the structure signal is planted, not perfect
    assert m["cv_accuracy"] > 0.65 and m["holdout"]["test"] > 0.6
    # the held-out fifth of the atoms, both classes, with the figures beside its accuracy
    h = m["holdout"]
    assert h["n_train"] + h["n_test"] == 120 and sum(h["test_counts"].values()) == h["n_test"]
    assert h["majority_baseline"] >= 0.5 and 0 < h["balanced_accuracy"] <= 1 and 0 < h["train"] <= 1
    assert m["cv_on"].startswith("the training atoms")
    # time split at one cut: about the latest fifth of the events test
    ts = m["time_split"]
    assert 18 <= ts["n_test"] <= 40 and ts["n_train"] + ts["n_test"] + ts["dropped_from_training"] == 120
    assert [r["test"] for r in m["leave_one_sample_out"]] == ["sample0.dump", "sample1.dump"]
    assert 0 < m["radial_only_cv_accuracy"] <= 1
    assert m["learning_curve"]["points"][-1]["n_train"] == h["n_train"]
    # the planted hops are 1 Å jumps: their phop peaks are far above 0.5 Å^2, so all count there
    (o,) = m["other_thresholds"]
    assert o["hop_threshold_A2"] == 0.5 and o["rearranging"] == 60
    assert "fitted on all 120 events" in m["final_model"] and m["train_accuracy_all"] > 0.5
    out = proc.stdout
    assert "grouped CV accuracy on the training atoms" in out and "60 rearranging" in out
    assert "majority baseline" in out and "balanced" in out and "learning curve" in out
    assert "hop threshold 0.5 Å^2: 60 rearranging events; held-out" in out
    assert "phop sample0.dump" in proc.stderr     # progress lines


def test_training_is_deterministic(trained, trajectories):
    d, _, model = trained
    _, tr = trajectories
    proc = pysoft(*train_args([tr[0][0], tr[1][0]], d / "again.json", "--quiet"), cwd=d)
    assert proc.returncode == 0, proc.stderr
    again = json.loads((d / "again.json").read_text())
    assert again["coef"] == model["coef"] and again["intercept"] == model["intercept"]
    assert again["metrics"] == model["metrics"]


def test_labels_same_for_shuffled_wrapped_unwrapped(trajectories, tmp_path):
    from pysoft.train import TrainSettings, scan_sample

    _, tr = trajectories
    frames = tr[0][3]
    settings = TrainSettings(types=("Al", "O"), t_r=TR, progress=False)
    variants = {
        "unwrapped": write_dump(tmp_path / "u.dump", frames),
        "shuffled": write_dump(tmp_path / "s.dump", frames, shuffle_seed=5),
        "image": write_dump(tmp_path / "i.dump.gz", frames, columns=("id", "type", "x", "y", "z", "ix", "iy", "iz")),
    }
    ev = {k: scan_sample(p, settings, [1]).events for k, p in variants.items()}
    for k in ("shuffled", "image"):
        for f in ("rearranging_frame", "rearranging_atom", "calm_frame", "calm_atom"):
            np.testing.assert_array_equal(getattr(ev[k], f), getattr(ev["unwrapped"], f))
    # the planted hops are the events, at their frames (phop peaks where the windows meet
    # across the jump: the hop frame or the one before)
    hoppers, hop_frame = tr[0][1], tr[0][2]
    got = dict(zip(ev["unwrapped"].rearranging_atom.tolist(), ev["unwrapped"].rearranging_frame.tolist()))
    assert sorted(got) == sorted(hoppers.tolist())
    for a, t in zip(hoppers, hop_frame):
        assert t - 1 <= got[int(a)] <= t


def test_trained_model_in_lammps_gives_hoppers_positive_softness(trained, trajectories, tmp_path):
    from conftest import run_job, write_data

    d, _, model = trained
    _, tr = trajectories
    frames, hoppers = tr[0][3], tr[0][1]
    f = frames[0]
    write_data(tmp_path / "g.data", f["positions"] % 1e9, f["types"], CELL)
    # wrap into the cell for read_data
    from pysoft.train import wrap
    write_data(tmp_path / "g.data", wrap(f["positions"], CELL, np.zeros(3)), f["types"], CELL)
    cmds = ["units metal", "atom_modify map array", f"read_data {tmp_path}/g.data", "pair_style zero 12.0",
            "pair_coeff * *", "comm_modify cutoff 14.0", "group al type 1",
            f"compute S al softness {d}/model.json Al O", "run 0"]
    res = run_job(tmp_path, cmds, {"c_S": 1}, nprocs=2, name="soft")
    S = res["c_S"][:, 0]
    al = np.arange(90)
    soft = np.isin(al, hoppers)
    assert S[al][soft].mean() > 0 > S[al][~soft].mean()


# -- bad input: one line, non-zero exit, no model file ----------------------------------------

def assert_fails(proc, out, expect):
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("pysoft: error: ") and expect in lines[-1], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not os.path.exists(out) and not os.path.exists(str(out).replace(".json", ".joblib"))


def test_missing_dump(tmp_path):
    assert_fails(pysoft(*train_args(["nope.dump"], tmp_path / "m.json"), cwd=tmp_path), tmp_path / "m.json",
                 "trajectory not found: nope.dump")


def test_corrupt_dump(tmp_path, trajectories):
    _, tr = trajectories
    text = open(tr[0][0]).read()
    (tmp_path / "cut.dump").write_text(text[: len(text) // 2])
    assert_fails(pysoft(*train_args(["cut.dump"], tmp_path / "m.json"), cwd=tmp_path), tmp_path / "m.json",
                 "cut.dump")


def test_different_atom_counts(tmp_path, trajectories):
    _, tr = trajectories
    frames = [dict(f) for f in tr[0][3]]
    frames[50] = {**frames[50], "ids": frames[50]["ids"][:-1], "types": frames[50]["types"][:-1],
                  "positions": frames[50]["positions"][:-1]}
    write_dump(tmp_path / "n.dump", frames)
    proc = pysoft(*train_args(["n.dump"], tmp_path / "m.json"), cwd=tmp_path)
    assert_fails(proc, tmp_path / "m.json", "n.dump")


def test_missing_position_column(tmp_path, trajectories):
    _, tr = trajectories
    write_dump(tmp_path / "c.dump", tr[0][3], columns=("id", "type", "xu", "yu"))
    assert_fails(pysoft(*train_args(["c.dump"], tmp_path / "m.json"), cwd=tmp_path), tmp_path / "m.json", "c.dump")


def test_window_longer_than_trajectory(tmp_path, trajectories):
    _, tr = trajectories
    proc = pysoft("train", tr[0][0], "--types", "Al", "O", "--tr", 50, "-o", tmp_path / "m.json", cwd=tmp_path)
    assert_fails(proc, tmp_path / "m.json", "needs at least")


def test_too_few_events(tmp_path, trajectories):
    _, tr = trajectories
    proc = pysoft("train", tr[0][0], "--types", "Al", "O", "--tr", TR, "--hop-threshold", 5.0,
                  "--calm-threshold", 0.05, "-o", tmp_path / "m.json", cwd=tmp_path)
    assert_fails(proc, tmp_path / "m.json", "too few events")
    assert "0 rearranging" in proc.stderr


def test_bad_options(tmp_path, trajectories):
    _, tr = trajectories
    for extra, expect in ((["--C", "a,b"], "--C must be"), (["--tr", "-1"], "--tr must be positive"),
                          (["--also-threshold", "0.1"], "--also-threshold 0.1 must exceed --hop-threshold 0.2"),
                          (["--centre", "Si"], "centre species Si"), (["--spec", "none.json"], "spec file not found")):
        proc = pysoft(*train_args([tr[0][0]], tmp_path / "m.json"), *extra, cwd=tmp_path)
        assert_fails(proc, tmp_path / "m.json", expect)


# -- user mistakes that used to crash or destroy data (issue 9) --------------------------------

def assert_one_line(proc, expect):
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("pysoft: error: "), proc.stderr
    assert expect in proc.stderr, proc.stderr


def test_more_atom_types_than_types_is_refused_before_any_work(tmp_path, trajectories):
    # two atom types in the dump, one species named: the feature pass used to segfault (exit 139)
    _, tr = trajectories
    proc = pysoft("train", tr[0][0], "--types", "Al", "--tr", TR, "-o", tmp_path / "m.json", cwd=tmp_path)
    assert_fails(proc, tmp_path / "m.json", "has atom type 2, but --types names 1 type(s) (Al)")
    assert "phop" not in proc.stdout        # refused before the first pass


def test_atom_type_beyond_types_in_a_later_frame(tmp_path, trajectories):
    _, tr = trajectories
    frames = [dict(f) for f in tr[0][3]]
    frames[40] = {**frames[40], "types": np.where(frames[40]["types"] == 2, 3, frames[40]["types"])}
    write_dump(tmp_path / "t.dump", frames)
    proc = pysoft(*train_args(["t.dump"], tmp_path / "m.json"), cwd=tmp_path)
    assert_fails(proc, tmp_path / "m.json", f"timestep {40 * SPACING} has atom type 3")


@pytest.mark.parametrize("how", ["same name", "hard link"])
def test_output_that_is_an_input_is_refused(tmp_path, trajectories, how):
    _, tr = trajectories
    a, b = tmp_path / "a.dump", tmp_path / "b.dump"
    a.write_bytes(open(tr[0][0], "rb").read())
    b.write_bytes(open(tr[1][0], "rb").read())
    before = b.read_bytes()
    out = {"same name": b, "hard link": tmp_path / "link.json"}[how]
    if how == "hard link":
        os.link(b, out)
    proc = pysoft(*train_args([a, b], out), cwd=tmp_path)
    assert_one_line(proc, "is the input trajectory")
    assert b.read_bytes() == before


def test_unwritable_output_folder_is_refused_before_any_work(tmp_path, trajectories):
    # /proc is not writable even for root (for whom os.access says yes to everything)
    _, tr = trajectories
    proc = pysoft(*train_args([tr[0][0]], "/proc/pysoft-model.json"), cwd=tmp_path)
    assert_one_line(proc, "cannot write in the output directory /proc")
    assert "phop" not in proc.stdout


@pytest.mark.parametrize("how", ["same path", "link"])
def test_same_trajectory_twice_is_refused(tmp_path, trajectories, how):
    # two copies of one sample would let leave-one-sample-out test on its training data
    _, tr = trajectories
    second = tr[0][0]
    if how == "link":
        second = tmp_path / "again.dump"
        os.link(tr[0][0], second)
    assert_fails(pysoft(*train_args([tr[0][0], second], tmp_path / "m.json"), cwd=tmp_path), tmp_path / "m.json",
                 "is given twice")
