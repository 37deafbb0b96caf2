"""compute nonaffine/atom (Falk-Langer D2min, doc/method.md section 4) and the cumulative D recipe.

References: the plugin's D2min math through libpysoft_math.so on hand-made neighbour sets;
hand-computed values on a simple cubic lattice; and tests/reference.py `d2min`, an all-images
NumPy least-squares brute force, for random motion in deforming boxes.  Agreement with the
brute force is required to 1e-10 relative; affine motion must give zero to rounding
(D2min below 1e-20 of the neighbourhood's sum |X|^2, i.e. < 1e-18 Å^2 here).
"""

import ctypes
import os

import numpy as np
import pytest

from conftest import random_system, run_job, run_lmp, write_data
from test_structure_errors import error_line
import reference as ref

RC = 4.0
RTOL = 1e-10
AFFINE_ATOL = 1e-18          # Å^2; sum |X|^2 over the neighbours within 4 Å is ~100-300 Å^2

ORTHO = np.diag([15.0, 16.0, 15.5])
TRICLINIC = np.array([[15.0, 0.0, 0.0], [2.5, 16.0, 0.0], [-1.7, 1.2, 15.5]])

# simple cubic lattice, a = 2.5 Å: within 4 Å of every atom are 6 neighbours at a and 12 at
# a*sqrt(2) (the next shell, a*sqrt(3) = 4.33 Å, is outside)
SC_A = 2.5
SC_N = 6


# ---------------------------------------------------------------------------------------------
# the math, without LAMMPS

@pytest.fixture(scope="module")
def d2min_c():
    from pysoft.plugin import PLUGIN_DIR
    lib = ctypes.CDLL(os.path.join(PLUGIN_DIR, "libpysoft_math.so"))
    f = lib.pysoft_nonaffine_d2min
    f.restype = None
    dbl = np.ctypeslib.ndpointer(np.float64, flags="C")
    f.argtypes = [ctypes.c_int, np.ctypeslib.ndpointer(np.int32, flags="C"), dbl, dbl, dbl, dbl]

    def call(X, d):
        X = np.ascontiguousarray(X, float).reshape(-1, 3)
        d = np.ascontiguousarray(d, float).reshape(-1, 3)
        out, J = np.zeros(1), np.zeros(9)
        f(1, np.array([len(X)], np.int32), X, d, out, J)
        return out[0], J.reshape(3, 3)
    return call


def lstsq_d2min(X, d):
    Jt = np.linalg.lstsq(X, d, rcond=None)[0]
    return np.sum((d - X @ Jt) ** 2)


def test_math_affine_gives_zero_and_recovers_J(d2min_c):
    rng = np.random.default_rng(3)
    X = rng.uniform(-4, 4, (25, 3))
    J0 = np.eye(3) + rng.normal(0, 0.05, (3, 3))
    value, J = d2min_c(X, X @ J0.T)
    assert value < 1e-20 * np.sum(X**2)
    np.testing.assert_allclose(J, J0, rtol=0, atol=1e-13)


def test_math_random_against_lstsq(d2min_c):
    rng = np.random.default_rng(4)
    for n in (4, 7, 25, 60):
        X = rng.uniform(-4, 4, (n, 3))
        d = X @ (np.eye(3) + rng.normal(0, 0.1, (3, 3))).T + rng.normal(0, 0.3, (n, 3))
        assert d2min_c(X, d)[0] == pytest.approx(lstsq_d2min(X, d), rel=1e-12)


def test_math_is_a_sum_not_a_mean(d2min_c):
    # the same neighbourhood listed twice: the best J is the same, every residual counts twice
    rng = np.random.default_rng(5)
    X = rng.uniform(-4, 4, (12, 3))
    d = X + rng.normal(0, 0.2, (12, 3))
    once = d2min_c(X, d)[0]
    assert d2min_c(np.vstack([X, X]), np.vstack([d, d]))[0] == pytest.approx(2 * once, rel=1e-12)


