"""compute structure/atom under MPI: the same rows, matched by atom id, for any rank count.

Also newton on/off, atoms that migrated between subdomains during a run, invariance under
translation, rotation and renumbering, and use between runs / after `run 0`.
"""

import numpy as np
import pytest

from conftest import random_system, run_job, write_data
from test_structure_atom import TRICLINIC, ORTHO, assert_matches, lammps_setup, reference_of

NCOL = 150


def ids_sorted(res):
    order = np.argsort(res["id"])
    return {k: (v[order] if isinstance(v, np.ndarray) and v.ndim and len(v) == len(order) else v)
            for k, v in res.items()}


@pytest.fixture(scope="module")
def glass_data(tmp_path_factory):
    # 400 atoms at the density of a-Al2O3 (0.095 /Å^3): boxes ~16 Å, so 4 ranks cut it into
    # subdomains thinner than the cutoff and ghosts come from several neighbours
    d = tmp_path_factory.mktemp("glass")
    cell = np.array([[16.0, 0, 0], [1.5, 16.0, 0], [-2.0, 1.0, 16.5]])
    x, types = random_system(400, cell, seed=11)
    write_data(d / "glass.data", x, types, cell)
    return d / "glass.data"


@pytest.mark.mpi
@pytest.mark.parametrize("newton", ["on", "off"])
def test_rank_invariance(tmp_path, glass_data, newton, default_spec):
    cmds = lammps_setup(glass_data, newton) + ["compute F all structure/atom default Al O", "run 0"]
    results = {n: run_job(tmp_path, cmds, {"c_F": NCOL}, nprocs=n, name=f"r{newton}")
               for n in (1, 2, 3, 4)}
    base = results[1]
    for n in (2, 3, 4):
        assert results[n]["nprocs"] == n
        np.testing.assert_array_equal(results[n]["id"], base["id"])
        np.testing.assert_array_equal(results[n]["x"], base["x"])
        np.testing.assert_allclose(results[n]["c_F"], base["c_F"], rtol=1e-12, atol=1e-300)
    assert_matches(base["c_F"], reference_of(base, default_spec))


