"""compute bondswitch/atom: coordination and bond switching (UC/DC/IC/SC) against a reference.

Checked against the brute-force all-images reference (tests/reference.py), on hand-made Al-O
motifs whose states are known in advance and on random configurations; on 1 to 4 ranks, after
atoms migrated, across restarts, after compute_modify reference current, and on bad input.
"""

import ctypes
import os
import struct

import numpy as np
import pytest

from conftest import run_job, run_lmp, write_data
from test_structure_errors import error_line
import reference as ref
from reference import DC, IC, SC, UC

RC = 2.25                     # Å, doc/method.md section 4
AL, O = 1, 2                  # LAMMPS types
ORTHO = np.diag([14.0, 15.0, 16.0])
TRICLINIC = np.array([[14.0, 0.0, 0.0], [2.0, 15.0, 0.0], [-1.5, 1.0, 16.0]])
GLASS = np.array([[16.0, 0.0, 0.0], [1.5, 16.0, 0.0], [-2.0, 1.0, 16.5]])

# the compute, and a reduction in the thermo output so that every `run` invokes it
COMPUTE = ["group Al type 1", f"compute B Al bondswitch/atom {RC} 2",
           "compute R Al reduce sum c_B[*]", "thermo_style custom step c_R[*]"]


def lammps_setup(data, extra=()):
    # pair_style zero only sets the ghost range: 4 + 2 Å skin, beyond Rc + skin
    return ["units metal", "atom_modify map array", "boundary p p p", f"read_data {data}",
            "pair_style zero 4.0", "pair_coeff * *", *extra]


def wrap(x, cell):
    frac = np.asarray(x) @ np.linalg.inv(cell)
    return (frac % 1.0) @ cell


def set_positions(x, ids=None):
    """LAMMPS commands that put atom id (1-based) at x[id-1]; floats round-trip exactly."""
    ids = range(1, len(x) + 1) if ids is None else ids
    x = np.asarray(x, float)
    return [f"set atom {i} x {float(x[i - 1, 0])!r} y {float(x[i - 1, 1])!r} z {float(x[i - 1, 2])!r}"
            for i in ids]


def reference_rows(x_ref, cell_ref, res, centres=None):
    cell_now = ref.cell_matrix(res["boxlo"], res["boxhi"], *res["tilt"])
    types = res["type"]
    centres = types == AL if centres is None else centres
    return ref.bond_switching(x_ref, cell_ref, res["x"], cell_now, types, centres, RC, (O,))


def random_glass(n=400, seed=11, cell=GLASS):
    # uniform positions, 2 Al : 3 O; 400 atoms in GLASS is the number density of a-Al2O3
    # (0.095 /Å^3), about 2-3 O within Rc of each Al, so CN 0 to 6 occur
    rng = np.random.default_rng(seed)
    x = rng.random((n, 3)) @ cell
    types = np.where(rng.random(n) < 0.4, AL, O)
    return x, types


# ---------------------------------------------------------------------------------------------
# the classification itself, through libpysoft_math.so (no LAMMPS)

def classify(a, b):
    from pysoft.plugin import PLUGIN_DIR
    lib = ctypes.CDLL(os.path.join(PLUGIN_DIR, "libpysoft_math.so"))
    fn = lib.pysoft_bond_switch_state
    arr = np.ctypeslib.ndpointer(np.int64, flags="C")
    fn.argtypes = [arr, ctypes.c_int, arr, ctypes.c_int]
    fn.restype = ctypes.c_int
    a = np.ascontiguousarray(a, np.int64).reshape(-1)
    b = np.ascontiguousarray(b, np.int64).reshape(-1)
    return fn(a, len(a), b, len(b))


@pytest.mark.parametrize("before,after,state", [
    ([3, 7, 9, 12], [3, 7, 9, 12], UC),
    ([], [], UC),
    ([3, 7, 9, 12], [3, 7, 12], DC),
    ([3, 7, 9, 12], [], DC),
    ([3, 7, 9, 12], [3, 5, 7, 9, 12], IC),
    ([], [8], IC),
    ([3, 7, 9, 12], [3, 7, 9, 13], SC),
    ([3, 7, 9, 12], [1, 2, 4, 5], SC),
    # a changed CN wins even when neighbours were also replaced (SC is defined at equal CN)
    ([3, 7, 9, 12], [3, 7, 13, 14, 15], IC),
    ([3, 7, 9, 12], [1, 2, 4], DC),
    # two images of one neighbour count twice (a box thinner than 2 Rc)
    ([4, 4], [4], DC),
    ([4, 4], [4, 5], SC),
    ([2**40, 2**40 + 1], [2**40, 2**40 + 2], SC),
])
def test_classification(before, after, state):
    assert classify(before, after) == state
    assert ref.bond_switch_state(before, after) == state


