"""User mistakes and hostile environments that must end in one clean line, never a crash,
a traceback or lost data (issue 9): a read-only install, and corrupted input files of every
kind fed to their readers."""

import os
import shutil
import subprocess
import sys

import pytest

def _without_root_file_powers():
    """In the child, before exec: drop the capabilities that let root write through file modes
    (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER) from the bounding set, so the program
    it runs meets read-only folders as any other user would."""
    import ctypes

    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    for cap in (1, 2, 3):
        if libc.prctl(24, cap, 0, 0, 0) != 0:        # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def test_numba_modules_import_with_a_read_only_install_and_home(tmp_path):
    # numba's cache=True raises at decoration time when neither the package's __pycache__ nor
    # the user-wide cache (under HOME) can be written. Root writes through any chmod, so when
    # the tests run as root the import runs without root's power over file modes.
    import pysoft

    root = tmp_path / "ro"
    shutil.copytree(os.path.dirname(pysoft.__file__), root / "pkgs" / "pysoft",
                    ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
    (root / "home").mkdir()
    for d, dirs, files in os.walk(root):
        for name in files:
            os.chmod(os.path.join(d, name), 0o444 | (0o111 if name.endswith(".so") else 0))
        os.chmod(d, 0o555)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_", "XDG_", "PYTHON"))}
    env.update(HOME=str(root / "home"), PYTHONPATH=str(root / "pkgs"), PYTHONDONTWRITEBYTECODE="1")
    code = ("import pysoft, pysoft.dump, pysoft.phop, pysoft.hooks, numpy as np; "
            "assert pysoft.__file__.startswith(%r), pysoft.__file__; "
            "print(pysoft.tally.cluster_sizes(np.zeros((2, 3)), np.eye(3) * 10, 1.0).tolist())"
            % str(root / "pkgs"))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300,
                          cwd=str(root), preexec_fn=_without_root_file_powers if os.geteuid() == 0 else None)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "[2]"
    assert not os.listdir(root / "home")
    assert not os.path.exists(root / "pkgs" / "pysoft" / "__pycache__")


# ---- fuzz: randomly damaged inputs to every reader -----------------------------------------

FUZZ_SEED = 9
FUZZ_PER_KIND = 100         # damaged files of each kind: dumps, specs, models, configs
NUMBERISH = ["NaN", "-Infinity", "Infinity", "1e999", "-1e-400", "", "-", "0", "-1", "abc", "1e", ".",
             "99999999999999999999999", "0x10", "nan", "inf", "true", "null", "[]", "{}"]
STRUCTURAL = list("{}[]:,\"'\n \t#-.") + ["\x00", "\xff", "ITEM: ", "\u00e9"]

