"""The model file is data only: JSON, never a pickle, with a checksum of its numbers.

A shared model must never run code (issue 22).  Here: a crafted pickle beside a model (one whose
loading would create a file) is never unpickled by SoftnessModel.load, the pysoft commands or the
tally hook; the model loaded from JSON equals the trained one to the last bit; a model whose
numbers and checksum disagree is refused in one line, in Python and in compute softness on 1
and 2 ranks; the checksum follows the rule written in doc/compute_softness.md, computed here
independently of the plugin.
"""

import ast
import json
import os
import pickle
import shutil
import struct
import subprocess
import sys

import numpy as np
import pytest

from conftest import run_lmp
from test_hooks import glass  # noqa: F401 (the strain loop's glass, a fixture)
from test_structure_errors import SETUP, error_line

HERE = os.path.dirname(os.path.abspath(__file__))
PYSOFT = os.path.join(os.path.dirname(sys.executable), "pysoft")


class _CreatesFile:
    """Unpickling this calls open(marker, "w"): the file appears iff the pickle was loaded."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def plant_pickle(model_json, marker):
    """A crafted model.joblib beside `model_json`."""
    path = os.path.splitext(str(model_json))[0] + ".joblib"
    with open(path, "wb") as fh:
        pickle.dump(_CreatesFile(str(marker)), fh)
    return path


def test_the_crafted_pickle_does_create_its_file(tmp_path):
    """The detector works: loading the planted pickle (as pysoft did before) creates the file."""
    import joblib

    path = plant_pickle(tmp_path / "m.json", tmp_path / "pwned")
    joblib.load(path)
    assert (tmp_path / "pwned").exists()


def copy_model(trained, folder):
    _, path, _ = trained
    os.makedirs(folder, exist_ok=True)
    dest = os.path.join(str(folder), "model.json")
    shutil.copy(path, dest)
    return dest


# ---- loading from JSON alone ------------------------------------------------------------------

def test_json_model_equals_the_trained_one_to_the_last_bit(tmp_path, trained):
    from pysoft.model import SoftnessModel

    d, path, model = trained
    assert not os.path.exists(os.path.splitext(str(path))[0] + ".joblib")    # none written
    marker = tmp_path / "pwned"
    dest = copy_model(trained, tmp_path)
    plant_pickle(dest, marker)
    loaded, meta = SoftnessModel.load(dest)
    assert not marker.exists()
    rng = np.random.default_rng(5)
    X = np.vstack([rng.normal(size=(200, 150)),
                   np.array(meta["mean"]) + np.array(meta["scale"]) * rng.normal(size=(200, 150))])
    np.testing.assert_array_equal(loaded.decision_function(X), model.decision_function(X))
    np.testing.assert_array_equal(loaded.softness(X), model.softness(X))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    for attr in ("mean_", "scale_", "coef_", "classes_"):
        np.testing.assert_array_equal(getattr(loaded, attr), getattr(model, attr))
    assert loaded.intercept_ == model.intercept_ and loaded.get_params() == model.get_params()
    assert meta["feature_labels"] is None or len(meta["feature_labels"]) == 150
    # the scikit-learn pipeline is rebuilt from the JSON, for users who want it
    np.testing.assert_array_equal(loaded.pipeline_.decision_function(X), model.pipeline_.decision_function(X))


# ---- the checksum ---------------------------------------------------------------------------

def reference_checksum(d):
    """The rule of doc/compute_softness.md, written from the page, independently of the plugin."""
    def enc(v):
        if v is None:
            return b"n"
        if isinstance(v, bool):
            return b"t" if v else b"f"
        if isinstance(v, (int, float)):
            return b"d" + struct.pack("<d", float(v))
        if isinstance(v, str):
            b = v.encode("utf-8")
            return b"s" + struct.pack("<Q", len(b)) + b
        if isinstance(v, list):
            return b"a" + struct.pack("<Q", len(v)) + b"".join(enc(x) for x in v)
        assert isinstance(v, dict)
        keys = sorted(v, key=lambda k: k.encode("utf-8"))
        return b"o" + struct.pack("<Q", len(v)) + b"".join(enc(k) + enc(v[k]) for k in keys)

    fields = ("spec", "feature_labels", "mean", "scale", "coef", "intercept")
    h = 0xcbf29ce484222325
    for byte in enc({k: d[k] for k in fields if k in d}):
        h = ((h ^ byte) * 0x100000001b3) % (1 << 64)
    return f"fnv1a64:{h:016x}"


def test_checksum_follows_the_documented_rule_whatever_the_layout(trained):
    from pysoft.model import model_checksum

    _, path, _ = trained
    text = path.read_text()
    d = json.loads(text)
    assert d["checksum"] == reference_checksum(d) == model_checksum(text)
    # the numbers' values count, not their spelling or the file's layout: 1.5 = 1.50 = 15e-1,
    # keys in any order, any indent
    respelled = json.dumps(dict(reversed(list(d.items()))), separators=(",", ":"))
    respelled = respelled.replace(f'"intercept":{d["intercept"]!r}', f'"intercept":{d["intercept"]!r}0')
    assert respelled != text and model_checksum(respelled) == d["checksum"]
    # what the model was made with may be edited; a number of the model may not, not by one ulp
    assert model_checksum(json.dumps({**d, "metrics": {}, "provenance": {"note": "x"}})) == d["checksum"]
    for change in ({"coef": [np.nextafter(d["coef"][0], 1.0)] + d["coef"][1:]},
                   {"intercept": d["intercept"] + 1e-12},
                   {"spec": {**d["spec"], "species": ["Al", "O2"]}},
                   {"feature_labels": ["x"] * 150}):
        e = {**d, **change}
        assert model_checksum(json.dumps(e)) == reference_checksum(e) != d["checksum"]


def tampered(trained, folder, change):
    _, path, _ = trained
    d = json.loads(path.read_text())
    change(d)
    out = os.path.join(str(folder), "bad.json")
    with open(out, "w") as fh:
        json.dump(d, fh, indent=1)
    return out


def nudge_mean(d):
    d["mean"][7] = float(np.nextafter(d["mean"][7], np.inf))


STALE = "model checksum fnv1a64:"
TAMPERED = [
    (nudge_mean, STALE),                                                   # one ulp of one number
    (lambda d: d["scale"].__setitem__(0, d["scale"][0] * 2), STALE),
    (lambda d: d.__setitem__("intercept", -d["intercept"]), STALE),
    (lambda d: d["spec"]["radial"].__setitem__("L", 0.3), STALE),
    (lambda d: d.__setitem__("checksum", "fnv1a64:0123456789abcdef"), STALE),
    (lambda d: d.__setitem__("checksum", "sha256:abc"), "field 'checksum' must be a string fnv1a64:<16 hex"),
    (lambda d: d.pop("checksum"), "model has no 'checksum' of its numbers (written before model version 2)"),
]


@pytest.mark.parametrize("change,message", TAMPERED, ids=[f"t{k}" for k in range(len(TAMPERED))])
def test_tampered_model_is_refused_in_one_line_in_python(tmp_path, trained, change, message):
    from pysoft.model import ModelError, SoftnessModel

    bad = tampered(trained, tmp_path, change)
    with pytest.raises(ModelError) as e:
        SoftnessModel.load(bad)
    msg = str(e.value)
    assert "\n" not in msg and message in msg and bad in msg, msg
    if message == STALE:
        assert "does not match its numbers" in msg
    proc = subprocess.run([PYSOFT, "model", bad], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr


@pytest.mark.mpi
@pytest.mark.parametrize("nprocs", [1, 2])
@pytest.mark.parametrize("case", [0, 4, 6])
def test_tampered_model_is_refused_in_one_line_by_compute_softness(tmp_path, trained, nprocs, case):
    change, message = TAMPERED[case]
    tampered(trained, tmp_path, change)
    msg = error_line(run_lmp(tmp_path, SETUP + "compute S all softness bad.json Al O\nrun 0\n", nprocs=nprocs))
    assert msg.startswith("ERROR: Compute softness bad.json: ") and message in msg, msg


def test_old_model_gets_its_checksum_from_pysoft_model(tmp_path, trained):
    from pysoft.model import SoftnessModel

    _, path, model = trained
    d = json.loads(path.read_text())
    del d["checksum"]
    d["version"] = 1
    old = tmp_path / "old.json"
    old.write_text(json.dumps(d))
    msg = error_line(run_lmp(tmp_path, SETUP + "compute S all softness old.json Al O\nrun 0\n"))
    assert "pysoft model --add-checksum" in msg
    proc = subprocess.run([PYSOFT, "model", "--add-checksum", str(old)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "checksum fnv1a64:" in proc.stdout and "matches its numbers" in proc.stdout
    again, meta = SoftnessModel.load(str(old))
    assert meta["version"] == 2 and meta["checksum"] == json.loads(path.read_text())["checksum"]
    X = np.random.default_rng(2).normal(size=(20, 150))
    np.testing.assert_array_equal(again.softness(X), model.softness(X))
    proc = subprocess.run([PYSOFT, "model", "--add-checksum", str(old)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "already has a checksum" in proc.stderr and proc.stderr.count("\n") == 1


# ---- no pysoft command or hook unpickles a file ----------------------------------------------

def test_pysoft_model_and_run_check_read_json_only(tmp_path, trained, capsys):
    from test_pipeline import TINY, write_config

    from pysoft.cli import main

    marker = tmp_path / "pwned"
    dest = copy_model(trained, tmp_path / "shared")
    plant_pickle(dest, marker)
    assert main(["model", dest]) == 0
    assert "150 structure functions of species Al O" in capsys.readouterr().out
    cfg = write_config(tmp_path / "c.yaml", TINY, stages=["quench", "nvt", "planestrain"], model=dest,
                       planestrain__analysis=True)
    assert main(["run", cfg, "--out", str(tmp_path / "run"), "--plan"]) == 0
    capsys.readouterr()
    bad = tampered(trained, tmp_path / "shared", nudge_mean)
    cfg = write_config(tmp_path / "b.yaml", TINY, stages=["quench", "nvt", "planestrain"], model=bad,
                       planestrain__analysis=True)
    assert main(["run", cfg, "--out", str(tmp_path / "run"), "--plan"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "model: model file" in err and "does not match its numbers" in err
    assert not marker.exists()


def test_report_reads_no_pickle(tmp_path, capsys):
    from test_report import write_run

    from pysoft.cli import main

    run = write_run(str(tmp_path / "run"))
    shutil.rmtree(os.path.join(run, "planestrain"))       # quick to draw
    marker = tmp_path / "pwned"
    plant_pickle(os.path.join(run, "train", "model.json"), marker)
    assert main(["report", run]) == 0
    capsys.readouterr()
    assert not marker.exists()


def test_no_pysoft_module_loads_a_pickle_but_the_trusted_option():
    """Every place in the package that could unpickle: joblib.load, pickle.load(s), numpy's
    allow_pickle.  The only one is the hook's trusted_pickle, named by the user."""
    import pysoft

    root = os.path.dirname(pysoft.__file__)
    found = []
    for name in sorted(os.listdir(root)):
        if not name.endswith(".py"):
            continue
        tree = ast.parse(open(os.path.join(root, name)).read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                f = node.func
                call = f"{getattr(f.value, 'id', '?')}.{f.attr}" if isinstance(f, ast.Attribute) else getattr(f, "id", "")
                if call in ("joblib.load", "pickle.load", "pickle.loads", "cPickle.load", "dill.load"):
                    found.append((name, call, ast.unparse(node.args[0]) if node.args else ""))
                if any(k.arg == "allow_pickle" for k in node.keywords):
                    found.append((name, "allow_pickle", ""))
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                if any(n in ("pickle", "cPickle", "dill", "cloudpickle", "shelve") for n in names):
                    found.append((name, "import", ",".join(n for n in names if n)))
    assert found == [("hooks.py", "joblib.load", "trusted_pickle")]


# ---- the tally hook ---------------------------------------------------------------------------

def hook_loop(glass, model, series, extra):
    """test_hooks' strain loop, the hook given `extra` args and the features its model reads."""
    from test_hooks import loop_commands

    cmds = []
    for c in loop_commands(glass, model, series, 2):
        if c.startswith("fix pysoft_tally"):
            cmds.append("compute pysoft_F al structure/atom default Al O")
            c += f" {extra}"
        cmds.append(c)
    return cmds


@pytest.mark.mpi
def test_hook_takes_the_json_model_and_never_unpickles(tmp_path, glass, trained):
    """arg model FILE: the JSON that compute softness takes, read as data on 2 ranks; its series
    equals the one from compute softness.  arg trusted_pickle, the one explicit way to load a
    pickle, gives the same series from a joblib of the same model."""
    import joblib
    from conftest import run_job
    from test_hooks import assert_series_equal, read_series

    _, path, model = trained
    marker = tmp_path / "pwned"
    shared = copy_model(trained, tmp_path / "shared")
    plant_pickle(shared, marker)
    run_job(tmp_path, hook_loop(glass, path, tmp_path / "c.jsonl", ""), nprocs=1, name="c")
    run_job(tmp_path, hook_loop(glass, path, tmp_path / "j.jsonl", f"arg model {shared}"), nprocs=2, name="j")
    assert not marker.exists()
    joblib.dump(model, tmp_path / "mine.joblib")
    run_job(tmp_path, hook_loop(glass, path, tmp_path / "p.jsonl", f"arg trusted_pickle {tmp_path / 'mine.joblib'}"),
            nprocs=1, name="p")
    head, rows = read_series(tmp_path / "c.jsonl")
    assert len(rows) == 3 and "softness" in json.dumps(rows[0])
    for other in ("j", "p"):
        assert_series_equal(rows, read_series(tmp_path / f"{other}.jsonl")[1])


@pytest.mark.mpi
def test_hook_refuses_a_tampered_model_in_one_line(tmp_path, glass, trained):
    _, path, _ = trained
    bad = tampered(trained, tmp_path, nudge_mean)
    marker = tmp_path / "pwned"
    plant_pickle(bad, marker)
    script = "\n".join(hook_loop(glass, path, tmp_path / "s.jsonl", f"arg model {bad}")) + "\n"
    msg = error_line(run_lmp(tmp_path, script, nprocs=2))
    assert "model file" in msg and "does not match its numbers" in msg, msg
    assert not marker.exists() and not (tmp_path / "s.jsonl").exists()