# ---------------------------------------------------------------------------------------------
# hand-made motifs: one Al with its O neighbours per motif, moved across Rc on purpose

TET = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]) / np.sqrt(3.0)
T1, T2, T3, T4 = TET
BONDED = [(T1, 1.8, 1.8), (T2, 1.8, 1.8), (T3, 1.8, 1.8)]

# name: ([(direction, distance in the reference, distance after)], extra Al or None,
#        (reference CN, CN after, state) of the motif's Al)
MOTIFS = {
    # neighbour T4 leaves, -T1 comes in: same CN, one different O
    "SC": (BONDED + [(T4, 2.15, 2.40), (-T1, 2.45, 2.10)], None, (4, 4, SC)),
    "UC": (BONDED + [(T4, 1.8, 1.8)], None, (4, 4, UC)),
    "DC": (BONDED + [(T4, 2.15, 2.40)], None, (4, 3, DC)),
    "IC": (BONDED + [(T4, 1.8, 1.8), (-T1, 2.45, 2.10)], None, (4, 5, IC)),
    # one O out, two in: CN up by one, with a replaced neighbour: IC, not SC
    "IC+replaced": (BONDED + [(T4, 2.15, 2.40), (-T1, 2.45, 2.10), (-T2, 2.45, 2.10)], None,
                    (4, 5, IC)),
    "DC by two": ([(T1, 1.9, 1.9), (T2, 1.9, 1.9), (T3, 1.9, 1.9), (T4, 2.0, 2.6),
                   (-T1, 2.2, 2.45)], None, (5, 3, DC)),
    "IC from 0": ([(T1, 2.6, 2.0)], None, (0, 1, IC)),
    # an Al 2.0 Å from the centre is not counted (TYPES = O only); it has no O within Rc
    "UC next to Al": (BONDED, 2.0 * T4, (3, 3, UC)),
}


def build_motifs(cell, jitter_seed=5):
    """Positions before / after, types, and the expected rows, one motif per octant of the cell.

    The motif in the first octant sits on the cell corner, so it straddles all three periodic
    boundaries.  Motifs are at least 7 Å apart and reach 2.6 Å: no bond between motifs.
    After the moves, every atom is shifted by up to 0.03 Å per axis, which changes a distance by
    at most 0.11 Å: every distance after the moves is at least 0.15 Å from Rc.
    """
    rng = np.random.default_rng(jitter_seed)
    xa, xb, types, expected = [], [], [], []
    corners = [(0.0, 0.0, 0.0), (0.5, 0.0, 0.0), (0.0, 0.5, 0.0), (0.0, 0.0, 0.5),
               (0.5, 0.5, 0.0), (0.5, 0.0, 0.5), (0.0, 0.5, 0.5), (0.5, 0.5, 0.5)]
    for (oxygens, extra_al, rows), frac in zip(MOTIFS.values(), corners):
        centre = (np.array(frac) + 0.02) @ cell
        xa.append(centre), xb.append(centre), types.append(AL), expected.append(rows)
        for direction, ra, rb in oxygens:
            xa.append(centre + ra * direction), xb.append(centre + rb * direction)
            types.append(O), expected.append((0, 0, UC))
        if extra_al is not None:
            xa.append(centre + extra_al), xb.append(centre + extra_al)
            types.append(AL), expected.append((0, 0, UC))
    xa, xb = np.array(xa), np.array(xb)
    xb = xb + rng.uniform(-0.03, 0.03, xb.shape)
    return wrap(xa, cell), wrap(xb, cell), np.array(types), np.array(expected, float)