FUZZ_CHILD = r'''
import gzip, json, os, random, signal, sys, ctypes
import numpy as np

out_dir, seed, per_kind = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
numberish, structural = json.loads(sys.argv[4]), json.loads(sys.argv[5])
rng = random.Random(seed)

from pysoft.config import ConfigError, load_config
from pysoft.dump import DumpError, read_dump, read_timesteps
from pysoft.model import ModelError as PythonModelError, SoftnessModel
from pysoft.plugin import PLUGIN_DIR
from pysoft.spec import SpecError, load_spec, ncols, spec_path

lib = ctypes.CDLL(os.path.join(PLUGIN_DIR, "libpysoft_math.so"))
lib.pysoft_model_ncols.restype = ctypes.c_int
lib.pysoft_model_ncols.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int]


class Hang(Exception):
    pass


def alarm(signum, frame):
    raise Hang()


signal.signal(signal.SIGALRM, alarm)


def damage(data):
    """1 to 3 random edits of the bytes: cut, delete, insert, replace a token, repeat a span."""
    data = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        op = rng.choice(["cut", "delete", "insert", "number", "byte", "repeat", "swap"])
        i = rng.randrange(max(len(data), 1))
        j = min(len(data), i + rng.randint(1, 40))
        if op == "cut":
            data = data[:i]
        elif op == "delete":
            del data[i:j]
        elif op == "insert":
            data[i:i] = rng.choice(structural).encode("utf-8", "surrogatepass") if rng.random() < 0.7 \
                else bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
        elif op == "number":
            # a number token replaced by a non-number or an extreme
            k = i
            while k < len(data) and not (48 <= data[k] <= 57):
                k += 1
            e = k
            while e < len(data) and (48 <= data[e] <= 57 or data[e] in b".eE+-"):
                e += 1
            data[k:e] = rng.choice(numberish).encode()
        elif op == "byte" and data:
            data[min(i, len(data) - 1)] = rng.randrange(256)
        elif op == "repeat":
            data[j:j] = data[i:j]
        elif op == "swap":
            lines = bytes(data).split(b"\n")
            if len(lines) > 2:
                a, b = rng.randrange(len(lines)), rng.randrange(len(lines))
                lines[a], lines[b] = lines[b], lines[a]
            data = bytearray(b"\n".join(lines))
    return bytes(data)


def dump_text():
    r = np.random.default_rng(rng.randrange(1 << 30))
    n = 12
    x = r.random((n, 3)) * 9.0
    cols = rng.choice([("id type xu yu zu", False), ("id type x y z ix iy iz", True)])
    out = []
    for k in range(4):
        out += ["ITEM: TIMESTEP", str(100 * k), "ITEM: NUMBER OF ATOMS", str(n),
                "ITEM: BOX BOUNDS xy xz yz pp pp pp", "-0.5 9.8 0.3", "0.0 9.0 0.0", "0.0 9.0 -0.2",
                "ITEM: ATOMS " + cols[0]]
        for i in r.permutation(n):
            extra = " 0 1 -1" if cols[1] else ""
            out.append(f"{i + 1} {1 + i % 2} {x[i, 0]:.6g} {x[i, 1]:.6g} {x[i, 2]:.6g}{extra}")
        x = x + r.normal(0, 0.1, x.shape)
    return ("\n".join(out) + "\n").encode()


spec_texts = [open(spec_path(s), "rb").read() for s in ("default", "radial")]
Xr = np.random.default_rng(0).normal(size=(30, 150))
model = SoftnessModel().fit(Xr, (Xr[:, 0] > 0).astype(int))
model_text = json.dumps(model.to_dict(load_spec("default"))).encode()
config_text = b"""name: fuzz
units: 30
pressures: [0 GPa, 2 GPa]
np: 1
stages: [quench, nvt]
potential:
  kacc: 1.0e-3
quench:
  t_melt: 5 fs
  T: 300 K
nvt:
  time: 0.06
  dump_every: 0.001
  compress: false
planestress:
  rate: 5e10 /s
"""

results = {"clean": 0, "correct": 0, "bad": []}


def one(kind, data, reader, error):
    path = os.path.join(out_dir, f"case.{kind}")
    if kind == "dump.gz":
        data = gzip.compress(data) if rng.random() < 0.5 else damage(gzip.compress(dump_text()))
    with open(path, "wb") as fh:
        fh.write(data)
    signal.alarm(10)
    try:
        reader(path)
        results["correct"] += 1
    except error as e:
        msg = str(e)
        if "\n" in msg or not msg.strip():
            results["bad"].append(f"{kind}: not one line: {msg!r}")
        else:
            results["clean"] += 1
    except Hang:
        results["bad"].append(f"{kind}: no answer in 10 s")
    except BaseException as e:
        import traceback
        results["bad"].append(f"{kind}: {type(e).__name__}: {e} | {traceback.format_exc().splitlines()[-3]}")
        os.replace(path, os.path.join(out_dir, f"bad{len(results['bad'])}.{kind}"))
    finally:
        signal.alarm(0)


def read_frames(path):
    frames = list(read_dump(path))
    for f in frames:
        assert np.all(np.diff(f.ids) > 0) and f.positions.shape == (f.natoms, 3), "ids or shape"
        assert np.isfinite(f.positions).all(), "non-finite position"
        assert np.isfinite(f.cell).all() and np.isfinite(f.origin).all(), f"non-finite cell {f.cell.tolist()}"
    steps = read_timesteps(path)
    assert list(steps) == [f.timestep for f in frames], "timesteps differ"


def read_spec(path):
    spec = load_spec(path)
    assert ncols(spec) > 0 and spec["species"]


class ModelError(Exception):
    pass


def read_model(path):
    """The plugin's reader, and SoftnessModel.load: a model the plugin refuses (damaged field,
    stale checksum) Python refuses too, in one line."""
    with open(path, "rb") as fh:
        text = fh.read()
    err = ctypes.create_string_buffer(512)
    n = lib.pysoft_model_ncols(text, err, len(err))
    try:
        python = SoftnessModel.load(path)[0].n_features_in_
    except PythonModelError as e:
        python = str(e)
        assert "\n" not in python, "Python's refusal is not one line"
    if n < 0:
        assert isinstance(python, str), "Python accepts a model that the plugin refuses"
        raise ModelError(err.value.decode("utf-8", "replace"))
    assert n == 150, n


def read_config(path):
    cfg = load_config(path)
    assert cfg["units"] >= 4 and cfg["pressures"]


for k in range(per_kind):
    one("dump", damage(dump_text()), read_frames, DumpError)
    one("dump.gz", damage(dump_text()), read_frames, DumpError)
    one("json", damage(rng.choice(spec_texts)), read_spec, SpecError)
    one("model", damage(model_text), read_model, ModelError)
    one("yaml", damage(config_text), read_config, ConfigError)
print(json.dumps(results))
'''


def test_fuzz_damaged_inputs_end_in_a_result_or_one_clean_line(tmp_path):
    import json
    import time

    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", FUZZ_CHILD, str(tmp_path), str(FUZZ_SEED), str(FUZZ_PER_KIND),
                           json.dumps(NUMBERISH), json.dumps(STRUCTURAL)],
                          capture_output=True, text=True, timeout=240, cwd=str(tmp_path))
    wall = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    total = results["clean"] + results["correct"] + len(results["bad"])
    print(f"fuzz: {total} damaged inputs, {results['clean']} clean errors, {results['correct']} read, "
          f"{wall:.1f} s")
    assert total == 5 * FUZZ_PER_KIND >= 200
    assert results["bad"] == [], "\n".join(results["bad"])
    assert results["clean"] > total // 2      # the damage is real: most inputs are refused