def test_math_hand_value_single_displaced_centre(d2min_c):
    # a centrosymmetric shell (sum X = 0) whose centre moves by delta: J = 1 fits the shell,
    # and every neighbour is off by -delta, so D2min = n |delta|^2 (doc/method.md section 4:
    # sum, not mean)
    X = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], float) * 2.5
    delta = np.array([0.1, -0.04, 0.07])
    assert d2min_c(X, X - delta)[0] == pytest.approx(6 * delta @ delta, rel=1e-13)


@pytest.mark.parametrize("n", [0, 1, 2, 3])
def test_math_few_neighbours_fit_exactly(d2min_c, n):
    # up to three linearly independent neighbours: some J maps each X onto its d exactly
    rng = np.random.default_rng(6)
    X, d = rng.uniform(-4, 4, (n, 3)), rng.uniform(-4, 4, (n, 3))
    value, _ = d2min_c(X, d)
    assert value == 0.0 if n == 0 else value < 1e-24


@pytest.mark.parametrize("shape", ["coplanar", "collinear"])
def test_math_degenerate_neighbourhoods(d2min_c, shape):
    # neighbours on a plane (or a line) leave J free across the missing directions; the minimum
    # over J is still defined, and is what least squares gives
    rng = np.random.default_rng(7)
    if shape == "coplanar":
        X = np.column_stack([rng.uniform(-4, 4, (8, 2)), np.zeros(8)])
    else:
        X = np.outer(rng.uniform(-4, 4, 8), [0.6, 0.8, 0.0])
    d = X + rng.normal(0, 0.3, (8, 3))
    value, _ = d2min_c(X, d)
    assert np.isfinite(value)
    assert value == pytest.approx(lstsq_d2min(X, d), rel=1e-12)


# ---------------------------------------------------------------------------------------------
# inside LAMMPS

def setup_lines(data, extra=()):
    # pair zero 6 Å + skin 2 Å: ghost atoms out to 8 Å, enough for the 4 Å cutoff + skin
    return ["units metal", "atom_modify map yes", "boundary p p p", f"read_data {data}",
            "pair_style zero 6.0", "pair_coeff * *", "compute U all property/atom xu yu zu", *extra]


def cell_of(res):
    return ref.cell_matrix(res["boxlo"], res["boxhi"], *res["tilt"])


def random_data(tmp_path, cell, n=300, seed=1, name="glass"):
    x, types = random_system(n, cell, seed=seed)
    path = tmp_path / f"{name}.data"
    write_data(path, x, types, cell)
    return path


def sc_data(tmp_path):
    g = np.arange(SC_N) * SC_A
    x = np.array([[i, j, k] for i in g for j in g for k in g]) + 0.3
    path = tmp_path / "sc.data"
    write_data(path, x, np.ones(len(x), int), np.eye(3) * SC_N * SC_A)
    return path, x


GATHER = {"c_NA": 1, "c_U": 3}


def run_d2min(tmp_path, data, before, after, nprocs=1, name="na", extra=()):
    """Reference captured after `before`, D2min computed after `after`."""
    cmds = setup_lines(data, extra) + [f"compute NA all nonaffine/atom {RC}", *before,
                                       "compute_modify NA reference current",
                                       f"write_dump all custom {tmp_path}/{name}_np{nprocs}_ref.dump "
                                       "id type xu yu zu modify format float %.17g sort id",
                                       *after, "run 0"]
    res = run_job(tmp_path, cmds, GATHER, nprocs=nprocs, name=name)
    from pysoft.dump import read_dump
    frame = next(read_dump(str(tmp_path / f"{name}_np{nprocs}_ref.dump")))
    np.testing.assert_array_equal(frame.ids, res["id"])
    return res, frame


def reference_d2min(res, frame):
    return ref.d2min(frame.positions, frame.cell, res["c_U"], cell_of(res), RC)


