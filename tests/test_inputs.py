"""The LAMMPS inputs in inputs/: the Matsui potential's unit conversion, the paper's defaults, and
tiny end-to-end runs of every protocol (serial, and the plane-strain loop also on 2 ranks).

The smoke runs shrink the system to 30 Al2O3 units (150 atoms), every duration to a few fs and
the PPPM accuracy to 1e-3, so that each finishes in seconds; they check that the scripts parse,
run, and write finite numbers where they say they do.  The physics of the protocols is checked
by the measurements reported with them, not here.
"""

import gzip
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
INPUTS = os.path.normpath(os.path.join(HERE, "..", "inputs"))
POT = os.path.join(INPUTS, "matsui.mod")
BIN = os.path.dirname(sys.executable)
LMP = os.path.join(BIN, "lmp")
MPIRUN = os.path.join(BIN, "mpirun")
TIMEOUT = 120

# Matsui (1994) parameters as given by Du et al., ACS Nano 2021 (doc/method.md section 1):
# q in e; A, B in Å; C in Å^3 (kJ/mol)^1/2.
MATSUI = {
    "Al": {"q": 1.4175, "A": 0.7852, "B": 0.034, "C": 36.82},
    "O": {"q": -0.945, "A": 1.8215, "B": 0.138, "C": 90.61},
}
MATSUI_F = 4.184                                        # kJ/mol/Å
EV_PER_KJMOL = 1.0e3 / (6.02214076e23 * 1.602176634e-19)  # exact in the 2019 SI
TYPE = {"Al": 1, "O": 2}
MASS = {"Al": 26.9815, "O": 15.999}

# Tiny protocol for the smoke runs (durations in ps)
TINY_FF = {"kacc": "1.0e-3"}
TINY_QUENCH = {"units": 30, "t_melt": 0.005, "t_cool": 0.005, "t_liq": 0.005, "t_dens": 0.005,
               "t_quench": 0.01, "t_rnvt": 0.005, "t_rnpt": 0.005}
# two strain steps of the plane-strain loop (also used by test_lammps_versions and test_cluster)
TINY_PLANESTRAIN = {"t_eq": 0.005, "nsteps": 2, "t_nvt": 0.004, "t_avg": 0.002, "miniter": 20}

FLOAT = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?nan|[-+]?inf"


def matsui_short_range(si, sj, r):
    """The paper's f (Bi+Bj) exp((Ai+Aj-r)/(Bi+Bj)) - Ci Cj / r^6, converted to eV."""
    a, b = MATSUI[si], MATSUI[sj]
    kjmol = (MATSUI_F * (a["B"] + b["B"]) * math.exp((a["A"] + b["A"] - r) / (a["B"] + b["B"]))
             - a["C"] * b["C"] / r**6)
    return kjmol * EV_PER_KJMOL


