"""pysoft.keyframes: the key frames of a strain loop (doc/keyframes.md).

Against the series written by the same run and against brute-force per-atom values on the same
frames, on 1 and 2 ranks; OVITO's Python module opens them; the choice of moments and the
refusals on their own (no LAMMPS)."""

import gzip
import json
import os
import subprocess

import numpy as np
import pytest

from conftest import run_job
from test_hooks import CELL, glass, loop_commands, read_series, reference_cluster_sizes  # noqa: F401

from pysoft.keyframes import COLUMNS, INTEGER_COLUMNS, KeyFrames, KeyFramesError, dump_text, read_manifest
from pysoft.tally import SerialComm


def keyframe_loop(data, model, series, kf, nsteps, every=0, replace="no"):
    cmds = loop_commands(data, model, series, nsteps)
    i = next(k for k, c in enumerate(cmds) if c.startswith("fix pysoft_tally"))
    cmds[i] += f" arg keyframes {kf} arg keyframes_every {every} arg replace {replace}"
    return cmds + ["unfix pysoft_tally", f"fix kf all pysoft/invoke 1 pysoft.keyframes:finish at run0 arg dir {kf}",
                   "run 0 post no"]


def load(path):
    """A key frame as (step, box lines, column names, rows) with the independent text reader."""
    with gzip.open(path, "rt") as fh:
        lines = fh.read().splitlines()
    assert lines[0] == "ITEM: TIMESTEP" and lines[2] == "ITEM: NUMBER OF ATOMS"
    n = int(lines[3])
    names = lines[8].split()[2:]
    rows = np.array([[float(v) for v in line.split()] for line in lines[9:9 + n]]).reshape(n, len(names))
    assert len(lines) == 9 + n
    return int(lines[1]), lines[4:8], names, {c: rows[:, j] for j, c in enumerate(names)}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, glass, trained):  # noqa: F811
    _, model, _ = trained
    d = tmp_path_factory.mktemp("kf")
    out = {}
    for n in (1, 2):
        series, kf = d / f"s{n}.jsonl", d / f"kf{n}"
        run_job(d, keyframe_loop(glass, model, series, kf, 4, every=3), nprocs=n, name=f"kf{n}")
        out[n] = (read_series(series)[1], kf)
    return out


@pytest.mark.mpi
def test_key_frames_agree_with_the_series_on_1_and_2_ranks(runs):
    rows, kf = runs[1]
    m = read_manifest(kf)
    assert m["complete"] and m["format"] == "pysoft-keyframes" and m["lost"] == []
    # the moments are those of the series' own stress (the pressure tensor at each call)
    s = [r["stress_GPa"]["xx"] for r in rows]
    drops = -np.diff(s)
    assert m["moments"]["unstrained"] == 0 and m["moments"]["last"] == 4
    assert m["moments"]["peak"] == int(np.argmax(s))
    assert m["moments"]["drop_onset"] == (int(np.argmax(drops)) if drops.max() > 0 else None)
    steps = {f["step"] for f in m["frames"]}
    assert steps == {0, 3, 4, m["moments"]["peak"]} | ({m["moments"]["drop_onset"]} - {None})
    assert not [f for f in os.listdir(kf) if ".tmp" in f]
    for f in m["frames"]:
        step, _, names, cols = load(kf / f["file"])
        assert step == f["step"] and names == [c for c, _ in COLUMNS] and len(cols["id"]) == 300 == f["atoms"]
        r = rows[step]
        al = cols["type"] == 1
        assert al.sum() == r["n_centre"]
        assert cols["S"][al].mean() == pytest.approx(r["softness"]["mean"], rel=1e-6)
        assert cols["D"][al].mean() == pytest.approx(r["D_A"]["mean"], rel=1e-6, abs=1e-9)
        assert np.all(cols["S"][~al] == 0) and np.all(cols["cn"][~al] == -1)
        for k, state in enumerate(("UC", "DC", "IC", "SC")):
            assert np.sum(cols["switch"][al] == k) == round(r["bond_fraction"][state] * r["n_centre"])
        # clusters: the same number, largest size and soft atoms as the series
        labels = cols["cluster"][cols["cluster"] > 0]
        sizes = np.unique(labels, return_counts=True)[1]
        assert len(sizes) == r["clusters"]["number"] and sizes.max() == r["clusters"]["largest"]
        assert len(labels) == r["clusters"]["soft_atoms"]
        assert np.all(np.isin(labels, cols["id"][al]))
        # the initial slab: the profile's slab counts
        np.testing.assert_array_equal(np.bincount(cols["slab"].astype(int), minlength=20), r["profile"]["n"])
    # 2 ranks: the same frames (the loop's atom motion does not depend on the rank count)
    m2 = read_manifest(runs[2][1])
    assert m2["moments"] == m["moments"] and [f["file"] for f in m2["frames"]] == [f["file"] for f in m["frames"]]
    for f in m["frames"]:
        a, b = load(kf / f["file"])[3], load(runs[2][1] / f["file"])[3]
        for c, _ in COLUMNS:
            if c in INTEGER_COLUMNS:
                np.testing.assert_array_equal(a[c], b[c], err_msg=c)
            else:
                np.testing.assert_allclose(a[c], b[c], rtol=1e-6, atol=2e-6, err_msg=c)


