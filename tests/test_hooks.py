"""pysoft.hooks.PlaneStrainTally: the per-step time series, its rank invariance, restarts."""

import json

import numpy as np
import pytest

from conftest import random_system, run_job, write_data

CELL = np.array([[16.0, 0, 0], [0, 15.0, 0], [0, 0, 15.5]])


def reference_cluster_sizes(points, cell, cutoff):
    """Breadth-first search over the minimum-image distance graph (independent of the hook)."""
    n = len(points)
    inv = np.linalg.inv(cell)
    d = (points[:, None, :] - points[None, :, :]) @ inv
    d -= np.round(d)
    r = np.linalg.norm(d @ cell, axis=-1)
    adj = (r < cutoff) & ~np.eye(n, dtype=bool)
    seen = np.zeros(n, bool)
    sizes = []
    for i in range(n):
        if seen[i]:
            continue
        stack, size = [i], 0
        seen[i] = True
        while stack:
            k = stack.pop()
            size += 1
            for j in np.flatnonzero(adj[k] & ~seen):
                seen[j] = True
                stack.append(j)
        sizes.append(size)
    return sorted(sizes)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cluster_sizes_against_bfs(seed):
    from pysoft.tally import cluster_sizes

    rng = np.random.default_rng(seed)
    cell = np.array([[12.0, 0, 0], [1.5, 11.0, 0], [-0.8, 0.6, 12.5]])
    pts = rng.random((150, 3)) @ cell
    assert sorted(cluster_sizes(pts, cell, 3.7).tolist()) == reference_cluster_sizes(pts, cell, 3.7)
    assert cluster_sizes(pts[:0], cell, 3.7).size == 0


def loop_commands(data, model, series, nsteps, restart="no", extra_setup=(), start=0):
    """A quasi-static strain loop whose atom motion is the same on any rank count: an affine
    stretch of 1 % per step, then a displacement of every atom that is a fixed function of its
    id and the step (no MD, whose trajectories differ in the last bits between rank counts)."""
    cmds = ["units metal", "atom_modify map array", f"read_data {data}",
            "pair_style lj/cut 6.0", "pair_coeff * * 0.01 2.0", "comm_modify cutoff 13.5", "group al type 1",
            f"compute pysoft_S al softness {model} Al O", "compute pysoft_B al bondswitch/atom 2.25 2",
            "fix pysoft_state all property/atom d_pysoft_D d_pysoft_S0 d_pysoft_X0 ghost no",
            "compute pysoft_xu all property/atom xu yu zu",
            "compute pysoft_NA all nonaffine/atom 4.0",
            "compute pysoft_stress all stress/atom NULL", "compute pysoft_vol all voronoi/atom",
            *extra_setup,
            f"fix pysoft_tally all pysoft/invoke 1 pysoft.hooks:PlaneStrainTally at run0 arg out {series} "
            f"arg unwrapped pysoft_xu arg X0 pysoft_X0 arg restart {restart}",
            "run 0 post no", "fix_modify pysoft_NA_NONAFFINE_REFERENCE reference current"]
    for k in range(start + 1, start + 1 + nsteps):
        cmds += ["change_box all x scale 1.01 remap",
                 f"variable dx atom 0.05*sin(id*{0.7 * k}) ", f"variable dy atom 0.05*cos(id*{1.3 * k})",
                 "variable dz atom 0.03*sin(id+{k})".replace("{k}", str(k)),
                 "displace_atoms all move v_dx v_dy v_dz units box", "run 0 post no",
                 "fix_modify pysoft_NA_NONAFFINE_REFERENCE reference current"]
    return cmds


def read_series(path):
    lines = [json.loads(line) for line in open(path)]
    return lines[0], lines[1:]


@pytest.fixture(scope="module")
def glass(tmp_path_factory):
    d = tmp_path_factory.mktemp("hglass")
    x, types = random_system(300, CELL, seed=7)
    write_data(d / "g.data", x, types, CELL)
    return d / "g.data"


