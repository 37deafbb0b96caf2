"""compute softness against the pipeline's decision_function / |coef|, and bad models."""

import json

import numpy as np
import pytest

from conftest import random_system, run_job, run_lmp, write_data
from test_structure_atom import TRICLINIC, lammps_setup
from test_structure_errors import SETUP, error_line


def test_model_files(trained):
    from pysoft.model import SoftnessModel

    d, path, model = trained
    assert path.exists() and not (d / "model.joblib").exists()
    m2, meta = SoftnessModel.load(str(path))
    assert meta["spec"]["species"] == ["Al", "O"]
    assert len(meta["coef"]) == len(meta["mean"]) == len(meta["scale"]) == 150
    X = np.random.default_rng(0).normal(size=(5, 150))
    np.testing.assert_array_equal(m2.softness(X), model.softness(X))
    # the JSON formula reproduces the pipeline
    S = (((X - np.array(meta["mean"])) / np.array(meta["scale"])) @ np.array(meta["coef"]) + meta["intercept"]) \
        / np.linalg.norm(meta["coef"])
    np.testing.assert_allclose(S, model.softness(X), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_model_files_follow_the_umask(tmp_path, umask):
    # they were written 0600 (mkstemp's mode), unreadable to the group that shares a run folder
    import os

    from pysoft.model import SoftnessModel
    from pysoft.spec import load_spec

    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 150))
    model = SoftnessModel().fit(X, (X[:, 0] > 0).astype(int))
    old = os.umask(umask)
    try:
        model.save(str(tmp_path / "m.json"), spec=load_spec("default"))
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "m.json").st_mode & 0o777 == 0o666 & ~umask
    assert os.umask(old) == old         # the umask was left as it was


def test_scale_floor_keeps_softness_finite_on_a_gaussian_tail():
    """A feature that no training atom reaches (spread 1e-34, like G_Al at 0.6 Å in a glass)
    must not turn one unusual value into an enormous softness: its spread is floored."""
    from pysoft.model import SoftnessModel

    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 4))
    y = (X[:, 0] + 0.3 * rng.normal(size=400) > 0).astype(int)
    X[:, 3] = 1e-34 * rng.random(400)                       # a tail feature
    model = SoftnessModel(C=1.0).fit(X, y)
    assert model.scale_[3] == 1e-3 and np.all(model.scale_[:3] > 0.5)
    probe = X[:5].copy()
    probe[:, 3] = 1e-20                                     # an unusually short pair distance
    assert np.all(np.abs(model.softness(probe) - model.softness(X[:5])) < 1e-12)
    # without the floor the same probe moves the softness by many orders of magnitude
    raw = SoftnessModel(C=1.0, min_scale=0.0).fit(X, y)
    assert np.max(np.abs(raw.softness(probe) - raw.softness(X[:5]))) > 1e6


@pytest.mark.mpi
@pytest.mark.parametrize("nprocs", [1, 2])
def test_cpp_softness_equals_pipeline(tmp_path, trained, nprocs):
    d, path, model = trained
    x, types = random_system(150, TRICLINIC, seed=9)
    write_data(tmp_path / "s.data", x, types, TRICLINIC)
    cmds = lammps_setup(tmp_path / "s.data") + [
        "compute F all structure/atom default Al O", f"compute S all softness {path} Al O", "run 0"]
    res = run_job(tmp_path, cmds, {"c_F": 150, "c_S": 1}, nprocs=nprocs, name="soft")
    want = model.softness(res["c_F"])
    got = res["c_S"][:, 0]
    assert np.all(np.isfinite(got)) and np.std(got) > 0
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


def test_softness_group(tmp_path, trained):
    d, path, model = trained
    x, types = random_system(60, TRICLINIC, seed=10)
    write_data(tmp_path / "g.data", x, types, TRICLINIC)
    cmds = lammps_setup(tmp_path / "g.data") + [
        "group al type 1", "compute F all structure/atom default Al O", f"compute S al softness {path} Al O", "run 0"]
    res = run_job(tmp_path, cmds, {"c_F": 150, "c_S": 1}, name="grp")
    al = res["type"] == 1
    assert np.all(res["c_S"][~al, 0] == 0.0)
    np.testing.assert_allclose(res["c_S"][al, 0], model.softness(res["c_F"][al]), rtol=1e-10, atol=1e-10)


def bad_model(tmp_path, trained, change):
    """The ERROR line of compute softness for the model changed by `change`.  The checksum is
    renewed after the change where the text is still JSON, so that the check of the changed
    field itself is what answers (test_model_file tests the checksum)."""
    from pysoft.model import ModelError, model_checksum

    d, path, model = trained
    m = json.loads(path.read_text())
    change(m)
    try:
        m["checksum"] = model_checksum(json.dumps(m))
    except ModelError:
        pass
    (tmp_path / "bad.json").write_text(json.dumps(m))
    return error_line(run_lmp(tmp_path, SETUP + "compute S all softness bad.json Al O\nrun 0\n"))


@pytest.mark.parametrize("change,expect", [
    (lambda m: m.pop("coef"), "missing the field 'coef'"),
    (lambda m: m.pop("spec"), "missing the field 'spec'"),
    (lambda m: m.__setitem__("mean", m["mean"][:-1]), "field 'mean' has 149 values, but its spec has 150"),
    (lambda m: m["spec"]["radial"].__setitem__("mu", [0.6, 9.8, 0.2]), "field 'mean' has 150 values, but its spec has 148"),
    (lambda m: m["scale"].__setitem__(3, 0.0), "field 'scale' must be positive (column 4)"),
    (lambda m: m.__setitem__("intercept", "x"), "field 'intercept' must be a finite number"),
    (lambda m: m.__setitem__("coef", [0.0] * 150), "'coef' is all zeros"),
    (lambda m: m["spec"].__setitem__("species", ["Si", "O"]), "element Al for atom type 1 is not a species"),
    (lambda m: m["spec"]["radial"].__setitem__("L", -1), "'radial.L' must be positive"),
    # json.dumps writes non-finite floats as bare NaN / Infinity, which are not JSON: named by
    # field like the other bad values, not by the parser's line and column
    (lambda m: m["coef"].__setitem__(5, float("nan")), "model field 'coef' holds a non-finite value 'NaN'"),
    (lambda m: m.__setitem__("intercept", float("-inf")),
     "model field 'intercept' holds a non-finite value '-Infinity'"),
    (lambda m: m["spec"]["radial"].__setitem__("cutoff", float("inf")),
     "model field 'spec.radial.cutoff' holds a non-finite value 'Infinity'"),
])
def test_bad_model(tmp_path, trained, change, expect):
    msg = bad_model(tmp_path, trained, change)
    assert "Compute softness" in msg and expect in msg


def test_missing_model(tmp_path):
    msg = error_line(run_lmp(tmp_path, SETUP + "compute S all softness none.json Al O\nrun 0\n"))
    assert "Compute softness cannot open model file none.json" in msg


def test_model_not_json(tmp_path):
    (tmp_path / "m.json").write_text("coef = 1")
    msg = error_line(run_lmp(tmp_path, SETUP + "compute S all softness m.json Al O\nrun 0\n"))
    assert "model is not valid JSON" in msg


def test_softness_unknown_keyword(tmp_path, trained):
    d, path, model = trained
    msg = error_line(run_lmp(tmp_path, SETUP + f"compute S all softness {path} Al O extra\nrun 0\n"))
    assert "Unknown compute softness keyword: extra" in msg