@pytest.mark.parametrize("cell,change", [
    (ORTHO, "x scale 1.01"),
    (TRICLINIC, "x scale 1.01"),
    (TRICLINIC, "xy delta 1.3 yz delta -0.8"),
    (TRICLINIC, "x scale 0.97 y scale 1.02 xz delta 0.9 xy delta -0.6"),
], ids=["ortho-stretch", "tri-stretch", "tri-shear", "tri-mixed"])
@pytest.mark.parametrize("nprocs", [1, 2])
def test_affine_deformation_gives_zero(tmp_path, cell, change, nprocs):
    data = random_data(tmp_path, cell)
    res, _ = run_d2min(tmp_path, data, ["run 0"], [f"change_box all {change} remap"], nprocs=nprocs)
    assert np.abs(res["c_NA"]).max() < AFFINE_ATOL
    # a rigid translation is affine too, and moves every atom across periodic boundaries
    res, _ = run_d2min(tmp_path, data, ["run 0"], ["displace_atoms all move 7.3 -5.1 9.9 units box"],
                       nprocs=nprocs, name="shift")
    assert np.abs(res["c_NA"]).max() < AFFINE_ATOL


@pytest.mark.parametrize("nprocs", [1, 4])
def test_single_displaced_atom_hand_values(tmp_path, nprocs):
    # atom 1 moves by delta.  Its 18 neighbours sit on a centrosymmetric shell, so J = 1 and
    # D2min(1) = 18 |delta|^2.  A neighbour k of atom 1 with separation X0 sees one neighbour
    # off by delta; with Y = sum X X^T = (sum |X|^2 / 3) 1 = 62.5 Å^2 * 1 on the lattice,
    # D2min(k) = |delta|^2 (1 - X0.Y^-1.X0): 0.9 |delta|^2 at 2.5 Å, 0.8 |delta|^2 at 3.54 Å.
    data, x = sc_data(tmp_path)
    delta = np.array([0.11, -0.05, 0.08])
    res, frame = run_d2min(tmp_path, data, ["run 0"],
                           ["group one id 1",
                            f"displace_atoms one move {delta[0]} {delta[1]} {delta[2]} units box"],
                           nprocs=nprocs)
    got = res["c_NA"][:, 0]
    L = SC_N * SC_A
    sep = (x - x[0] + L / 2) % L - L / 2
    r = np.linalg.norm(sep, axis=1)
    want = np.zeros(len(x))
    want[0] = 18 * delta @ delta
    want[np.isclose(r, SC_A)] = 0.9 * delta @ delta
    want[np.isclose(r, SC_A * np.sqrt(2))] = 0.8 * delta @ delta
    assert np.count_nonzero(want) == 19
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=AFFINE_ATOL)
    np.testing.assert_allclose(got, reference_d2min(res, frame), rtol=1e-12, atol=AFFINE_ATOL)


def random_motion(temp=50, steps=40, seed=4928):
    return [f"velocity all create {temp} {seed} loop geom", "fix move all nve", "timestep 0.002",
            f"run {steps}"]


@pytest.mark.mpi
@pytest.mark.parametrize("cell", [ORTHO, TRICLINIC], ids=["orthogonal", "triclinic"])
def test_random_motion_in_a_deforming_box_rank_invariant(tmp_path, cell):
    # thermal motion (mass 1 at 50 K: ~0.5 Å per component) while the box stretches and shears
    # between the reference and now; the same numbers on 1, 2 and 4 ranks, and the brute force's
    data = random_data(tmp_path, cell, seed=2)
    deform = ("x scale 1.03 xy delta 0.7 yz delta 0.4" if cell is TRICLINIC
              else "x scale 1.03 z scale 0.98")
    after = random_motion()[:3] + ["run 20", f"change_box all {deform} remap", "run 20"]
    results = {n: run_d2min(tmp_path, data, ["run 0"], after, nprocs=n) for n in (1, 2, 4)}
    base, frame = results[1]
    want = reference_d2min(base, frame)
    assert np.median(want) > 0.01
    np.testing.assert_allclose(base["c_NA"][:, 0], want, rtol=RTOL, atol=1e-12 * want.max())
    for n in (2, 4):
        res = results[n][0]
        assert res["nprocs"] == n
        np.testing.assert_allclose(res["c_U"], base["c_U"], rtol=0, atol=1e-9)
        np.testing.assert_allclose(res["c_NA"], base["c_NA"], rtol=1e-10, atol=1e-12 * want.max())