def assert_series_equal(a, b, rtol=1e-10):
    """Rows equal: floats to rtol, counts and histograms exactly (they are integers)."""
    assert len(a) == len(b)

    def same(va, vb, where):
        if isinstance(va, dict):
            assert va.keys() == vb.keys(), where
            for k in va:
                same(va[k], vb[k], f"{where}.{k}")
        elif isinstance(va, list) and None in va + vb:         # empty slabs of a profile: null
            assert [v is None for v in va] == [v is None for v in vb], where
            same([v for v in va if v is not None], [v for v in vb if v is not None], where)
        elif isinstance(va, (list, int)) and not isinstance(va, bool):
            np.testing.assert_array_equal(np.asarray(va), np.asarray(vb), err_msg=where) \
                if np.asarray(va).dtype.kind == "i" else \
                np.testing.assert_allclose(va, vb, rtol=rtol, atol=1e-12, err_msg=where)
        else:
            np.testing.assert_allclose(va, vb, rtol=rtol, atol=1e-12, err_msg=where)

    for ra, rb in zip(a, b):
        same(ra, rb, f"step {ra['step']}")


@pytest.mark.mpi
def test_series_rank_invariant(tmp_path, glass, trained):
    _, model, _ = trained
    series = {}
    for n in (1, 2, 4):
        out = tmp_path / f"s{n}.jsonl"
        run_job(tmp_path, loop_commands(glass, model, out, 4), nprocs=n, name=f"loop{n}")
        series[n] = read_series(out)
    header, rows = series[1]
    assert header["format"] == "pysoft-series" and header["units"]["stress"].startswith("GPa")
    assert [r["step"] for r in rows] == [0, 1, 2, 3, 4]
    np.testing.assert_allclose([r["strain"] for r in rows], 1.01 ** np.arange(5) - 1, rtol=1e-12)
    for r in rows:
        assert r["n_centre"] == int(np.sum(read_types(glass) == 1))
        assert sum(r["softness"]["hist"]) == r["n_centre"]
        assert r["clusters"]["soft_atoms"] >= 0.1 * r["n_centre"] - 1
        assert 1 <= r["clusters"]["largest"] <= r["clusters"]["soft_atoms"]
        assert sum(r["local_stress_GPa"]["all"]) == r["n_centre"]
        assert sum(r["bond_fraction"].values()) == pytest.approx(1.0)
        assert sum(r["p_dc_al5_by_s0"]["total"]) == sum(r["bond_counts_by_cn0"]["5"].values())
        assert sum(r["profile"]["n"]) == 300 and sum(r["profile"]["n_centre"]) == r["n_centre"]
    # slab means: at step 0 inside their own slab; then the 1 % stretches keep them in order
    u0 = np.array(rows[0]["profile"]["u_mean"], float)        # None (an empty slab) -> nan
    full = np.isfinite(u0)
    assert full.sum() >= 15
    lo, hi = np.arange(20) / 20, np.arange(1, 21) / 20
    assert np.all((u0[full] >= lo[full]) & (u0[full] < hi[full])), u0
    assert np.all(np.abs(np.array(rows[-1]["profile"]["u_mean"], float)[full] - u0[full]) < 0.01)
    assert rows[0]["bond_fraction"]["UC"] == 1.0          # the reference is step 0 itself
    assert rows[-1]["bond_fraction"]["UC"] < 1.0           # 4 % stretch and shuffles switch bonds
    # D grows: every step adds sqrt(D2min) of the id-dependent (non-affine) displacements
    D = [r["D_A"]["mean"] for r in rows]
    assert D[0] == 0.0 and all(b > a for a, b in zip(D, D[1:]))
    for n in (2, 4):
        assert_series_equal(series[n][1], rows)


def read_types(data):
    lines = open(data).read().split("Atoms # atomic")[1].strip().splitlines()
    return np.array([int(line.split()[1]) for line in lines])