@pytest.mark.mpi
def test_after_migration(tmp_path, glass_data, default_spec):
    # no forces, fast atoms: after 300 steps most atoms crossed into another subdomain and
    # were re-wrapped across periodic boundaries; the positions are rank-independent
    cmds = lammps_setup(glass_data) + [
        "velocity all create 20000 4928 loop geom", "fix move all nve", "timestep 0.002",
        "compute D all displace/atom", "compute F all structure/atom default Al O", "run 300"]
    r1 = run_job(tmp_path, cmds, {"c_F": NCOL, "c_D": 4}, nprocs=1, name="mig")
    r4 = run_job(tmp_path, cmds, {"c_F": NCOL, "c_D": 4}, nprocs=4, name="mig")
    # most atoms travelled further than a subdomain (half the 16 Å box on 4 ranks)
    assert np.median(r1["c_D"][:, 3]) > 10.0
    np.testing.assert_allclose(r4["x"], r1["x"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(r4["c_F"], r1["c_F"], rtol=1e-10, atol=1e-300)
    assert_matches(r4["c_F"], reference_of(r4, default_spec))


def test_translation_rotation_renumbering(tmp_path, default_spec):
    from pysoft.spec import ncols
    cell = ORTHO
    x, types = random_system(80, cell, seed=21)

    def run(name, x, types, cell, ids=None):
        data = tmp_path / f"{name}.data"
        write_data(data, x, types, cell, ids=ids)
        cmds = lammps_setup(data) + ["compute F all structure/atom default Al O", "run 0"]
        return run_job(tmp_path, cmds, {"c_F": ncols(default_spec)}, name=name)

    base = run("base", x, types, cell)["c_F"]
    # translation by a non-lattice vector, then wrapped back into the box
    shifted = (x + np.array([3.3, -7.1, 5.9])) % np.diag(cell)
    np.testing.assert_allclose(run("shift", shifted, types, cell)["c_F"], base, rtol=1e-10, atol=1e-300)
    # rotation: a cyclic permutation of the axes is a proper rotation; the box rotates with it
    rot = run("rot", x[:, [1, 2, 0]], types, np.diag(np.diag(cell)[[1, 2, 0]]))["c_F"]
    np.testing.assert_allclose(rot, base, rtol=1e-10, atol=1e-300)
    # renumbering: atom k gets id perm[k]; rows come back sorted by id
    perm = np.random.default_rng(2).permutation(len(x)) + 1
    renum = run("renum", x, types, cell, ids=perm)["c_F"]
    np.testing.assert_allclose(renum[perm - 1], base, rtol=1e-12, atol=1e-300)


def test_between_runs_and_run0(tmp_path, default_spec):
    # the compute follows the atoms when invoked after `run 0`, after a run, and after atoms
    # were moved between runs (displace_atoms, then run 0)
    x, types = random_system(80, TRICLINIC, seed=8)
    data = tmp_path / "b.data"
    write_data(data, x, types, TRICLINIC)
    pre = lammps_setup(data) + ["compute F all structure/atom default Al O"]
    a = run_job(tmp_path, pre + ["run 0"], {"c_F": NCOL}, name="a")
    assert_matches(a["c_F"], reference_of(a, default_spec))
    moved = pre + ["run 0", "velocity all create 3000 77 loop geom", "fix m all nve", "run 50"]
    b = run_job(tmp_path, moved, {"c_F": NCOL}, nprocs=2, name="b")
    assert np.abs(b["x"] - a["x"]).max() > 0.1
    assert_matches(b["c_F"], reference_of(b, default_spec))
    disp = pre + ["run 0", "displace_atoms all random 0.4 0.4 0.4 991 units box", "run 0"]
    c = run_job(tmp_path, disp, {"c_F": NCOL}, nprocs=2, name="c")
    assert np.abs(c["x"] - a["x"]).max() > 0.01
    assert_matches(c["c_F"], reference_of(c, default_spec))


@pytest.mark.mpi
def test_restart_continues_identically(tmp_path, glass_data):
    # uninterrupted: 40 + 40 steps.  Restarted: 40 steps, write_restart, a fresh LAMMPS on
    # 2 ranks reads it, redefines the compute, runs 40 more.  Rows must agree.
    common = ["velocity all create 3000 4928 loop geom", "fix move all nve", "timestep 0.001"]
    whole = lammps_setup(glass_data) + common + [
        "run 40", f"write_restart {tmp_path}/half.restart", "run 40",
        "compute F all structure/atom default Al O", "run 0"]
    a = run_job(tmp_path, whole, {"c_F": NCOL}, nprocs=1, name="whole")
    resumed = ["units metal", "atom_modify map array", f"read_restart {tmp_path}/half.restart",
               "pair_style zero 12.0", "pair_coeff * *", "comm_modify cutoff 14.0",
               "fix move all nve", "timestep 0.001", "run 40",
               "compute F all structure/atom default Al O", "run 0"]
    b = run_job(tmp_path, resumed, {"c_F": NCOL}, nprocs=2, name="resumed")
    np.testing.assert_allclose(b["x"], a["x"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(b["c_F"], a["c_F"], rtol=1e-10, atol=1e-300)


@pytest.mark.mpi
@pytest.mark.parametrize("nprocs", [1, 2])
def test_repeated_run0_at_one_timestep(tmp_path, default_spec, nprocs):
    # Each "run 0" re-neighbours and re-bins at the same timestep. The compute is invoked
    # after every one: its occasional list (and, once the growing box changes the bin grid,
    # its stencil) must be rebuilt although LAMMPS sees nothing older than "this step".
    x, types = random_system(150, np.diag([14.0, 14.0, 14.5]), seed=12)
    write_data(tmp_path / "r.data", x, types, np.diag([14.0, 14.0, 14.5]))
    # thermo output at each run's set-up invokes the compute (through compute reduce)
    cmds = lammps_setup(tmp_path / "r.data") + ["compute F all structure/atom default Al O",
                                               "compute r all reduce sum c_F[60]",
                                               "thermo_style custom step c_r", "run 0"]
    for k in range(1, 6):
        cmds += ["change_box all x scale 1.03 remap", f"variable d atom 0.1*sin(id*{k})",
                 "displace_atoms all move v_d v_d v_d units box", "run 0 post no"]
    res = run_job(tmp_path, cmds, {"c_F": NCOL}, nprocs=nprocs, name="rep")
    assert_matches(res["c_F"], reference_of(res, default_spec))