def test_key_frames_match_brute_force_per_atom_values(runs, trained, glass):  # noqa: F811
    """Step 0 from the file against a direct evaluation: softness from the model on compute
    structure/atom rows, CN by counting O within 2.25 Å, clusters by breadth-first search."""
    _, model_path, model = trained
    rows, kf = runs[1]
    d = kf.parent
    cmds = loop_commands(glass, model_path, d / "direct.jsonl", 0) + \
        ["compute F al structure/atom default Al O", "run 0"]
    res = run_job(d, cmds, {"c_F": 150}, name="kfdirect")
    _, _, _, cols = load(kf / "step0000.dump.gz")
    np.testing.assert_array_equal(cols["id"], res["id"])
    al = res["type"] == 1
    S = model.softness(res["c_F"][al])
    np.testing.assert_allclose(cols["S"][al], S, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(cols["S0"][al], S, rtol=1e-6, atol=1e-6)
    x = np.column_stack([cols["x"], cols["y"], cols["z"]])
    inv = np.linalg.inv(CELL)
    dd = (x[al][:, None, :] - x[res["type"] == 2][None, :, :]) @ inv
    dd -= np.round(dd)
    cn = (np.linalg.norm(dd @ CELL, axis=-1) < 2.25).sum(axis=1)
    np.testing.assert_array_equal(cols["cn0"][al], cn)
    np.testing.assert_array_equal(cols["cn"][al], cn)
    soft = al & (cols["S"] >= np.quantile(cols["S"][al], 0.9))
    assert np.array_equal(soft, cols["cluster"] > 0)
    got = sorted(np.unique(cols["cluster"][soft], return_counts=True)[1].tolist())
    assert got == reference_cluster_sizes(x[soft], CELL, 3.7)
    # each label is the smallest ID of its cluster
    for lab in np.unique(cols["cluster"][soft]):
        assert cols["id"][cols["cluster"] == lab].min() == lab


def test_key_frames_open_in_ovito(runs):
    import ovito.io as ovito_io      # pysoft's test extra (pyproject.toml)

    _, kf = runs[2]
    for f in read_manifest(kf)["frames"]:
        data = ovito_io.import_file(str(kf / f["file"])).compute()
        assert data.particles.count == 300
        names = set(data.particles.keys())
        assert {"Particle Identifier", "Particle Type", "Position"} <= names
        # OVITO lowercases the names of custom columns and maps "cluster" to its own Cluster
        assert {"s", "s0", "d", "cn0", "cn", "switch", "Cluster", "slab"} <= names
        _, _, _, cols = load(kf / f["file"])
        order = np.argsort(np.asarray(data.particles["Particle Identifier"]))
        for ours, theirs in (("S", "s"), ("S0", "s0"), ("D", "d"), ("cluster", "Cluster"), ("switch", "switch")):
            np.testing.assert_allclose(np.asarray(data.particles[theirs])[order], cols[ours], rtol=1e-6)
        assert data.attributes["Timestep"] == f["step"]


# -- the moments and the refusals, without LAMMPS ----------------------------------------------------


def fake_frame(step, stress, n=40, seed=0):
    rng = np.random.default_rng(seed + step)
    cell = np.diag([20.0, 12.0, 12.0])
    types = np.where(np.arange(n) % 3 == 0, 1, 2)
    al = types == 1
    x = rng.random((n, 3)) @ cell
    return {"step": step, "strain": 0.01 * step, "stress": stress, "timestep": 100 * step,
            "boxlo": np.zeros(3), "cell": cell, "id": np.arange(1, n + 1), "type": types,
            "x": x[:, 0], "y": x[:, 1], "z": x[:, 2], "S": np.where(al, rng.normal(size=n), 0.0),
            "S0": np.where(al, 0.5, 0.0), "D": rng.random(n), "cn0": np.where(al, 5, -1),
            "cn": np.where(al, 4, -1), "switch": np.where(al, 1, -1), "slab": np.arange(n) % 20}


def test_moments_known_only_afterwards_are_kept_in_memory(tmp_path):
    stress = [0.0, 1.0, 3.0, 2.5, 1.0, 0.2, 0.1]
    kf = KeyFrames(SerialComm(), tmp_path / "kf")
    written = []
    for k, s in enumerate(stress):
        kf.record(fake_frame(k, s))
        written.append(sorted(os.listdir(tmp_path / "kf")))
    # nothing but step 0 (and the manifest) is written while the loop runs
    assert all(w == ["keyframes.json", "step0000.dump.gz"] for w in written)
    kf.finish()
    m = read_manifest(tmp_path / "kf")
    assert m["moments"] == {"unstrained": 0, "peak": 2, "drop_onset": 3, "last": 6} and m["complete"]
    assert [f["step"] for f in m["frames"]] == [0, 2, 3, 6]
    assert [f["moments"] for f in m["frames"]] == [["unstrained"], ["peak"], ["drop_onset"], ["last"]]
    _, _, _, cols = load(tmp_path / "kf" / "step0003.dump.gz")
    np.testing.assert_allclose(cols["D"], fake_frame(3, 0)["D"], rtol=1e-6)
    assert [s for _, s in m["stress_history"]] == stress


def test_a_step_that_is_two_moments_is_one_file_and_every(tmp_path):
    kf = KeyFrames(SerialComm(), tmp_path / "kf", every=2)
    for k, s in enumerate([0.0, 2.0, 4.0, 1.0, 0.5]):
        kf.record(fake_frame(k, s))
    assert sorted(os.listdir(tmp_path / "kf")) == ["keyframes.json", "step0000.dump.gz", "step0002.dump.gz",
                                                   "step0004.dump.gz"]
    kf.finish()
    m = read_manifest(tmp_path / "kf")
    assert m["moments"] == {"unstrained": 0, "peak": 2, "drop_onset": 2, "last": 4}
    assert {f["step"]: f["moments"] for f in m["frames"]} == {0: ["unstrained"], 2: ["peak", "drop_onset"],
                                                              4: ["last"]}


def test_a_previous_run_is_refused_then_replaced_only_when_the_new_run_writes(tmp_path):
    d = tmp_path / "kf"
    kf = KeyFrames(SerialComm(), d, every=1)
    for k in range(3):
        kf.record(fake_frame(k, k))
    kf.finish()
    before = sorted(os.listdir(d))
    with pytest.raises(KeyFramesError, match="key frames of another run .* 'arg replace yes'"):
        KeyFrames(SerialComm(), d)
    assert sorted(os.listdir(d)) == before
    kf = KeyFrames(SerialComm(), d, replace=True)
    assert sorted(os.listdir(d)) == before              # nothing removed before the first write
    kf.record(fake_frame(0, 0.0))
    assert sorted(os.listdir(d)) == ["keyframes.json", "step0000.dump.gz"]


def test_a_killed_run_continued_from_a_restart_knows_the_steps_before_it(tmp_path):
    """Killed after step 4 (no finish), continued from a restart file written after step 2:
    the peak (step 2, before the restart, only in the killed run's memory) is listed as lost,
    never replaced by a later, lower step; the drop after the restart is written."""
    d = tmp_path / "kf"
    stress = [0.0, 2.0, 5.0, 4.5, 4.0, 3.9, 0.5, 0.4]
    kf = KeyFrames(SerialComm(), d)
    for k in range(5):
        kf.record(fake_frame(k, stress[k]))
    assert [s for _, s in read_manifest(d)["stress_history"]] == stress[:5]
    kf = KeyFrames(SerialComm(), d, restart=True, resume_step=3)
    for k in range(3, 8):
        kf.record(fake_frame(k, stress[k]))
    kf.finish()
    m = read_manifest(d)
    assert m["restarted_at"] == 3 and [s for _, s in m["stress_history"]] == stress
    assert m["moments"] == {"unstrained": 0, "peak": 2, "drop_onset": 5, "last": 7}
    assert m["lost"] == ["peak"] and [f["step"] for f in m["frames"]] == [0, 5, 7]


def test_negative_every_and_a_foreign_manifest_are_refused(tmp_path):
    with pytest.raises(KeyFramesError, match="keyframes_every must be 0 or more"):
        KeyFrames(SerialComm(), tmp_path / "a", every=-1)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "keyframes.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(KeyFramesError, match="is not a pysoft-keyframes manifest"):
        KeyFrames(SerialComm(), tmp_path / "b")


def test_triclinic_box_bounds_are_those_of_lammps():
    cell = np.array([[10.0, 0, 0], [2.0, 9.0, 0], [-1.0, 0.5, 8.0]])
    f = {**fake_frame(0, 0.0, n=3), "cluster": np.zeros(3)}
    text = dump_text(0, np.array([1.0, 2.0, 3.0]), cell, f).splitlines()
    assert text[4] == "ITEM: BOX BOUNDS xy xz yz pp pp pp"
    # xlo_bound = xlo + min(0, xy, xz, xy + xz), xhi_bound = xhi + max(...)
    assert [float(v) for v in text[5].split()] == [0.0, 13.0, 2.0]
    assert [float(v) for v in text[6].split()] == [2.0, 11.5, -1.0]
    assert [float(v) for v in text[7].split()] == [3.0, 11.0, 0.5]


# -- the plane-strain input ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def quenched(tmp_path_factory):
    from test_inputs import TINY_QUENCH, run_lmp

    d = tmp_path_factory.mktemp("kfquench")
    run_lmp(d, "in.quench", {**TINY_QUENCH, "P": 4, "seed": 7, "out": "glass.data"})
    return d / "glass.data"


def planestrain_vars(data, model, **kw):
    from test_inputs import INPUTS

    return {"data": data, "t_eq": 0.005, "t_nvt": 0.004, "t_avg": 0.002, "de": 0.05, "miniter": 20,
            "stop_steps": 0, "ss": "ss.txt", "model": model, "series": "series.jsonl",
            "analysis": os.path.join(INPUTS, "pysoft_analysis.mod"), **kw}


@pytest.mark.mpi
def test_planestrain_input_writes_the_key_frames_of_its_stress_strain_rows(tmp_path, quenched, trained):
    from test_inputs import read_table, run_lmp

    _, model, _ = trained
    run_lmp(tmp_path, "in.tension.planestrain", planestrain_vars(quenched, model, nsteps=4, keyframes_every=2),
            nprocs=2)
    sxx = read_table(tmp_path / "ss.txt")[:, 2]
    m = read_manifest(tmp_path / "keyframes")
    assert m["complete"] and m["lost"] == [] and m["stress_source"] == "variable sxx_k"
    np.testing.assert_allclose([s for _, s in m["stress_history"]], sxx, atol=1e-6)
    drops = -np.diff(sxx)
    assert m["moments"]["peak"] == int(np.argmax(sxx)) and m["moments"]["last"] == 4
    assert m["moments"]["drop_onset"] == (int(np.argmax(drops)) if drops.max() > 0 else None)
    for f in m["frames"]:
        step, _, names, cols = load(tmp_path / "keyframes" / f["file"])
        assert len(cols["id"]) == 300 and f["strain"] == pytest.approx(0.05 * step)
    # a second run into the same folder is one ERROR line, and the frames are still there
    before = {f: (tmp_path / "keyframes" / f).read_bytes() for f in os.listdir(tmp_path / "keyframes")}
    (tmp_path / "series.jsonl").unlink()
    (tmp_path / "ss.txt").unlink()      # else pysoft.runid refuses the rerun first, as it should
    from test_inputs import INPUTS, LMP, POT

    cmd = [LMP, "-in", os.path.join(INPUTS, "in.tension.planestrain"), "-log", "none", "-nocite", "-var", "pot", POT]
    for k, v in planestrain_vars(quenched, model, nsteps=1, kacc="1.0e-3").items():
        cmd += ["-var", k, str(v)]
    proc = subprocess.run(cmd, cwd=str(tmp_path), capture_output=True, text=True, timeout=300)
    errors = [line for line in proc.stdout.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and "key frames of another run" in errors[0], proc.stdout[-2000:]
    assert {f: (tmp_path / "keyframes" / f).read_bytes() for f in os.listdir(tmp_path / "keyframes")} == before


@pytest.mark.mpi
def test_planestrain_restart_continues_the_key_frames(tmp_path, quenched, trained):
    from test_inputs import run_lmp

    _, model, _ = trained
    run_lmp(tmp_path, "in.tension.planestrain", planestrain_vars(quenched, model, nsteps=1), nprocs=2)
    run_lmp(tmp_path, "in.tension.planestrain",
            planestrain_vars(quenched, model, nsteps=3, restart="planestrain.restart"), nprocs=2)
    m = read_manifest(tmp_path / "keyframes")
    assert m["complete"] and m["restarted_at"] == 2 and m["moments"]["last"] == 3
    assert [s for s, _ in m["stress_history"]] == [0, 1, 2, 3]
    written = {f["step"] for f in m["frames"]}
    # a moment before the restart whose frame was only in memory is listed as lost, never faked
    for name in ("peak", "drop_onset", "last"):
        step = m["moments"][name]
        assert (step in written) != (name in m["lost"]) or step is None
    assert sorted(os.listdir(tmp_path / "keyframes")) == sorted(["keyframes.json"] + [f["file"] for f in m["frames"]])