def test_softness_and_clusters_match_direct_evaluation(tmp_path, glass, trained):
    from pysoft.tally import cluster_sizes

    _, model_path, model = trained
    out = tmp_path / "s.jsonl"
    cmds = loop_commands(glass, model_path, out, 0) + ["compute F al structure/atom default Al O", "run 0"]
    res = run_job(tmp_path, cmds, {"c_F": 150}, name="direct")
    _, rows = read_series(out)
    al = res["type"] == 1
    S = model.softness(res["c_F"][al])
    assert rows[0]["softness"]["mean"] == pytest.approx(S.mean(), rel=1e-10)
    thr = np.quantile(S, 0.9)
    assert rows[0]["clusters"]["threshold"] == pytest.approx(thr, rel=1e-10)
    sizes = cluster_sizes(res["x"][al][S >= thr], CELL, 3.7)
    assert rows[0]["clusters"]["number"] == len(sizes) and rows[0]["clusters"]["largest"] == sizes.max()


@pytest.mark.mpi
def test_series_survives_restart(tmp_path, glass, trained):
    _, model, _ = trained
    whole = tmp_path / "whole.jsonl"
    run_job(tmp_path, loop_commands(glass, model, whole, 4), nprocs=2, name="whole")
    part = tmp_path / "part.jsonl"
    first = loop_commands(glass, model, part, 2) + [f"write_restart {tmp_path}/half.restart"]
    run_job(tmp_path, first, nprocs=2, name="first")
    resumed = loop_commands(glass, model, part, 2, restart="yes", start=2)
    resumed[2] = f"read_restart {tmp_path}/half.restart"
    # LAMMPS allows change_box only after a run has consumed the restart file's per-atom data:
    # a "run 0" with every restartable fix defined, before the tally hook exists (so it adds no
    # row for the restored state); the loop then continues at step 3
    idx = resumed.index("run 0 post no")
    tally = next(i for i, c in enumerate(resumed) if "pysoft/invoke" in c)
    resumed.insert(idx, resumed.pop(tally))
    run_job(tmp_path, resumed, nprocs=2, name="resumed")
    assert_series_equal(read_series(part)[1], read_series(whole)[1])


@pytest.mark.mpi
def test_post_processing_of_dumps_gives_the_same_series(tmp_path, glass, trained):
    """The dump-and-post-process way (bench/bench_analysis.py, part B) tallies the same numbers:
    snapshots written inside the loop and read back with read_dump, one at a time, into a
    LAMMPS with the same computes and hook give the on-the-fly series to 1e-10."""
    _, model, _ = trained
    live = tmp_path / "live.jsonl"
    cmds, k = [], 0
    for c in loop_commands(glass, model, live, 3):
        if c == "run 0 post no":
            cmds.append(f"write_dump all custom {tmp_path}/f{k}.dump id type x y z ix iy iz "
                        "modify format float %.17g")
            k += 1
        cmds.append(c)
    run_job(tmp_path, cmds, nprocs=2, name="live")
    post = tmp_path / "post.jsonl"
    setup = loop_commands(glass, model, post, 0)
    cmds = setup[:setup.index("run 0 post no")]
    for i in range(k):
        cmds += [f"read_dump {tmp_path}/f{i}.dump 0 x y z ix iy iz box yes replace yes purge no add no",
                 "run 0 post no", "fix_modify pysoft_NA_NONAFFINE_REFERENCE reference current"]
    run_job(tmp_path, cmds, nprocs=2, name="post")
    rows = read_series(live)[1]
    assert len(rows) == 4 and rows[-1]["bond_fraction"]["UC"] < 1.0
    assert_series_equal(read_series(post)[1], rows)


TRICLINIC = np.array([[16.0, 0, 0], [2.1, 15.0, 0], [-1.4, 0.9, 15.5]])