@pytest.mark.parametrize("cell", [ORTHO, TRICLINIC], ids=["orthogonal", "triclinic"])
@pytest.mark.parametrize("nprocs", [1, 3])
def test_motifs_known_states(tmp_path, cell, nprocs):
    xa, xb, types, expected = build_motifs(cell)
    data = tmp_path / "motifs.data"
    write_data(data, xa, types, cell)
    # capture in the first run 0; move atoms by hand; the second run 0 classifies
    cmds = lammps_setup(data) + COMPUTE + [f"compute C Al coord/atom cutoff {RC} 2", "run 0",
                                           *set_positions(xb), "run 0"]
    res = run_job(tmp_path, cmds, {"c_B": 3, "c_C": 1}, nprocs=nprocs, name="motifs")
    np.testing.assert_allclose(res["x"], xb, rtol=0, atol=1e-12)
    # every state occurs, as planned, and the independent reference agrees with the plan
    want = reference_rows(xa, cell, res)
    np.testing.assert_array_equal(want, expected)
    assert set(expected[types == AL, 2]) == {UC, DC, IC, SC}
    np.testing.assert_array_equal(res["c_B"], expected)
    # column 2 is the coordination number that LAMMPS's coord/atom counts
    np.testing.assert_array_equal(res["c_B"][:, 1], res["c_C"][:, 0])


@pytest.mark.parametrize("cell,strain", [
    (ORTHO, "x scale 1.05 y scale 0.98"),
    (GLASS, "x scale 1.04 xy delta 0.6 yz delta -0.4"),
], ids=["orthogonal", "triclinic"])
def test_random_strained_against_reference(tmp_path, cell, strain):
    # random glass-like positions, then the box is strained (atoms remapped with it) and atoms
    # are displaced at random; compare every row with the brute-force reference
    x, types = random_glass(cell=cell, seed=3)
    data = tmp_path / "glass.data"
    write_data(data, x, types, cell)
    cmds = lammps_setup(data) + COMPUTE + [
        f"compute C Al coord/atom cutoff {RC} 2", "run 0",
        f"change_box all {strain} remap units box",
        "displace_atoms all random 0.25 0.25 0.25 8812 units box", "run 0"]
    res = run_job(tmp_path, cmds, {"c_B": 3, "c_C": 1}, name="strained")
    want = reference_rows(x, cell, res)
    np.testing.assert_array_equal(res["c_B"], want)
    np.testing.assert_array_equal(res["c_B"][:, 1], res["c_C"][:, 0])
    al = types == AL
    counts = np.bincount(want[al, 2].astype(int), minlength=4)
    assert counts.min() >= 5, f"each of UC, DC, IC, SC should occur: {counts}"
    assert np.all(res["c_B"][~al] == 0.0)


def test_two_images_of_one_neighbour(tmp_path):
    # a box 4.2 Å long in x: the O at +2.1 Å is also at -2.1 Å (its image), so the Al has CN 2
    # with the id listed twice, as coord/atom counts it.  Moving the O to 1.9 Å puts the image at
    # 2.3 Å: CN 1, DC.  The second Al keeps both images at 2.0 / 2.2 Å: UC
    cell = np.diag([4.2, 10.0, 10.0])
    x = np.array([[0.1, 2.0, 2.0], [2.2, 2.0, 2.0], [0.1, 7.0, 7.0], [2.1, 7.0, 7.0]])
    types = np.array([AL, O, AL, O])
    data = tmp_path / "thin.data"
    write_data(data, x, types, cell)
    moved = x.copy()
    moved[1, 0] = 2.0
    moved[3, 0] = 2.2
    cmds = lammps_setup(data, ["comm_modify cutoff 6.5"]) + COMPUTE + [
        f"compute C Al coord/atom cutoff {RC} 2", "run 0", *set_positions(moved, [2, 4]), "run 0"]
    res = run_job(tmp_path, cmds, {"c_B": 3, "c_C": 1}, name="thin")
    want = np.array([[2, 1, DC], [0, 0, UC], [2, 2, UC], [0, 0, UC]], float)
    np.testing.assert_array_equal(reference_rows(x, cell, res), want)
    np.testing.assert_array_equal(res["c_B"], want)
    np.testing.assert_array_equal(res["c_B"][:, 1], res["c_C"][:, 0])