def run_lmp(workdir, script, variables, nprocs=1):
    """Run inputs/`script` in `workdir` with -var overrides; return stdout (fail on error)."""
    cmd = [] if nprocs == 1 else [MPIRUN, "-np", str(nprocs)]
    cmd += [LMP, "-in", os.path.join(INPUTS, script), "-log", "log.lammps", "-nocite",
            "-var", "pot", POT]
    for name, value in {**TINY_FF, **variables}.items():
        cmd += ["-var", name, str(value)]
    proc = subprocess.run(cmd, cwd=str(workdir), capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0 and "ERROR" not in proc.stdout, (
        f"{script} failed ({nprocs} ranks):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout


def read_table(path):
    """Numeric rows of a text table, comment lines skipped."""
    rows = [line.split() for line in open(path) if line.strip() and not line.startswith("#")]
    return np.array(rows, dtype=float)


def index_defaults(script):
    """The `variable NAME index VALUE` defaults of an input script."""
    pattern = re.compile(r"^variable\s+(\S+)\s+index\s+(\S+)", re.M)
    return dict(pattern.findall(open(os.path.join(INPUTS, script)).read()))


# ---- the potential ------------------------------------------------------------------------------

def pair_lammps(si, sj):
    """Two atoms, species si and sj, 2 Å apart in a 40 Å box (images beyond the 10 Å cutoff),
    with matsui.mod included."""
    import pysoft.plugin

    lmp = pysoft.plugin.lammps()
    lmp.commands_string(f"""
        units metal
        atom_style charge
        boundary p p p
        region box block 0 40 0 40 0 40 units box
        create_box 2 box
        mass 1 {MASS['Al']}
        mass 2 {MASS['O']}
        create_atoms {TYPE[si]} single 10 20 20 units box
        create_atoms {TYPE[sj]} single 12 20 20 units box
        include {POT}
        thermo_style custom step pe evdwl ecoul elong
    """)
    return lmp


@pytest.mark.parametrize("si,sj", [("Al", "O"), ("O", "O"), ("Al", "Al")])
def test_matsui_short_range_matches_paper(si, sj):
    # evdwl of born/coul/long is the Born part alone (the real-space Coulomb goes to ecoul),
    # so the energy of the pair tests the coefficients matsui.mod computes, as LAMMPS uses them
    lmp = pair_lammps(si, sj)
    try:
        for r in (1.2, 1.6, 1.9, 2.5, 3.2, 4.5, 6.0, 8.5):
            lmp.command(f"set atom 2 x {10.0 + r!r}")
            lmp.command("run 0")
            ref = matsui_short_range(si, sj, r)
            assert lmp.get_thermo("evdwl") == pytest.approx(ref, rel=1e-10, abs=0), (si, sj, r)
    finally:
        lmp.close()


def test_matsui_charges():
    lmp = pair_lammps("Al", "O")
    try:
        q = lmp.numpy.extract_atom("q")[:2].copy()
        types = lmp.numpy.extract_atom("type")[:2].copy()
    finally:
        lmp.close()
    assert [qi for _, qi in sorted(zip(types, q))] == [MATSUI["Al"]["q"], MATSUI["O"]["q"]]
    # Al2O3 is neutral with these charges, so PPPM needs no background correction
    assert 2 * MATSUI["Al"]["q"] + 3 * MATSUI["O"]["q"] == pytest.approx(0.0, abs=1e-12)


def test_matsui_kspace_defaults():
    defaults = index_defaults("matsui.mod")
    assert float(defaults["kacc"]) == 1.0e-5          # paper: PPPM accuracy 1e-5
    assert float(defaults["rc"]) == 10.0


# ---- defaults are the paper's -------------------------------------------------------------------

def test_quench_defaults_are_paper_values():
    d = index_defaults("in.quench")
    paper = {"units": 1620, "rho0": 2.75, "rho1": 3.175, "Tmelt": 5000, "Tliq": 3000, "T": 300,
             "P": 0, "t_melt": 45, "t_cool": 10, "t_liq": 45, "t_dens": 45, "t_quench": 650}
    for name, value in paper.items():
        assert float(d[name]) == value, name
    assert float(d["t_rnvt"]) + float(d["t_rnpt"]) == 35    # "another 35 ps" of NVT + NPT


def test_tension_and_training_defaults_are_paper_values():
    ps = index_defaults("in.tension.planestress")
    assert (float(ps["nx"]), float(ps["T"]), float(ps["t_eq"])) == (2, 300, 100)
    assert (float(ps["rate"]), float(ps["strain"])) == (5.0e10, 0.5)
    pe = index_defaults("in.tension.planestrain")
    assert (float(pe["nx"]), float(pe["T"]), float(pe["t_eq"])) == (2, 300, 100)
    assert (float(pe["de"]), float(pe["t_nvt"])) == (0.01, 10)
    nvt = index_defaults("in.nvt300")
    assert (float(nvt["T"]), float(nvt["time"])) == (300, 200)


# ---- smoke runs ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def glass(tmp_path_factory):
    """A tiny quenched 'glass' (150 atoms) and the stdout of in.quench."""
    d = tmp_path_factory.mktemp("quench")
    out = run_lmp(d, "in.quench", {**TINY_QUENCH, "P": 4, "seed": 7, "out": "glass.data"})
    return d / "glass.data", out


def test_quench_writes_data_and_result(glass):
    data, out = glass
    text = data.read_text()
    assert "150 atoms" in text and "Atoms # charge" in text and "Velocities" in text
    assert "PairIJ Coeffs" not in text and "Pair Coeffs" not in text
    m = re.search(rf"quench result: P 4 GPa\s+density ({FLOAT}) g/cm3\s+Al4 ({FLOAT})\s+"
                  rf"Al5 ({FLOAT})\s+Al6 ({FLOAT})\s+other ({FLOAT})", out)
    assert m, out[-2000:]
    density, *fractions = (float(v) for v in m.groups())
    assert math.isfinite(density) and 1.0 < density < 6.0
    assert all(math.isfinite(f) and -1e-9 <= f <= 1 + 1e-9 for f in fractions)
    assert sum(fractions) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.mpi
def test_quench_under_mpi(tmp_path):
    out = run_lmp(tmp_path, "in.quench", {**TINY_QUENCH, "seed": 3, "out": "g.data"}, nprocs=2)
    assert (tmp_path / "g.data").exists()
    m = re.search(rf"density ({FLOAT}) g/cm3", out)
    assert m and math.isfinite(float(m.group(1)))


def test_nvt300_trajectory(tmp_path, glass):
    data, _ = glass
    run_lmp(tmp_path, "in.nvt300", {"data": data, "time": 0.01, "dump_every": 0.002,
                                    "dump": "traj.lammpstrj.gz", "seed": 11})
    with gzip.open(tmp_path / "traj.lammpstrj.gz", "rt") as fh:
        lines = fh.read().splitlines()
    starts = [i for i, line in enumerate(lines) if line == "ITEM: TIMESTEP"]
    assert [int(lines[i + 1]) for i in starts] == [0, 2, 4, 6, 8, 10]
    header = lines[starts[-1] + 8]
    assert header.split()[2:] == ["id", "type", "x", "y", "z", "ix", "iy", "iz"]
    frame = np.array([line.split() for line in lines[starts[-1] + 9:]], dtype=float)
    assert frame.shape == (150, 8)
    assert np.all(np.isfinite(frame))
    np.testing.assert_array_equal(frame[:, 0], np.arange(1, 151))


def test_planestress(tmp_path, glass):
    data, _ = glass
    run_lmp(tmp_path, "in.tension.planestress",
            {"data": data, "t_eq": 0.005, "strain": 0.0005, "every": 0.002, "ss": "ss.txt"})
    table = read_table(tmp_path / "ss.txt")
    # 0.0005 strain at 5e10 /s = 10 steps: five 2-step averages
    assert table.shape == (5, 6)
    assert np.all(np.isfinite(table))
    assert np.all(np.diff(table[:, 1]) > 0)
    assert table[-1, 1] == pytest.approx(0.0005 - 0.5 * 5e10 * 1e-15, rel=1e-6)


@pytest.mark.parametrize("nprocs", [1, pytest.param(2, marks=pytest.mark.mpi)])
def test_planestrain(tmp_path, glass, nprocs):
    data, _ = glass
    run_lmp(tmp_path, "in.tension.planestrain",
            {"data": data, **TINY_PLANESTRAIN, "ss": "ss.txt"}, nprocs=nprocs)
    table = read_table(tmp_path / "ss.txt")
    assert table.shape == (3, 7)
    assert np.all(np.isfinite(table))
    np.testing.assert_array_equal(table[:, 0], [0, 1, 2])
    np.testing.assert_allclose(table[:, 1], [0.0, 0.01, 0.02])


def planestrain_result(path):
    """{"fractured", "failure_step", "failure_strain", "peak"} from the stress-strain file's last line."""
    last = [line for line in open(path) if line.startswith("# planestrain result:")]
    assert len(last) == 1, open(path).read()
    m = re.search(rf"fractured ([01]) failure_step (-?\d+) failure_strain (none|{FLOAT}) peak_sxx_GPa ({FLOAT})", last[0])
    assert m, last[0]
    return {"fractured": int(m.group(1)), "failure_step": int(m.group(2)),
            "failure_strain": None if m.group(3) == "none" else float(m.group(3)), "peak": float(m.group(4))}


def expected_stop(sxx, frac, steps):
    """Brute-force fracture criterion: the first step k after which sxx has been below frac x
    (running peak, when positive) for `steps` steps in a row; None if it never happens."""
    run = 0
    for k in range(len(sxx)):
        peak = max(sxx[: k + 1])
        run = run + 1 if (peak > 0 and sxx[k] < frac * peak) else 0
        if steps > 0 and run >= steps:
            return k
    return None


@pytest.mark.parametrize("frac,steps,nsteps", [(1.0, 2, 6), (0.1, 3, 2), (1.0, 0, 3)])
def test_planestrain_stops_when_fractured(tmp_path, glass, frac, steps, nsteps):
    """The loop ends once sxx < stop_frac x peak for stop_steps steps in a row, else at the cap.

    stop_frac 1 makes every step below the peak count as "low": the tiny glass peaks within a few
    10 % steps, so the stop comes (stop_frac above 1, which would stop a rising curve, is refused);
    stop_frac 0.1 over 2 steps never triggers; stop_steps 0 switches the criterion off.
    """
    data, _ = glass
    out = run_lmp(tmp_path, "in.tension.planestrain",
                  {"data": data, "t_eq": 0.005, "nsteps": nsteps, "t_nvt": 0.004, "t_avg": 0.002, "de": 0.1,
                   "miniter": 20, "ss": "ss.txt", "stop_frac": frac, "stop_steps": steps})
    table = read_table(tmp_path / "ss.txt")
    res = planestrain_result(tmp_path / "ss.txt")
    stop = expected_stop(list(table[:, 2]), frac, steps)
    assert "planestrain result: fractured" in out
    if stop is None:
        assert len(table) == nsteps + 1
        assert res["fractured"] == 0 and res["failure_step"] == -1 and res["failure_strain"] is None
    else:
        assert len(table) == stop + 1 < nsteps + 1
        assert res["fractured"] == 1 and res["failure_step"] == stop - steps + 1
        assert res["failure_strain"] == pytest.approx(0.1 * res["failure_step"])
    assert res["peak"] == pytest.approx(table[:, 2].max(), abs=2e-6)
    if frac == 1.0 and steps == 2:
        assert stop is not None, table          # the tiny glass peaks within a few 10 % steps


def with_pair_coeffs(data, path):
    """`data` with a Pair Coeffs section of made-up born coefficients, as write_data writes one."""
    text = data.read_text()
    coeffs = "Pair Coeffs # born/coul/long\n\n1 1.0 0.3 0.0 1.0 0.0\n2 2.0 0.3 0.0 1.0 0.0\n\n"
    i = text.index("Atoms # charge")
    path.write_text(text[:i] + coeffs + text[i:])
    return path


def test_data_file_with_pair_coeffs_is_read_and_matsui_wins(tmp_path, glass):
    # users bring data files that carry Pair Coeffs; read_data came before the potential and
    # stopped with "Must define pair_style before Pair Coeffs". The file's coefficients must
    # then be ignored: the trajectory is the one of the same glass without them.
    data, _ = glass
    coeff_data = with_pair_coeffs(data, tmp_path / "coeffs.data")
    settings = {"time": 0.004, "dump_every": 0.002, "dump": "traj.lammpstrj", "seed": 11}
    for name, d in (("plain", data), ("coeffs", coeff_data)):
        (tmp_path / name).mkdir()
        run_lmp(tmp_path / name, "in.nvt300", {**settings, "data": d})
    traj = [(tmp_path / name / "traj.lammpstrj").read_text() for name in ("plain", "coeffs")]
    assert traj[0].count("ITEM: TIMESTEP") == 3 and traj[0] == traj[1]


@pytest.mark.parametrize("script,variables", [
    ("in.tension.planestress", {"t_eq": 0.002, "strain": 0.0002, "every": 0.002, "ss": "ss.txt"}),
    ("in.tension.planestrain", {"t_eq": 0.002, "nsteps": 1, "t_nvt": 0.002, "t_avg": 0.002, "miniter": 5,
                                "ss": "ss.txt"}),
])
def test_tension_reads_a_data_file_with_pair_coeffs(tmp_path, glass, script, variables):
    data, _ = glass
    run_lmp(tmp_path, script, {**variables, "data": with_pair_coeffs(data, tmp_path / "coeffs.data")})
    assert np.all(np.isfinite(read_table(tmp_path / "ss.txt")))


@pytest.mark.parametrize("nprocs", [1, pytest.param(2, marks=pytest.mark.mpi)])
def test_planestrain_restart_continues_the_loop(tmp_path, glass, nprocs):
    """Stopped after step 2 and continued from its restart pair, the loop gives the rows of an
    uninterrupted run: no step repeated or missing, the same strains, the same stresses (the MD
    after read_restart differs from the uninterrupted one in the last bits, so to 1e-4 GPa)."""
    data, _ = glass
    common = {"data": data, "t_eq": 0.005, "t_nvt": 0.004, "t_avg": 0.002, "de": 0.02, "miniter": 20,
              "stop_steps": 0}
    whole = tmp_path / "whole"
    whole.mkdir()
    run_lmp(whole, "in.tension.planestrain", {**common, "nsteps": 4, "ss": "ss.txt"}, nprocs=nprocs)
    part = tmp_path / "part"
    part.mkdir()
    run_lmp(part, "in.tension.planestrain", {**common, "nsteps": 2, "ss": "ss.txt"}, nprocs=nprocs)
    assert (part / "planestrain.restart").exists() and (part / "planestrain.restart.vars").exists()
    assert not (part / "planestrain.restart.tmp").exists()
    # the first part ended with its outcome line; the continuation appends after it
    out = run_lmp(part, "in.tension.planestrain",
                  {**common, "nsteps": 4, "ss": "ss.txt", "restart": "planestrain.restart"}, nprocs=nprocs)
    assert "continuing from planestrain.restart at strain step 3" in out
    a, b = read_table(whole / "ss.txt"), read_table(part / "ss.txt")
    np.testing.assert_array_equal(b[:, 0], [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(b[:, :2], a[:, :2])
    np.testing.assert_allclose(b[:, 2:5], a[:, 2:5], atol=1e-4)
    assert "in.tension.planestrain: run " in open(part / "ss.txt").read()
    assert open(part / "ss.txt").read().count("# in.tension.planestrain: run ") == 1
    from pysoft.results import planestrain_outcome

    assert planestrain_outcome(str(part / "ss.txt")) == {"fractured": False, "failure_step": None,
                                                          "failure_strain": None}


def test_planestrain_restart_refuses_a_mismatched_pair(tmp_path, glass):
    data, _ = glass
    common = {"data": data, "t_eq": 0.005, "t_nvt": 0.004, "t_avg": 0.002, "de": 0.02, "miniter": 20,
              "stop_steps": 0, "ss": "ss.txt"}
    run_lmp(tmp_path, "in.tension.planestrain", {**common, "nsteps": 1})
    # the .vars names the hash of its restart file (pysoft.runid): another hash, another file
    vars_ = tmp_path / "planestrain.restart.vars"
    vars_.write_text(re.sub(r'"restart_sha256": "[0-9a-f]+"', '"restart_sha256": "0123"', vars_.read_text()))
    cmd = [LMP, "-in", os.path.join(INPUTS, "in.tension.planestrain"), "-log", "none", "-nocite", "-var", "pot", POT]
    for k, v in {**TINY_FF, **common, "nsteps": 3, "restart": "planestrain.restart"}.items():
        cmd += ["-var", k, str(v)]
    proc = subprocess.run(cmd, cwd=str(tmp_path), capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode != 0
    errors = [line for line in proc.stdout.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and "are not a pair" in errors[0], proc.stdout[-2000:]


@pytest.mark.mpi
def test_planestrain_restart_continues_the_series(tmp_path, glass, trained):
    """With the on-the-fly analysis: the continued run's series has every step once, and the same
    rows as an uninterrupted run (to the MD's last-bit differences after read_restart)."""
    import json

    data, _ = glass
    _, model, _ = trained
    common = {"data": data, "t_eq": 0.005, "t_nvt": 0.004, "t_avg": 0.002, "de": 0.02, "miniter": 20,
              "stop_steps": 0, "ss": "ss.txt", "model": model, "series": "series.jsonl",
              "analysis": os.path.join(INPUTS, "pysoft_analysis.mod")}
    whole, part = tmp_path / "whole", tmp_path / "part"
    whole.mkdir()
    part.mkdir()
    run_lmp(whole, "in.tension.planestrain", {**common, "nsteps": 3}, nprocs=2)
    run_lmp(part, "in.tension.planestrain", {**common, "nsteps": 1}, nprocs=2)
    run_lmp(part, "in.tension.planestrain", {**common, "nsteps": 3, "restart": "planestrain.restart"}, nprocs=2)

    def rows(d):
        lines = [json.loads(x) for x in open(d / "series.jsonl")]
        assert lines[0]["format"] == "pysoft-series"
        return lines[0], lines[1:]

    (ha, a), (hb, b) = rows(whole), rows(part)
    assert ha.pop("run_id") != hb.pop("run_id")         # two runs, each its own identity
    assert ha == hb
    assert [r["step"] for r in b] == [0, 1, 2, 3]
    for ra, rb in zip(a, b):
        assert rb["strain"] == pytest.approx(ra["strain"], abs=1e-12)
        assert rb["softness"]["mean"] == pytest.approx(ra["softness"]["mean"], abs=1e-4)
        assert rb["D_A"]["mean"] == pytest.approx(ra["D_A"]["mean"], abs=1e-4)
        assert rb["bond_fraction"] == pytest.approx(ra["bond_fraction"], abs=0.02)
        assert rb["stress_GPa"]["xx"] == pytest.approx(ra["stress_GPa"]["xx"], abs=1e-3)