@pytest.mark.mpi
@pytest.mark.parametrize("cell", [CELL, TRICLINIC], ids=["orthogonal", "triclinic"])
def test_profile_matches_brute_force(tmp_path, trained, cell):
    """The slab profile of the last row, recomputed from the gathered unwrapped positions, the
    initial positions of the data file and the softness of each Al (2 ranks): X0 and u are
    fractional coordinates along x (the inverse cell applied to the unwrapped position)."""
    _, model, _ = trained
    x, types = random_system(300, cell, seed=7)
    write_data(tmp_path / "g.data", x, types, cell)
    out = tmp_path / "p.jsonl"
    cmds = loop_commands(tmp_path / "g.data", model, out, 3) + ["run 0"]   # the extra run 0 repeats the last step
    res = run_job(tmp_path, cmds, {"c_pysoft_xu": 3, "c_pysoft_S": 1, "d_pysoft_X0": 1}, nprocs=2, name="prof")
    last = read_series(out)[1][-1]["profile"]
    X0 = (read_positions(tmp_path / "g.data") @ np.linalg.inv(cell))[:, 0]    # in the box at the start
    np.testing.assert_allclose(res["d_pysoft_X0"][:, 0], X0, rtol=0, atol=1e-12)
    (lx, ly, lz), (xy, yz, xz) = np.subtract(res["boxhi"], res["boxlo"]), res["tilt"]
    now = np.array([[lx, 0, 0], [xy, ly, 0], [xz, yz, lz]])
    u = ((res["c_pysoft_xu"] - res["boxlo"]) @ np.linalg.inv(now))[:, 0] - np.floor(X0)
    slab = np.minimum((np.mod(X0, 1.0) * 20).astype(int), 19)
    al = res["type"] == 1
    for b in range(20):
        sel = slab == b
        assert last["n"][b] == sel.sum() and last["n_centre"][b] == (sel & al).sum()
        if sel.any():
            assert last["u_mean"][b] == pytest.approx(u[sel].mean(), rel=1e-10, abs=1e-12)
        else:
            assert last["u_mean"][b] is None
        if (sel & al).any():
            assert last["S_mean"][b] == pytest.approx(res["c_pysoft_S"][sel & al, 0].mean(), rel=1e-10, abs=1e-12)


def read_positions(data):
    lines = open(data).read().split("Atoms # atomic")[1].strip().splitlines()
    rows = sorted((int(line.split()[0]), [float(v) for v in line.split()[2:5]]) for line in lines)
    return np.array([r[1] for r in rows])


# -- the series file: refusal, replace, resume ----------------------------------------------------


def write_series(path, steps, torn=False):
    head = {"format": "pysoft-series", "version": 1, "length0_A": 16.0,
            "bins": {"softness": [0.0, 1.0], "D_A": [0.0, 1.0], "local_stress_GPa": [0.0, 1.0]}}
    lines = [json.dumps(head)] + [json.dumps({"step": k, "strain": 0.01 * k}) for k in steps]
    path.write_text("\n".join(lines) + "\n" + ('{"step": 9, "str' if torn else ""))


def tally(path, **kw):
    from pysoft.hooks import PlaneStrainTally

    return PlaneStrainTally(None, out=str(path), **{k: str(v) for k, v in kw.items()})


def test_existing_series_is_refused_unless_replaced(tmp_path):
    from pysoft.hooks import SeriesFileError

    out = tmp_path / "s.jsonl"
    write_series(out, range(3))
    before = out.read_text()
    with pytest.raises(SeriesFileError) as err:
        tally(out)
    msg = str(err.value)
    assert "\n" not in msg and str(out) in msg and "arg replace yes" in msg and "arg restart yes" in msg
    assert err.value.collective and out.read_text() == before
    t = tally(out, replace="yes")
    assert not out.exists() and t.step == 0 and t.length0 is None


@pytest.mark.parametrize("resume,steps,message", [
    (None, [0, 1, 2], None),                     # continue after the last row
    (3, [0, 1, 2], None),
    (2, [0, 1], "dropped 1 rows (steps 2..2)"),  # the restart file predates the last row
    (1, [0], "dropped 2 rows (steps 1..2)"),
])
def test_resume_drops_the_rows_after_the_restart_file(tmp_path, capsys, resume, steps, message):
    out = tmp_path / "s.jsonl"
    write_series(out, range(3))
    kw = {"restart": "yes"} if resume is None else {"restart": "yes", "resume_step": resume}
    t = tally(out, **kw)
    head, rows = read_series(out)
    assert [r["step"] for r in rows] == steps and t.step == steps[-1] + 1
    assert t.length0 == 16.0 and head["format"] == "pysoft-series"
    said = capsys.readouterr().out
    assert (message in said) if message else said == ""
    assert not list(tmp_path.glob("*.tmp*"))