def test_group_and_type_range(tmp_path):
    # group: only the Al of the first half are centres; the rest get zeros.  TYPES 1*2 counts Al
    # and O neighbours alike
    x, types = random_glass(n=200, seed=7, cell=ORTHO)
    data = tmp_path / "g.data"
    write_data(data, x, types, ORTHO)
    half = np.arange(1, len(x) + 1) <= len(x) // 2
    cmds = lammps_setup(data) + [
        "group Al type 1", f"group H id 1:{len(x) // 2}", "group HAl intersect H Al",
        f"compute B HAl bondswitch/atom {RC} *", "compute R HAl reduce sum c_B[*]",
        "thermo_style custom step c_R[*]", "run 0",
        "displace_atoms all random 0.3 0.3 0.3 41 units box", "run 0"]
    res = run_job(tmp_path, cmds, {"c_B": 3}, name="group")
    centres = (types == AL) & half
    want = ref.bond_switching(x, ORTHO, res["x"], ORTHO, types, centres, RC, (AL, O))
    np.testing.assert_array_equal(res["c_B"], want)
    assert np.all(res["c_B"][~centres] == 0.0) and want[centres, 0].sum() > 0


def test_atoms_created_after_capture_have_no_reference(tmp_path):
    # a new Al placed among the O of a motif, and added to the group, has bonds but no
    # reference: zeros, like an atom outside the group, until the next capture
    xa, _, types, _ = build_motifs(ORTHO)
    data = tmp_path / "motifs.data"
    write_data(data, xa, types, ORTHO)
    spot = [float(v) for v in xa[0] + 0.5 * (xa[1] - xa[0])]
    cmds = lammps_setup(data) + COMPUTE + [
        "run 0", f"create_atoms 1 single {spot[0]!r} {spot[1]!r} {spot[2]!r} units box",
        "group Al type 1", "run 0"]
    res = run_job(tmp_path, cmds, {"c_B": 3}, nprocs=2, name="created")
    assert len(res["id"]) == len(xa) + 1
    np.testing.assert_array_equal(res["c_B"][-1], 0.0)
    old = np.arange(len(xa))
    want = reference_rows(xa, ORTHO, {**res, "x": res["x"][old], "type": res["type"][old]})
    np.testing.assert_array_equal(res["c_B"][old], want)
    assert want[:, 2].max() == UC and want[:, 0].sum() > 0
    again = run_job(tmp_path, cmds + ["compute_modify B reference current", "run 0"], {"c_B": 3},
                    name="created_again")
    assert again["c_B"][-1, 0] > 0


# ---------------------------------------------------------------------------------------------
# parallel: 1 to 4 ranks, atoms migrating between subdomains

@pytest.fixture(scope="module")
def glass_data(tmp_path_factory):
    d = tmp_path_factory.mktemp("bondglass")
    x, types = random_glass()
    write_data(d / "glass.data", x, types, GLASS)
    return d / "glass.data", x


# no forces, fast atoms (mass 1): about 0.1 Å per step
MIGRATE = ["velocity all create 20000 4928 loop geom", "fix move all nve", "timestep 0.004"]


@pytest.mark.mpi
def test_rank_invariance_after_migration(tmp_path, glass_data):
    # reference captured at step 0; after 150 steps most atoms crossed into another subdomain,
    # carrying their reference with them
    data, x0 = glass_data
    cmds = lammps_setup(data) + COMPUTE + ["compute D all displace/atom", *MIGRATE, "run 150"]
    results = {n: run_job(tmp_path, cmds, {"c_B": 3, "c_D": 4}, nprocs=n, name="mig")
               for n in (1, 2, 3, 4)}
    base = results[1]
    assert np.median(base["c_D"][:, 3]) > 10.0
    want = reference_rows(x0, GLASS, base)
    np.testing.assert_array_equal(base["c_B"], want)
    assert np.bincount(want[:, 2].astype(int), minlength=4).min() > 0
    for n in (2, 3, 4):
        assert results[n]["nprocs"] == n
        np.testing.assert_allclose(results[n]["x"], base["x"], rtol=0, atol=1e-9)
        np.testing.assert_array_equal(results[n]["c_B"], base["c_B"])