@pytest.mark.mpi
def test_after_migration(tmp_path):
    # a drift of ~20 Å carries every atom through several subdomains and across the periodic
    # boundaries while neighbourhoods change only by the slow thermal motion; 4 ranks = 1 rank
    data = random_data(tmp_path, TRICLINIC, seed=3)
    after = ["velocity all create 1 4928 loop geom", "velocity all set 30 -20 15 sum yes units box",
             "fix move all nve", "timestep 0.002", "run 350"]
    r1, frame = run_d2min(tmp_path, data, ["run 0"], after, nprocs=1, name="mig")
    r4, _ = run_d2min(tmp_path, data, ["run 0"], after, nprocs=4, name="mig")
    drift = np.linalg.norm(r1["c_U"] - frame.positions, axis=1)
    assert np.median(drift) > 15.0
    want = reference_d2min(r1, frame)
    np.testing.assert_allclose(r1["c_NA"][:, 0], want, rtol=RTOL, atol=1e-12 * want.max())
    np.testing.assert_allclose(r4["c_NA"], r1["c_NA"], rtol=1e-10, atol=1e-12 * want.max())


def test_capture_right_after_moving_atoms(tmp_path):
    # compute_modify reference current directly after change_box and displace_atoms, with no run
    # in between (the ghost atoms are stale then): the reference is still that configuration
    data = random_data(tmp_path, TRICLINIC, seed=5)
    before = ["run 0", "change_box all x scale 1.05 xy delta 0.5 remap",
              "displace_atoms all random 0.3 0.3 0.3 871 units box"]
    res, frame = run_d2min(tmp_path, data, before, random_motion(steps=30), nprocs=2)
    want = reference_d2min(res, frame)
    np.testing.assert_allclose(res["c_NA"][:, 0], want, rtol=RTOL, atol=1e-12 * want.max())


def test_reference_at_first_run_and_recapture_same_step(tmp_path):
    # without compute_modify the reference is the configuration at the start of the first run;
    # capturing twice at one timestep (after moving atoms in between) keeps the second one
    data = random_data(tmp_path, ORTHO, seed=6)
    cmds = setup_lines(data) + [f"compute NA all nonaffine/atom {RC}",
                                f"write_dump all custom {tmp_path}/first.dump id type xu yu zu "
                                "modify format float %.17g", *random_motion(steps=30)]
    res = run_job(tmp_path, cmds, GATHER, name="first")
    from pysoft.dump import read_dump
    frame = next(read_dump(str(tmp_path / "first.dump")))
    want = reference_d2min(res, frame)
    np.testing.assert_allclose(res["c_NA"][:, 0], want, rtol=RTOL, atol=1e-12 * want.max())

    res, frame = run_d2min(tmp_path, data,
                           ["run 0", "compute_modify NA reference current",
                            "displace_atoms all random 0.4 0.4 0.4 55 units box"],
                           ["displace_atoms all random 0.2 0.2 0.2 56 units box"], name="twice")
    want = reference_d2min(res, frame)
    np.testing.assert_allclose(res["c_NA"][:, 0], want, rtol=RTOL, atol=1e-12 * want.max())


def test_group_and_compute_modify_with_builtin_keyword(tmp_path):
    # atoms outside the group get 0; the group's atoms still count every atom as a neighbour;
    # compute_modify takes our keyword together with a built-in one
    data = random_data(tmp_path, ORTHO, seed=7)
    cmds = setup_lines(data) + ["group half id <= 150", f"compute NA half nonaffine/atom {RC}",
                                "run 0", "compute_modify NA dynamic/dof no reference current extra/dof 0",
                                f"write_dump all custom {tmp_path}/g.dump id type xu yu zu "
                                "modify format float %.17g",
                                *random_motion(steps=30), "run 0"]
    res = run_job(tmp_path, cmds, GATHER, name="group")
    from pysoft.dump import read_dump
    frame = next(read_dump(str(tmp_path / "g.dump")))
    want = reference_d2min(res, frame)
    got = res["c_NA"][:, 0]
    inside = res["id"] <= 150
    assert np.all(got[~inside] == 0.0)
    np.testing.assert_allclose(got[inside], want[inside], rtol=RTOL, atol=1e-12 * want.max())


