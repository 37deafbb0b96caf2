"""compute structure/atom against the brute-force all-images reference (tests/reference.py).

Agreement is required to 1e-10 relative, element by element.  Entries that are zero in the
reference (no neighbour of that species, or a Gaussian that underflows) must be zero or below
1e-300 in absolute value.
"""

import numpy as np
import pytest

from conftest import random_system, run_job, write_data
import reference as ref

RTOL = 1e-10
ATOL = 1e-300

ORTHO = np.diag([9.0, 10.0, 11.0])
TRICLINIC = np.array([[9.0, 0.0, 0.0], [2.5, 10.0, 0.0], [-1.7, 1.2, 11.0]])


def lammps_setup(data, newton="on", extra=()):
    return ["units metal", f"newton {newton}", "atom_modify map array", "boundary p p p",
            f"read_data {data}", "pair_style zero 12.0", "pair_coeff * *",
            "comm_modify cutoff 14.0", *extra]


def features(tmp_path, cell, n=80, nprocs=1, spec="default", elems="Al O", newton="on",
             seed=1, extra=(), after=("run 0",), name="f"):
    from pysoft.spec import load_spec, ncols
    x, types = random_system(n, cell, seed=seed)
    data = tmp_path / f"{name}.data"
    write_data(data, x, types, cell)
    cmds = lammps_setup(data, newton, extra) + [f"compute F all structure/atom {spec} {elems}", *after]
    return run_job(tmp_path, cmds, {"c_F": ncols(load_spec(spec))}, nprocs=nprocs, name=name)


def reference_of(res, spec, type_to_species=(None, 0, 1)):
    cell = ref.cell_matrix(res["boxlo"], res["boxhi"], *res["tilt"])
    species = np.array([type_to_species[t] if type_to_species[t] is not None else -1 for t in res["type"]])
    return ref.structure_functions(res["x"], species, cell, spec)


def assert_matches(got, want):
    assert got.shape == want.shape
    assert np.all(np.isfinite(got))
    zero = want == 0.0
    assert np.all(np.abs(got[zero]) < ATOL), "nonzero where the reference is zero"
    rel = np.abs(got[~zero] - want[~zero]) / np.abs(want[~zero])
    assert rel.max() < RTOL, f"max relative error {rel.max():.3e}"


@pytest.mark.parametrize("cell", [ORTHO, TRICLINIC], ids=["orthogonal", "triclinic"])
def test_random_box_matches_reference(tmp_path, cell, default_spec):
    # radial cutoff 11 Å exceeds half of every box length: several images of each atom count
    res = features(tmp_path, cell)
    assert_matches(res["c_F"], reference_of(res, default_spec))


def test_tiny_box_many_images(tmp_path, default_spec):
    # a 5 Å box and an 11 Å cutoff: each atom sees ~40 images of every other atom, and its own
    cell = np.array([[5.0, 0, 0], [0.7, 5.5, 0], [0.3, -0.4, 6.0]])
    res = features(tmp_path, cell, n=6, seed=3)
    want = reference_of(res, default_spec)
    assert_matches(res["c_F"], want)
    assert want[:, :96].sum(axis=1).min() > 0


def test_lattice_rocksalt(tmp_path, default_spec):
    # rock-salt lattice, a = 4.2 Å: all atoms of one type have identical environments, so their
    # rows must agree to rounding; and both must match the reference
    a = 4.2
    basis = np.array([[0, 0, 0], [0, .5, .5], [.5, 0, .5], [.5, .5, 0]])
    cells = np.array([[i, j, k] for i in range(2) for j in range(2) for k in range(2)])
    pos1 = (cells[:, None, :] + basis[None]).reshape(-1, 3) * a
    pos2 = pos1 + np.array([0.5 * a, 0, 0])
    x = np.vstack([pos1, pos2]) % (2 * a)
    types = np.array([1] * len(pos1) + [2] * len(pos2))
    cell = np.eye(3) * 2 * a
    data = tmp_path / "lat.data"
    write_data(data, x, types, cell)
    cmds = lammps_setup(data) + ["compute F all structure/atom default Al O", "run 0"]
    res = run_job(tmp_path, cmds, {"c_F": 150})
    got = res["c_F"]
    assert_matches(got, reference_of(res, default_spec))
    for t in (1, 2):
        rows = got[res["type"] == t]
        np.testing.assert_allclose(rows, np.broadcast_to(rows[0], rows.shape), rtol=1e-12, atol=1e-300)
    # analytic: Al has 6 O at a/2 = 2.1 Å and the next O shell at a sqrt(3)/2 = 3.64 Å, whose
    # Gaussians at mu = 2.0 are below exp(-67); so G_O(2.0) = 6 exp(-(0.1/0.2)^2)
    al = got[res["type"] == 1][0]
    mu = 0.6 + 0.2 * np.arange(48)
    k = int(np.argmin(abs(mu - 2.0)))
    assert al[48 + k] == pytest.approx(6 * np.exp(-0.25), rel=1e-12)
    # and its 12 Al neighbours at a/sqrt(2) = 2.97 Å: G_Al(3.0) = 12 exp(-(0.0302/0.2)^2) + tiny
    k3 = int(np.argmin(abs(mu - 3.0)))
    assert al[k3] == pytest.approx(12 * np.exp(-((3.0 - a / np.sqrt(2)) / 0.2) ** 2), rel=1e-9)