@pytest.mark.mpi
def test_recapture_grows_the_width(tmp_path):
    # the first reference has CN 1 everywhere; then 9 more O are put around Al 1 and the
    # reference is re-captured: the store must widen to 10 ids per atom, and the wide rows must
    # survive migration on 3 ranks and a restart read on 2
    cell = np.diag([16.0, 16.0, 16.0])
    grid = (np.stack(np.meshgrid(*[np.arange(2)] * 3, indexing="ij"), -1).reshape(-1, 3) + 0.25) * 8.0
    # 8 Al with one O each at 1.5 Å, and 9 more O parked 2.8 Å or more from every Al
    x = np.concatenate([grid, grid + [1.5, 0.0, 0.0], [[12.0, 12.0, 4.0 + k] for k in range(9)]])
    types = np.array([AL] * 8 + [O] * 17)
    data = tmp_path / "sparse.data"
    write_data(data, x, types, cell)
    rng = np.random.default_rng(3)
    dirs = rng.normal(size=(9, 3))
    dirs /= np.linalg.norm(dirs, axis=1)[:, None]
    cluster = x.copy()
    cluster[16:] = x[0] + 2.0 * dirs
    cmds = lammps_setup(data) + COMPUTE + [
        "run 0", *set_positions(cluster, range(17, 26)), "compute_modify B reference current",
        "run 0",
        f"write_dump all custom {tmp_path}/at_capture.dump id x y z modify sort id format float %.17g",
        *MIGRATE, "run 100", f"write_restart {tmp_path}/wide.restart", "run 0"]
    res = run_job(tmp_path, cmds, {"c_B": 3}, nprocs=3, name="wide")
    at_capture = np.loadtxt(tmp_path / "at_capture.dump", skiprows=9)[:, 1:]
    np.testing.assert_allclose(at_capture, wrap(cluster, cell), rtol=0, atol=1e-12)
    want = reference_rows(at_capture, cell, res)
    assert want[0, 0] == 10 and want[1:8, 0].max() == 1
    np.testing.assert_array_equal(res["c_B"], want)
    resumed = ["units metal", "atom_modify map array", f"read_restart {tmp_path}/wide.restart",
               "pair_style zero 4.0", "pair_coeff * *", *COMPUTE[1:], "run 0"]
    again = run_job(tmp_path, resumed, {"c_B": 3}, nprocs=2, name="wide_resumed")
    np.testing.assert_array_equal(again["c_B"], res["c_B"])


# ---------------------------------------------------------------------------------------------
# restarts and compute_modify

@pytest.mark.mpi
@pytest.mark.parametrize("np_whole,np_resumed", [(1, 1), (2, 2), (1, 3)])
def test_restart_keeps_reference(tmp_path, glass_data, np_whole, np_resumed):
    # uninterrupted: capture at step 0, 60 + 60 steps.  Restarted: capture, 60 steps,
    # write_restart; a fresh LAMMPS reads it, re-defines the compute with the same ID and runs
    # 60 more.  A re-captured reference would make every state UC; the file's one must not.
    data, _ = glass_data
    common = ["velocity all create 3000 4928 loop geom", "fix move all nve", "timestep 0.002"]
    whole = lammps_setup(data) + COMPUTE + common + [
        "run 60", f"write_restart {tmp_path}/half.restart", "run 60"]
    a = run_job(tmp_path, whole, {"c_B": 3}, nprocs=np_whole, name="whole")
    resumed = ["units metal", "atom_modify map array", f"read_restart {tmp_path}/half.restart",
               "pair_style zero 4.0", "pair_coeff * *", *COMPUTE[1:],
               "fix move all nve", "run 60"]
    b = run_job(tmp_path, resumed, {"c_B": 3}, nprocs=np_resumed, name="resumed")
    np.testing.assert_allclose(b["x"], a["x"], rtol=0, atol=1e-9)
    np.testing.assert_array_equal(b["c_B"], a["c_B"])
    assert (a["c_B"][:, 2] != UC).sum() > 20


def test_restart_with_other_id_captures_anew(tmp_path, glass_data):
    # a compute with another ID does not see the stored reference: it captures its own
    data, _ = glass_data
    first = lammps_setup(data) + COMPUTE + [*MIGRATE, "run 25", f"write_restart {tmp_path}/r.restart"]
    run_job(tmp_path, first, {"c_B": 3}, name="first")
    other = ["units metal", "atom_modify map array", f"read_restart {tmp_path}/r.restart",
             "pair_style zero 4.0", "pair_coeff * *", f"compute Z Al bondswitch/atom {RC} 2",
             "compute R Al reduce sum c_Z[*]", "thermo_style custom step c_R[*]", "run 0"]
    res = run_job(tmp_path, other, {"c_Z": 3}, name="other")
    al = res["type"] == AL
    assert np.all(res["c_Z"][al, 2] == UC)
    np.testing.assert_array_equal(res["c_Z"][:, 0], res["c_Z"][:, 1])