@pytest.mark.mpi
def test_restart_continues_identically(tmp_path):
    # reference captured, then the box deforms, write_restart, and a fresh LAMMPS on 2 ranks
    # reads it, defines the compute again with the same ID and goes on: equal to one run
    data = random_data(tmp_path, TRICLINIC, seed=8)
    first = setup_lines(data) + [f"compute NA all nonaffine/atom {RC}", "run 0",
                                 "compute_modify NA reference current", *random_motion(steps=20),
                                 "change_box all x scale 1.02 xy delta 0.6 remap", "run 20"]
    whole = first + [f"write_restart {tmp_path}/half.restart", "run 30", "run 0"]
    a = run_job(tmp_path, whole, GATHER, nprocs=1, name="whole")
    # the atom map setting is part of the restart file
    resumed = ["units metal", f"read_restart {tmp_path}/half.restart",
               "pair_style zero 6.0", "pair_coeff * *", "compute U all property/atom xu yu zu",
               f"compute NA all nonaffine/atom {RC}", "fix move all nve", "run 30", "run 0"]
    b = run_job(tmp_path, resumed, GATHER, nprocs=2, name="resumed")
    assert np.median(a["c_NA"]) > 0.01
    np.testing.assert_allclose(b["c_U"], a["c_U"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(b["c_NA"], a["c_NA"], rtol=1e-10, atol=1e-12 * a["c_NA"].max())


def test_matches_ovito(tmp_path):
    # OVITO's "Nonaffine Squared Displacement" (AtomicStrainModifier, Falk-Langer, sum over the
    # reference neighbours), when OVITO is installed (pip install ovito; not a test dependency)
    ovito_io = pytest.importorskip("ovito.io")
    from ovito.modifiers import AtomicStrainModifier
    from ovito.pipeline import FileSource
    data = random_data(tmp_path, TRICLINIC, seed=2)
    dump = "id type x y z ix iy iz modify format float %.17g sort id"
    cmds = setup_lines(data) + [f"compute NA all nonaffine/atom {RC}", "run 0",
                                "compute_modify NA reference current",
                                f"write_dump all custom {tmp_path}/ov_ref.dump {dump}",
                                *random_motion(steps=20),
                                "change_box all x scale 1.03 xy delta 0.7 yz delta 0.4 remap", "run 20",
                                f"write_dump all custom {tmp_path}/ov_cur.dump id type x y z ix iy iz c_NA "
                                "modify format float %.17g sort id"]
    run_job(tmp_path, cmds, name="ovito")
    pipeline = ovito_io.import_file(str(tmp_path / "ov_cur.dump"))
    strain = AtomicStrainModifier(cutoff=RC, output_nonaffine_squared_displacements=True)
    strain.reference = FileSource()
    strain.reference.load(str(tmp_path / "ov_ref.dump"))
    pipeline.modifiers.append(strain)
    particles = pipeline.compute().particles
    order = np.argsort(np.asarray(particles["Particle Identifier"]))
    ovito_d2min = np.asarray(particles["Nonaffine Squared Displacement"])[order]
    ours = np.asarray(particles["c_na"])[order]     # OVITO lower-cases dump column names
    assert np.median(ours) > 0.01
    np.testing.assert_allclose(ours, ovito_d2min, rtol=1e-10, atol=1e-12 * ours.max())


# ---------------------------------------------------------------------------------------------
# the cumulative D of doc/method.md section 4, with the recipe of doc/compute_nonaffine_atom.md

CUMULATIVE = """units metal
atom_modify map yes
boundary p p p
read_data {data}
pair_style soft 2.5
pair_coeff * * 5.0
comm_modify cutoff 8.0
velocity all create 300 4928 loop geom
fix nvt all nvt temp 300 300 0.1
timestep 0.002

fix Dstore all property/atom d_D ghost no
compute NA all nonaffine/atom 4.0
compute NAmax all reduce max c_NA
thermo_style custom step temp pe c_NAmax
variable Dnew atom d_D+sqrt(c_NA)
fix_modify NA_NONAFFINE_REFERENCE reference current
write_dump all custom step0.dump id type x y z ix iy iz modify format float %.17g

variable s loop 3
label strain
  change_box all x scale 1.01 remap
  minimize 0 1e-6 50 500
  run 25
  set group all d_D v_Dnew
  fix_modify NA_NONAFFINE_REFERENCE reference current
  write_dump all custom step${{s}}.dump id type x y z ix iy iz modify format float %.17g
next s
jump SELF strain
write_dump all custom final.dump id d_D modify format float %.17g sort id
"""


@pytest.mark.mpi
def test_cumulative_D_over_three_strain_steps(tmp_path):
    from pysoft.dump import read_dump
    data = random_data(tmp_path, TRICLINIC, seed=9)
    proc = run_lmp(tmp_path, CUMULATIVE.format(data=data), nprocs=2)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    frames = [next(read_dump(str(tmp_path / f"step{s}.dump"))) for s in range(4)]
    want = np.zeros(frames[0].natoms)
    for s in range(1, 4):
        before, now = frames[s - 1], frames[s]
        step = ref.d2min(before.positions, before.cell, now.positions, now.cell, RC)
        assert np.median(step) > 1e-3
        want += np.sqrt(step)
    final = np.loadtxt(tmp_path / "final.dump", skiprows=9)
    np.testing.assert_array_equal(final[:, 0], frames[0].ids)
    np.testing.assert_allclose(final[:, 1], want, rtol=RTOL, atol=1e-12 * want.max())
    # the box was stretched by 1 % per step, and the steps are what the loop says
    np.testing.assert_allclose(frames[3].cell[0, 0], frames[0].cell[0, 0] * 1.01**3, rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# why not fix nonaffine/displacement (doc/compute_nonaffine_atom.md): evidence kept as tests

def test_fix_nonaffine_displacement_reports_root_mean_not_sum(tmp_path):
    # the lattice with one displaced atom: the fix's column 1 squared is our D2min divided by the
    # number of neighbours, for the displaced atom and for its neighbours alike
    data, x = sc_data(tmp_path)
    cmds = setup_lines(data) + [f"compute NA all nonaffine/atom {RC}",
                                f"fix FN all nonaffine/displacement 1 d2min custom {RC} fixed 0",
                                "run 1", "compute_modify NA reference current", "group one id 1",
                                "displace_atoms one move 0.11 -0.05 0.08 units box", "run 1"]
    res = run_job(tmp_path, cmds, {"c_NA": 1, "f_FN": 3}, name="fixna")
    ours, theirs = res["c_NA"][:, 0], res["f_FN"][:, 0]
    moved = ours > 1e-12
    assert np.count_nonzero(moved) == 19
    np.testing.assert_allclose(theirs[moved] ** 2 * 18, ours[moved], rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# bad input: one LAMMPS ERROR line naming the problem

ERR_SETUP = """units metal
atom_modify map yes
region b block 0 12 0 12 0 12
create_box 1 b
create_atoms 1 random 150 1 NULL overlap 1.0
mass 1 1.0
pair_style zero 6.0
pair_coeff * *
"""


@pytest.mark.parametrize("line,expect", [
    ("compute NA all nonaffine/atom 0", "Compute nonaffine/atom cutoff must be positive, got 0"),
    ("compute NA all nonaffine/atom -1.5", "Compute nonaffine/atom cutoff must be positive, got -1.5"),
    ("compute NA all nonaffine/atom four", "Expected floating point parameter instead of 'four'"),
    ("compute NA all nonaffine/atom", "compute nonaffine/atom"),
    ("compute NA all nonaffine/atom 4.0 sum", "Unknown compute nonaffine/atom keyword: sum"),
    ("compute NA all nonaffine/atom 4.0 4.5", "Unknown compute nonaffine/atom keyword: 4.5"),
    ("compute NA all nonaffine/atom 6.5", "Compute nonaffine/atom cutoff 6.5 + neighbor skin 2 exceeds "
                                          "the ghost-atom range 8; use comm_modify cutoff 8.5"),
    ("compute NA all nonaffine/atom 4.0\ncompute_modify NA reference previous",
     "compute_modify reference takes 'current', not 'previous'"),
    ("compute NA all nonaffine/atom 4.0\ncompute_modify NA reference", "compute_modify reference"),
    ("compute NA all nonaffine/atom 4.0\ncompute_modify NA sum yes", "compute_modify"),
    # the form every LAMMPS release accepts (lammps_compat.h)
    ("compute NA all nonaffine/atom 4.0\nfix_modify NA_NONAFFINE_REFERENCE reference previous",
     "fix_modify reference takes 'current', not 'previous'"),
    ("compute NA all nonaffine/atom 4.0\nfix_modify NA_NONAFFINE_REFERENCE reference", "fix_modify reference"),
    ("compute NA all nonaffine/atom 4.0\nfix_modify NA_NONAFFINE_REFERENCE sum yes", "fix_modify"),
])
@pytest.mark.parametrize("nprocs", [1, 2])
def test_bad_input(tmp_path, line, expect, nprocs):
    msg = error_line(run_lmp(tmp_path, ERR_SETUP + line + "\nrun 0\n", nprocs=nprocs))
    assert expect in msg


@pytest.mark.parametrize("renew", ["compute_modify NA", "fix_modify NA_NONAFFINE_REFERENCE"])
def test_ghost_range_error_also_from_compute_modify(tmp_path, renew):
    # the same check when the reference is first captured between runs
    msg = error_line(run_lmp(tmp_path, ERR_SETUP + "compute NA all nonaffine/atom 7\n"
                             f"{renew} reference current\n"))
    assert "use comm_modify cutoff 9" in msg


def test_needs_an_atom_map(tmp_path):
    msg = error_line(run_lmp(tmp_path, ERR_SETUP.replace("atom_modify map yes\n", "") +
                             "compute NA all nonaffine/atom 4.0\nrun 0\n"))
    assert "Compute nonaffine/atom requires an atom map, see atom_modify" in msg


@pytest.mark.parametrize("nprocs", [1, 2, 3])
def test_neighbour_beyond_ghost_range_is_fetched_from_its_owner(tmp_path, nprocs):
    """An atom thrown 7.8 Å in one step (beyond the 8 Å of ghost atoms minus the 4 Å cutoff, as
    an atom off a breaking ligament into an opening crack): its reference neighbours are no longer
    ghosts of its rank; they are fetched from their owners and D2min is the brute-force value."""
    data = random_data(tmp_path, ORTHO)
    res, frame = run_d2min(tmp_path, data, [], ["group one id 1", "displace_atoms one move 4.5 4.5 4.5 units box"],
                           nprocs=nprocs, name="far")
    want = reference_d2min(res, frame)
    assert want[0] > 10.0
    np.testing.assert_allclose(res["c_NA"][:, 0], want, rtol=1e-9, atol=1e-12)


def test_deleted_neighbour_is_one_error_line(tmp_path):
    script = ERR_SETUP + ("compute NA all nonaffine/atom 4.0\ncompute NAmax all reduce max c_NA\n"
                          "thermo_style custom step c_NAmax\nrun 0\ngroup one id 1\n"
                          "delete_atoms group one compress no\nrun 0\n")
    msg = error_line(run_lmp(tmp_path, script, nprocs=2))
    assert "reference neighbour(s) no longer exist" in msg and "e.g. atom 1 of atom" in msg


def test_restart_with_another_cutoff(tmp_path):
    run_lmp(tmp_path, ERR_SETUP + "compute NA all nonaffine/atom 4.0\nrun 0\nwrite_restart r.restart\n")
    script = ("units metal\natom_modify map yes\nread_restart r.restart\npair_style zero 6.0\n"
              "pair_coeff * *\ncompute NA all nonaffine/atom 3.5\nrun 0\n")
    msg = error_line(run_lmp(tmp_path, script))
    assert "captured with cutoff 4, not 3.5" in msg