def test_resume_removes_a_torn_line(tmp_path, capsys):
    out = tmp_path / "s.jsonl"
    write_series(out, range(3), torn=True)
    t = tally(out, restart="yes")
    assert [r["step"] for r in read_series(out)[1]] == [0, 1, 2] and t.step == 3
    assert "removed 1 torn lines" in capsys.readouterr().out


@pytest.mark.parametrize("kw,expect", [
    ({"restart": "yes", "resume_step": 5}, "ends at step 2; resuming at step 5 would leave steps 3..4 missing"),
    ({"restart": "yes", "resume_step": 0}, "step 0 is the reference state"),
    ({"resume_step": 2}, "resume_step 2 needs restart yes"),
])
def test_resume_refusals(tmp_path, kw, expect):
    from pysoft.hooks import SeriesFileError

    out = tmp_path / "s.jsonl"
    write_series(out, range(3))
    before = out.read_text()
    with pytest.raises(SeriesFileError, match=expect):
        tally(out, **kw)
    assert out.read_text() == before


def test_restart_of_a_missing_series_is_refused(tmp_path):
    from pysoft.hooks import SeriesFileError

    with pytest.raises(SeriesFileError, match="does not exist"):
        tally(tmp_path / "none.jsonl", restart="yes")


@pytest.mark.mpi
def test_refusal_is_one_error_line_from_lmp(tmp_path, glass, trained):
    """Through the fix, on 2 ranks: one ERROR line naming the file and the way out; the file
    is left as it was."""
    from test_structure_errors import error_line

    from conftest import run_lmp

    _, model, _ = trained
    out = tmp_path / "s.jsonl"
    write_series(out, range(3))
    before = out.read_text()
    script = "\n".join(loop_commands(glass, model, out, 1)) + "\n"
    line = error_line(run_lmp(tmp_path, script, nprocs=2, timeout=120))
    assert f"series file {out} exists; add 'arg replace yes'" in line and "PlaneStrainTally" in line
    assert out.read_text() == before
    replaced = script.replace("arg restart no", "arg restart no arg replace yes")
    proc = run_lmp(tmp_path, replaced, nprocs=2, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert [r["step"] for r in read_series(out)[1]] == [0, 1]


@pytest.mark.mpi
def test_series_resumed_from_an_older_restart_file(tmp_path, glass, trained):
    """The first run goes on to step 4 after writing its restart file at step 2; the resumed run
    (resume_step 3) drops rows 3 and 4 and tallies them again: the series of the uninterrupted run."""
    _, model, _ = trained
    whole = tmp_path / "whole.jsonl"
    run_job(tmp_path, loop_commands(glass, model, whole, 4), nprocs=2, name="whole")
    part = tmp_path / "part.jsonl"
    first = loop_commands(glass, model, part, 4)
    ends = [i for i, c in enumerate(first) if c.startswith("fix_modify pysoft_NA")]
    first.insert(ends[2] + 1, f"write_restart {tmp_path}/step2.restart")
    run_job(tmp_path, first, nprocs=2, name="first")
    assert [r["step"] for r in read_series(part)[1]] == [0, 1, 2, 3, 4]
    resumed = loop_commands(glass, model, part, 2, restart="yes", start=2)
    resumed[2] = f"read_restart {tmp_path}/step2.restart"
    idx = resumed.index("run 0 post no")
    tally_at = next(i for i, c in enumerate(resumed) if "pysoft/invoke" in c)
    resumed.insert(idx, resumed.pop(tally_at) + " arg resume_step 3")
    run_job(tmp_path, resumed, nprocs=2, name="resumed")
    assert_series_equal(read_series(part)[1], read_series(whole)[1])