def test_restart_with_other_cutoff_warns(tmp_path):
    # the stored reference is kept, and the mismatch is pointed out (LAMMPS is cleared in
    # between, which also tears the compute and its store down)
    script = SETUP + "\n".join([
        "compute B Al bondswitch/atom 2.25 2", "compute R Al reduce sum c_B[*]",
        "thermo_style custom step c_R[*]", "run 0", "write_restart r.restart", "clear",
        "read_restart r.restart", "pair_style zero 4.0", "pair_coeff * *",
        "compute B Al bondswitch/atom 2.4 1*2", "run 0"]) + "\n"
    proc = run_lmp(tmp_path, script)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert ("WARNING: Compute bondswitch/atom B: the reference from the restart file was captured "
            "with Rc 2.25 and types 2-2, now Rc 2.4 and types 1-2") in proc.stdout


@pytest.mark.parametrize("compute,store", [("compute B Al bondswitch/atom 2.25 2", "BONDSWITCH/STORE"),
                                           ("compute B all nonaffine/atom 3.0", "NONAFFINE/REFERENCE")])
def test_restart_in_an_older_layout_is_refused(tmp_path, compute, store):
    # the reference store's global record starts with its layout tag (2.0); the records that
    # pysoft wrote before the two computes shared one store started with the captured flag (0
    # or 1), so such a file is refused with one error line instead of being misread
    setup = SETUP.replace("units metal\n", "units metal\natom_modify map yes\n")
    proc = run_lmp(tmp_path, setup + compute + "\nrun 0\nwrite_restart r.restart\n")
    assert proc.returncode == 0, proc.stdout[-2000:]
    data = bytearray((tmp_path / "r.restart").read_bytes())
    # Modify::write_restart: the fix ID, its style (each an int length and the text with its
    # NUL), then the fix's record (an int size and the doubles)
    at = data.index(store.encode() + b"\0") + len(store) + 1 + 4
    assert struct.unpack_from("d", data, at)[0] == 2.0
    struct.pack_into("d", data, at, 1.0)
    (tmp_path / "r.restart").write_bytes(bytes(data))
    msg = error_line(run_lmp(tmp_path, "units metal\nread_restart r.restart\npair_style zero 4.0\n"
                             f"pair_coeff * *\n{compute}\nrun 0\n"))
    assert f"Fix {store} B_{store.replace('/', '_')}: the restart file holds a reference written by " \
           "an older pysoft" in msg


@pytest.mark.mpi
def test_reference_current_resets_to_uc(tmp_path, glass_data, nprocs=2):
    data, x0 = glass_data
    moved = lammps_setup(data) + COMPUTE + [*MIGRATE, "run 50"]
    a = run_job(tmp_path, moved, {"c_B": 3}, nprocs=nprocs, name="before")
    assert (a["c_B"][:, 2] != UC).sum() > 20
    reset = moved + ["compute_modify B reference current", "run 0"]
    b = run_job(tmp_path, reset, {"c_B": 3}, nprocs=nprocs, name="reset")
    al = b["type"] == AL
    assert np.all(b["c_B"][:, 2] == UC)
    np.testing.assert_array_equal(b["c_B"][:, 0], b["c_B"][:, 1])
    np.testing.assert_array_equal(b["c_B"][:, 1], a["c_B"][:, 1])
    # and the new reference is followed from there on
    later = reset + ["run 50"]
    c = run_job(tmp_path, later, {"c_B": 3}, nprocs=nprocs, name="later")
    want = ref.bond_switching(b["x"], GLASS, c["x"], GLASS, c["type"], al, RC, (O,))
    np.testing.assert_array_equal(c["c_B"], want)


def test_uncompute_and_define_again(tmp_path, glass_data):
    # a compute re-defined with the same ID after uncompute starts from a new reference
    data, _ = glass_data
    cmds = lammps_setup(data) + COMPUTE + [
        *MIGRATE, "run 25", "thermo_style one", "uncompute R", "uncompute B", "run 25",
        *COMPUTE[1:], "run 0"]
    res = run_job(tmp_path, cmds, {"c_B": 3}, name="uncompute")
    assert np.all(res["c_B"][:, 2] == UC) and res["c_B"][:, 0].sum() > 0


