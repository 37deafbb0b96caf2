"""The in-run sampler (pysoft.sampler) against the dump path of pysoft train, on one trajectory.

One LAMMPS run of a small supercooled binary LJ liquid writes both a full-precision dump and
the sampler's dataset.  The dump is then read by pysoft train's own two passes (scan_sample:
phop and labels; features_of_draw: compute structure/atom in a separate LAMMPS), which are the
independent reference: the events must be the same pairs, the features equal within 1e-10, on
1 and on 2 ranks; and pysoft train --samples must print the same model as pysoft train DUMP.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import run_lmp

BIN = os.path.dirname(sys.executable)
PYSOFT = os.path.join(BIN, "pysoft")
EVERY = 10             # steps between frames
DT = 0.005             # LJ time units
TR = 0.5               # -> h = 5 frames
FRACTION = 0.25        # calm pairs kept
HOP, CALM = 0.25, 0.07 # thresholds (σ^2) that give both classes in this liquid
SPEC = {"species": ["Al", "O"],
        "radial": {"mu": [0.8, 2.4, 0.2], "L": 0.2, "cutoff": 2.6},
        "angular": {"cutoff": 1.8, "params": [[1.0, -1, 1], [1.0, 1, 2], [0.5, 1, 1]]}}

SCRIPT = """
units lj
atom_style atomic
region box block 0 {box} 0 {box} 0 {box}
create_box 2 box
create_atoms 1 random {natoms} {seed} NULL overlap 0.8
set type 1 type/fraction 2 0.2 {seed}
mass * 1.0
pair_style lj/cut 2.5
pair_coeff 1 1 1.0 1.0
pair_coeff 1 2 1.5 0.8
pair_coeff 2 2 0.5 0.88
minimize 1e-6 1e-8 200 2000
reset_timestep 0
timestep {dt}
velocity all create 0.9 {seed} loop geom
fix md all nvt temp 0.9 0.9 0.5
run 400
reset_timestep 0
variable dt equal {dt}
variable n_dump equal {every}
dump traj all custom {every} traj.dump id type x y z ix iy iz
dump_modify traj sort id format float %.17g
include {mod}
run {steps}
"""


def run_sampled(workdir, nprocs, box=6.5, steps=700, seed=5107):
    with open(workdir / "spec.json", "w") as fh:
        json.dump(SPEC, fh)
    mod = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "inputs", "pysoft_sampler.mod")
    script = SCRIPT.format(seed=seed, dt=DT, every=EVERY, mod=mod, steps=steps, box=box,
                           natoms=int(round(0.95 * box ** 3)))
    args = ["-var", "samples", "run.samples", "-var", "tR", str(TR), "-var", "calm_fraction", str(FRACTION),
            "-var", "spec", str(workdir / "spec.json"), "-var", "hop_threshold", str(HOP),
            "-var", "calm_threshold", str(CALM)]
    proc = run_lmp(workdir, script, nprocs=nprocs, args=args, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return workdir / "traj.dump", workdir / "run.samples"


def settings(tmp):
    from pysoft.train import TrainSettings

    return TrainSettings(types=("Al", "O"), spec=str(tmp / "spec.json"), t_r=TR, dt=DT, hop_threshold=HOP,
                         calm_threshold=CALM, calm_fraction=FRACTION, progress=False)


# 6.5 σ: the spec's cutoff 2.6 σ is within half the box; 4.2 σ: it is not, and neighbours
# include several images of an atom (the centre's own too), as LAMMPS' ghost atoms do
@pytest.fixture(scope="module", params=[(1, 6.5), (2, 6.5), (1, 4.2)], ids=["np1", "np2", "np1-smallbox"])
def sampled(request, tmp_path_factory):
    nprocs, box = request.param
    d = tmp_path_factory.mktemp(f"sampler_np{nprocs}")
    dump, samples = run_sampled(d, nprocs, box=box)
    return d, dump, samples


def test_inrun_labels_equal_dump_labels(sampled):
    """Same rearranging and calm (atom, frame) pairs, same atoms, frames and phop histogram."""
    from pysoft.samples import SampleFiles
    from pysoft.train import scan_sample

    d, dump, samples = sampled
    s = settings(d)
    ref = scan_sample(str(dump), s, [1])
    got = SampleFiles().samples([str(samples)], s, [1])[0]
    assert got.nframes == ref.nframes and got.half_window == ref.half_window == 5
    np.testing.assert_array_equal(got.ids, ref.ids)
    for field in ("rearranging_frame", "rearranging_atom", "calm_frame", "calm_atom"):
        np.testing.assert_array_equal(getattr(got.events, field), getattr(ref.events, field), err_msg=field)
    np.testing.assert_array_equal(got.phop_hist, ref.phop_hist)
    assert ref.events.n_rearranging >= 5 and ref.events.n_calm >= 20


def test_inrun_features_equal_dump_features(sampled):
    """Every stored feature row equals compute structure/atom on the dumped frame (1e-10)."""
    assert_features_equal(*sampled)


def assert_features_equal(d, dump, samples):
    from pysoft.phop import BalancedDraw
    from pysoft.samples import SampleFiles
    from pysoft.spec import load_spec
    from pysoft.train import features_of_draw, scan_sample

    s = settings(d)
    ref = scan_sample(str(dump), s, [1])
    src = SampleFiles()
    got = src.samples([str(samples)], s, [1])
    ev = got[0].events
    frame = np.concatenate([ev.rearranging_frame, ev.calm_frame]).astype(np.int64)
    atom = np.concatenate([ev.rearranging_atom, ev.calm_atom]).astype(np.int64)
    label = np.concatenate([np.ones(ev.n_rearranging, np.int8), np.zeros(ev.n_calm, np.int8)])
    order = np.lexsort((atom, frame))
    draw = BalancedDraw(np.zeros(len(frame), np.int64), frame[order], atom[order], label[order])
    spec = load_spec(s.spec)
    X_ref = features_of_draw([ref], draw, s.types, str(d / "spec.json"), spec, s)
    X_got = src.features(got, draw, s.types, str(d / "spec.json"), spec, s)
    assert np.abs(X_ref).max() > 0.1
    np.testing.assert_allclose(X_got, X_ref, rtol=0, atol=1e-10)


RESTARTED = """
units lj
atom_style atomic
read_restart a.restart
variable dt equal {dt}
variable n_dump equal {every}
fix md all nvt temp 0.9 0.9 0.5
dump traj all custom {every} b.dump id type x y z ix iy iz
dump_modify traj sort id format float %.17g
include {mod}
run 350
"""


def frames_of(path):
    """The frames of a text dump, by timestep."""
    text = open(path).read()
    return {int(f.split("\n", 2)[1]): "ITEM: TIMESTEP" + f for f in text.split("ITEM: TIMESTEP")[1:]}


def test_restart_continues_the_dataset(tmp_path):
    """A run stopped after its restart file: read_restart + 'restart yes' cuts the dataset back to
    the restart's step and continues it; the result equals the dump path on the trajectory made of
    the frames before the restart and those of the continued run."""
    import shutil

    from pysoft.samples import SampleFiles
    from pysoft.train import scan_sample

    dump_a, samples = run_sampled(tmp_path, 1, steps="350\nwrite_restart a.restart\nrun 350")
    kept = shutil.copy(samples, tmp_path / "a.samples")
    mod = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "inputs", "pysoft_sampler.mod")
    args = ["-var", "samples", "run.samples", "-var", "tR", str(TR), "-var", "calm_fraction", str(FRACTION),
            "-var", "spec", str(tmp_path / "spec.json"), "-var", "hop_threshold", str(HOP),
            "-var", "calm_threshold", str(CALM), "-var", "sampler_restart", "yes"]
    proc = run_lmp(tmp_path, RESTARTED.format(dt=DT, every=EVERY, mod=mod), args=args, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "continuing run.samples after frame 35 (timestep 350)" in proc.stdout
    assert os.path.getsize(samples) != os.path.getsize(kept)       # cut back, then continued
    a, b = frames_of(dump_a), frames_of(tmp_path / "b.dump")
    with open(tmp_path / "joined.dump", "w") as fh:
        fh.write("".join([a[t] for t in sorted(a) if t <= 350] + [b[t] for t in sorted(b) if t > 350]))
    s = settings(tmp_path)
    ref = scan_sample(str(tmp_path / "joined.dump"), s, [1])
    got = SampleFiles().samples([str(samples)], s, [1])[0]
    assert got.nframes == ref.nframes == 71
    for field in ("rearranging_frame", "rearranging_atom", "calm_frame", "calm_atom"):
        np.testing.assert_array_equal(getattr(got.events, field), getattr(ref.events, field), err_msg=field)
    np.testing.assert_array_equal(got.phop_hist, ref.phop_hist)
    assert_features_equal(tmp_path, tmp_path / "joined.dump", samples)


def test_samples_file_is_smaller_than_dump(sampled):
    d, dump, samples = sampled
    # at 70-260 atoms the per-frame phop histogram (880 bytes) is a good part of the file
    assert os.path.getsize(samples) < os.path.getsize(dump) / 2


def pysoft(*args, cwd):
    return subprocess.run([PYSOFT, *map(str, args)], cwd=str(cwd), capture_output=True, text=True, timeout=600)


def test_train_samples_equals_train_dump(sampled):
    """pysoft train --samples F trains the same model, with the same tables, as pysoft train DUMP."""
    d, dump, samples = sampled
    common = ["--types", "Al", "O", "--spec", d / "spec.json", "--tr", TR, "--dt", DT, "--hop-threshold", HOP,
              "--calm-threshold", CALM, "--calm-fraction", FRACTION, "--min-events", 2, "--folds", 2, "--seed", 4]
    a = pysoft("train", dump, "-o", d / "from_dump.json", *common, cwd=d)
    assert a.returncode == 0, a.stderr
    b = pysoft("train", "--samples", samples, "-o", d / "from_samples.json", *common, cwd=d)
    assert b.returncode == 0, b.stderr
    ma = json.loads((d / "from_dump.json").read_text())
    mb = json.loads((d / "from_samples.json").read_text())
    # the features differ by ~1e-13; the SVM solver stops at its own tolerance, so the
    # coefficients agree to that tolerance, and every accuracy of the tables exactly
    np.testing.assert_allclose(ma["coef"], mb["coef"], rtol=0, atol=1e-4)
    for key in ("cv", "holdout", "time_split", "radial_only_cv_accuracy", "n_samples", "learning_curve",
                "other_thresholds"):
        assert ma["metrics"][key] == mb["metrics"][key], key
    # the printed tables, less the wall time
    strip = lambda out: [ln for ln in out.splitlines() if "C" in ln or "split" in ln or "held-out" in ln]  # noqa: E731
    assert strip(a.stdout)[-8:] == strip(b.stdout)[-8:]


def test_wrong_setting_for_samples_is_one_line(sampled):
    d, dump, samples = sampled
    proc = pysoft("train", "--samples", samples, "--types", "Al", "O", "--spec", d / "spec.json", "--tr", 0.7,
                  "-o", d / "x.json", cwd=d)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "sampled with --tr 0.5" in lines[0] and "give --tr 0.5" in lines[0], proc.stderr


# -- the dataset file without LAMMPS ---------------------------------------------------------------

NCOLS = 2
HEADER = {"types": ["Al", "O"], "centre": "Al", "ncols": NCOLS, "half_window": 1, "hop_threshold": 0.2,
          "calm_threshold": 0.05, "first_timestep": 0}


def rows(kind, ids, frames):
    from pysoft.samples import Rows

    n = len(ids)
    return Rows(np.full(n, kind, np.int8), np.array(ids, np.int64), np.array(frames, np.int64),
                np.linspace(0.3, 0.5, n), np.arange(n * NCOLS, dtype=float).reshape(n, NCOLS) + 10 * kind)


def test_torn_or_corrupt_last_block_is_skipped(tmp_path):
    """A killed run leaves a torn block: every complete frame before it still counts."""
    from pysoft import samples as ds

    path = str(tmp_path / "a.samples")
    w = ds.SampleWriter(path, HEADER, [5, 3, 9])
    sizes = [w.append(ds.FRAME, 10 * (k + 1), k, rows(ds.CALM, [3, 9], [k, k]), np.full(4, k)) for k in range(3)]
    full = open(path, "rb").read()
    assert ds.read_dataset(path).nframes == 3
    with open(path, "wb") as fh:               # cut inside the last block
        fh.write(full[:-sizes[-1] // 2])
    got = ds.read_dataset(path)
    assert (got.nframes, got.torn, len(got.rows)) == (2, True, 4)
    np.testing.assert_array_equal(got.phop_hist, np.full(4, 1))
    np.testing.assert_array_equal(got.ids, [3, 5, 9])
    damaged = bytearray(full)
    damaged[-3] ^= 0xFF                        # a flipped byte in the last payload
    with open(path, "wb") as fh:
        fh.write(bytes(damaged))
    assert ds.read_dataset(path).nframes == 2


def test_tail_counts_only_as_the_last_block_and_close_takes_pending_features(tmp_path):
    from pysoft import samples as ds

    path = str(tmp_path / "b.samples")
    w = ds.SampleWriter(path, HEADER, [1, 2, 3])
    hist = np.zeros(4, np.int64)
    w.append(ds.FRAME, 10, 0, rows(ds.PENDING, [2], [0]), hist)
    w.append(ds.FRAME, 20, 1, rows(ds.CALM, [1], [1]), hist)
    w.append(ds.TAIL, 20, 1, rows(ds.CLOSE, [2], [0]), hist)
    ev, hop_x, calm_x = ds.labelled_pairs(ds.read_dataset(path))
    assert (ev.rearranging_frame.tolist(), ev.rearranging_atom.tolist()) == ([0], [1])
    np.testing.assert_array_equal(hop_x, rows(ds.PENDING, [2], [0]).features)
    w.append(ds.FRAME, 30, 2, rows(ds.HOP, [3], [1]), hist)     # the run went on: the tail is void
    ev, hop_x, calm_x = ds.labelled_pairs(ds.read_dataset(path))
    assert (ev.rearranging_frame.tolist(), ev.rearranging_atom.tolist()) == ([1], [2])
    assert (ev.calm_frame.tolist(), ev.calm_atom.tolist()) == ([1], [0])


def test_existing_dataset_is_not_overwritten(tmp_path):
    from pysoft import samples as ds

    path = str(tmp_path / "c.samples")
    ds.SampleWriter(path, HEADER, [1])
    with pytest.raises(ds.SamplesError, match="exists; add 'arg replace yes'"):
        ds.SampleWriter(path, HEADER, [1])


def test_damaged_middle_block_is_refused_not_called_a_killed_run(tmp_path):
    """A flipped byte in block 2 of 4: no killed run leaves that; the file is refused, where a torn
    end (above) is skipped."""
    from pysoft import samples as ds

    path = str(tmp_path / "d.samples")
    w = ds.SampleWriter(path, HEADER, [3, 9])
    sizes = [w.append(ds.FRAME, 10 * (k + 1), k, rows(ds.CALM, [3, 9], [k, k]), np.full(4, k)) for k in range(4)]
    data = bytearray(open(path, "rb").read())
    data[len(data) - sizes[3] - sizes[2] // 2] ^= 0xFF
    open(path, "wb").write(bytes(data))
    with pytest.raises(ds.SamplesError, match="damaged and complete blocks follow it"):
        ds.read_dataset(path)


def test_same_dataset_twice_is_refused(sampled, tmp_path):
    d, _, samples = sampled
    copy = tmp_path / "copy.samples"
    copy.write_bytes(samples.read_bytes())
    proc = pysoft("train", "--samples", samples, copy, "--types", "Al", "O", "--spec", d / "spec.json", "--tr", TR,
                  "--dt", DT, "--hop-threshold", HOP, "--calm-threshold", CALM, "--calm-fraction", FRACTION,
                  "-o", tmp_path / "x.json", cwd=tmp_path)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "are the same sampler run" in lines[0], proc.stderr


# -- issue 18: restarts between frames, another run's restart, one-line argument errors ------------

CONTINUED = """
units lj
atom_style atomic
read_restart {restart}
variable dt equal {dt}
variable n_dump equal {every}
fix md all nvt temp 0.9 0.9 0.5
include {mod}
run {steps} upto
"""
MOD = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "inputs", "pysoft_sampler.mod")


def sampler_args(workdir, *extra):
    """-var arguments of pysoft_sampler.mod; `extra` as "-var", NAME, VALUE, ... overrides (LAMMPS
    keeps the first -var of a name)."""
    values = {"samples": "run.samples", "tR": TR, "calm_fraction": FRACTION, "spec": workdir / "spec.json",
              "hop_threshold": HOP, "calm_threshold": CALM}
    values.update(zip(extra[1::3], extra[2::3]))
    return [str(x) for name, value in values.items() for x in ("-var", name, value)]


def test_restart_between_frames_continues_right(tmp_path):
    """A restart at step 175 (frames every 10): the dataset continued from it equals the one the
    same process wrote without stopping (it went on to 350 after writing the restart file)."""
    import shutil

    from pysoft.samples import SampleFiles

    _, samples = run_sampled(tmp_path, 1, steps="175\nwrite_restart a.restart\nrun 175")
    whole = shutil.copy(samples, tmp_path / "whole.samples")
    proc = run_lmp(tmp_path, CONTINUED.format(restart="a.restart", dt=DT, every=EVERY, mod=MOD, steps=350),
                   args=sampler_args(tmp_path, "-var", "sampler_restart", "yes"), timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "continuing run.samples after frame 17 (timestep 170)" in proc.stdout
    s = settings(tmp_path)
    a = SampleFiles().samples([str(whole)], s, [1])[0]
    b = SampleFiles().samples([str(samples)], s, [1])[0]
    assert a.nframes == b.nframes == 36
    for field in ("rearranging_frame", "rearranging_atom", "calm_frame", "calm_atom"):
        np.testing.assert_array_equal(getattr(b.events, field), getattr(a.events, field), err_msg=field)


def test_dataset_of_another_run_is_refused(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    run_sampled(a, 1, steps="100\nwrite_restart a.restart", seed=5107)
    run_sampled(b, 1, steps=100, seed=5108)
    before = (b / "run.samples").read_bytes()
    (b / "a.restart").write_bytes((a / "a.restart").read_bytes())
    proc = run_lmp(b, CONTINUED.format(restart="a.restart", dt=DT, every=EVERY, mod=MOD, steps=200),
                   args=sampler_args(b, "-var", "sampler_restart", "yes"), timeout=300)
    errors = [x for x in proc.stdout.splitlines() if x.startswith("ERROR")]
    assert proc.returncode != 0 and len(errors) == 1, proc.stdout[-3000:]
    assert "run.samples belongs to sampler run" in errors[0] and "the restart file to run" in errors[0]
    assert (b / "run.samples").read_bytes() == before


@pytest.mark.parametrize("nprocs,extra,expect", [
    (1, ["-var", "tR", "0"], "tR 0: a number > 0 is needed"),
    (1, ["-var", "tR", "-10"], "tR -10: a number > 0 is needed"),
    (1, ["-var", "tR", "0.01"], "tR/2 must be at least one frame"),
    pytest.param(2, ["-var", "hop_threshold", "abc"], "hop_threshold abc: a number > 0 is needed",
                 marks=pytest.mark.mpi),
    (1, ["-var", "replace", "perhaps"], "-var replace perhaps: must be yes or no"),
])
def test_bad_sampler_argument_is_one_line(tmp_path, nprocs, extra, expect):
    (tmp_path / "spec.json").write_text(json.dumps(SPEC))
    script = SCRIPT.format(seed=5107, dt=DT, every=EVERY, mod=MOD, steps=20, box=6.5, natoms=261)
    proc = run_lmp(tmp_path, script, nprocs=nprocs, args=sampler_args(tmp_path, *extra), timeout=300)
    errors = [x for x in proc.stdout.splitlines() if x.startswith("ERROR")]
    assert proc.returncode != 0 and len(errors) == 1 and expect in errors[0], proc.stdout[-3000:]
    assert "Traceback" not in proc.stdout + proc.stderr


def test_existing_dataset_names_the_shipped_option(tmp_path):
    run_sampled(tmp_path, 1, steps=20)
    before = (tmp_path / "run.samples").read_bytes()
    script = SCRIPT.format(seed=5107, dt=DT, every=EVERY, mod=MOD, steps=20, box=6.5, natoms=261)
    proc = run_lmp(tmp_path, script, args=sampler_args(tmp_path), timeout=300)
    errors = [x for x in proc.stdout.splitlines() if x.startswith("ERROR")]
    assert len(errors) == 1 and "run.samples exists: add -var replace yes" in errors[0], proc.stdout[-3000:]
    assert "arg replace" not in errors[0]
    assert (tmp_path / "run.samples").read_bytes() == before