def test_group_and_null_type(tmp_path):
    # type 2 mapped to NULL: not a neighbour; only group atoms (type 1) get rows, others zeros
    from pysoft.spec import load_spec
    spec = load_spec("default")
    res = features(tmp_path, ORTHO, elems="Al NULL", extra=("group g type 1",),
                   after=("uncompute F", "compute F g structure/atom default Al NULL", "run 0"))
    want = reference_of(res, spec, (None, 0, None))
    want[res["type"] != 1] = 0.0
    assert_matches(res["c_F"], want)
    assert np.all(res["c_F"][:, 48:96] == 0.0)


def test_radial_only_spec(tmp_path):
    from pysoft.spec import load_spec
    res = features(tmp_path, TRICLINIC, spec="radial")
    assert res["c_F"].shape[1] == 96
    assert_matches(res["c_F"], reference_of(res, load_spec("radial")))


def test_custom_spec_three_species(tmp_path):
    # three species (all pair blocks), a non-integer zeta, a grid not starting at 0.6
    spec = {"species": ["A", "B", "C"], "radial": {"mu": [1.0, 4.0, 0.5], "L": 0.35, "cutoff": 7.5},
            "angular": {"cutoff": 4.5, "params": [[2.0, 1, 1], [2.0, -1, 2.5], [3.3, 0.5, 3]]}}
    path = tmp_path / "spec3.json"
    import json
    path.write_text(json.dumps(spec))
    x, types = random_system(60, TRICLINIC, ntypes=3, seed=5)
    data = tmp_path / "s3.data"
    write_data(data, x, types, TRICLINIC)
    cmds = lammps_setup(data) + [f"compute F all structure/atom {path} C A B", "run 0"]
    res = run_job(tmp_path, cmds, {"c_F": 3 * 7 + 6 * 3})
    assert_matches(res["c_F"], reference_of(res, spec, (None, 2, 0, 1)))


@pytest.mark.parametrize("nprocs", [1, 2])
def test_far_apart_atoms_nonperiodic(tmp_path, nprocs, default_spec):
    # a fixed (non-periodic) 600 Å box with a cluster at one corner, a few atoms at the other
    # and one in the middle: the neighbour search's grid would need ~4e6 bins of a third of
    # the cutoff; it widens its bins instead and must still find exactly the same neighbours
    rng = np.random.default_rng(3)
    x = np.vstack([rng.random((40, 3)) * 12.0 + 1.0, rng.random((4, 3)) * 4.0 + 590.0,
                   [[300.0, 10.0, 10.0]]])
    types = rng.integers(1, 3, len(x))
    types[:2] = [1, 2]
    cell = np.diag([600.0, 600.0, 600.0])
    data = tmp_path / "far.data"
    write_data(data, x, types, cell)
    cmds = ["units metal", "atom_modify map array", "boundary f f f", f"read_data {data}",
            "pair_style zero 12.0", "pair_coeff * *", "comm_modify cutoff 14.0",
            "compute F all structure/atom default Al O", "run 0"]
    res = run_job(tmp_path, cmds, {"c_F": 150}, nprocs=nprocs, name="far")
    # the reference's periodic images are 600 Å away: none is within a cutoff
    assert_matches(res["c_F"], reference_of(res, default_spec))
    assert np.all(res["c_F"][-1] == 0.0)    # the lone atom in the middle has no neighbour