# ---------------------------------------------------------------------------------------------
# bad input: one ERROR line each

SETUP = """units metal
region b block 0 8 0 8 0 8
create_box 2 b
create_atoms 1 random 20 1 NULL
create_atoms 2 random 30 2 NULL
mass * 1.0
pair_style zero 4.0
pair_coeff * *
group Al type 1
"""


def run_case(tmp_path, lines, setup=SETUP, nprocs=1):
    return error_line(run_lmp(tmp_path, setup + lines + "\nrun 0\n", nprocs=nprocs))


@pytest.mark.parametrize("args,expect", [
    ("2.25", "Illegal compute bondswitch/atom command: missing argument"),
    ("", "Illegal compute bondswitch/atom command: missing argument"),
    ("2.25 2 extra", "it takes 2 arguments (Rc TYPES), got 3; first extra argument: extra"),
    ("0", "Illegal compute bondswitch/atom command: missing argument"),
])
def test_argument_count(tmp_path, args, expect):
    assert expect in run_case(tmp_path, f"compute B Al bondswitch/atom {args}")


@pytest.mark.parametrize("rc", ["0", "0.0", "-2.25", "abc", "2.25x"])
def test_bad_cutoff(tmp_path, rc):
    msg = run_case(tmp_path, f"compute B Al bondswitch/atom {rc} 2")
    assert f"Compute bondswitch/atom bond cutoff Rc must be a positive number, not {rc}" in msg


@pytest.mark.parametrize("types", ["3", "0", "2*5", "2*1", "O", "-1"])
def test_bad_type_range(tmp_path, types):
    msg = run_case(tmp_path, f"compute B Al bondswitch/atom 2.25 {types}")
    assert f"neighbour types {types} are not a type or type range within 1-2" in msg


@pytest.mark.parametrize("nprocs", [1, 2])
def test_ghost_range_names_comm_modify(tmp_path, nprocs):
    setup = SETUP.replace("pair_style zero 4.0", "pair_style zero 2.0")
    msg = run_case(tmp_path, "compute B Al bondswitch/atom 2.25 2", setup=setup, nprocs=nprocs)
    assert "Compute bondswitch/atom cutoff 2.25 + neighbor skin 2 exceeds the ghost-atom range 4" in msg
    assert "use comm_modify cutoff 4.25" in msg


@pytest.mark.parametrize("line,expect", [
    ("compute_modify B reference bogus", "compute_modify reference takes 'current', not bogus"),
    ("compute_modify B reference", "Illegal compute_modify reference command: missing argument"),
    ("compute_modify B refrence current", "does not support compute_modify refrence"),
    # the form every LAMMPS release accepts (lammps_compat.h)
    ("fix_modify B_BONDSWITCH_STORE reference bogus", "fix_modify reference takes 'current', not bogus"),
    ("fix_modify B_BONDSWITCH_STORE reference", "Illegal fix_modify reference command: missing argument"),
])
def test_bad_compute_modify(tmp_path, line, expect):
    msg = run_case(tmp_path, f"compute B Al bondswitch/atom 2.25 2\n{line}")
    assert expect in msg


def test_store_removed_by_hand(tmp_path):
    msg = run_case(tmp_path, "compute B Al bondswitch/atom 2.25 2\nunfix B_BONDSWITCH_STORE")
    assert "Compute bondswitch/atom B lost its reference: fix B_BONDSWITCH_STORE was deleted" in msg


def test_uncompute_deletes_store(tmp_path):
    msg = run_case(tmp_path, "compute B Al bondswitch/atom 2.25 2\nuncompute B\nunfix B_BONDSWITCH_STORE")
    assert "B_BONDSWITCH_STORE" in msg and "ould not find" in msg


def test_reset_atoms_id_refused(tmp_path):
    msg = run_case(tmp_path, "compute B Al bondswitch/atom 2.25 2\nreset_atoms id")
    assert "Cannot use reset_atoms id with a fix BONDSWITCH/STORE storing atom IDs" in msg


def test_store_takes_no_arguments(tmp_path):
    msg = run_case(tmp_path, "fix S all BONDSWITCH/STORE 5")
    assert "internal to compute bondswitch/atom" in msg
