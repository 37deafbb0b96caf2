"""pysoft.tally: the series row from per-atom arrays, without LAMMPS; on one rank (SerialComm)
and under mpirun (mpi4py), against numpy's quantile and a breadth-first search of clusters."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import HERE, mpi_prefix
from test_hooks import assert_series_equal, reference_cluster_sizes

CELL = np.array([[21.0, 0.0, 0.0], [2.0, 19.5, 0.0], [-1.5, 1.0, 20.5]])


def synthetic_frame(n=2400, cell=CELL, seed=3):
    """A frame of n atoms: softness correlated in space (so that the soft atoms cluster), D, bond
    states, local stress and slab coordinates drawn at random; every array of the whole box."""
    from pysoft.tally import Frame

    rng = np.random.default_rng(seed)
    cell = np.asarray(cell, float)
    boxlo = np.array([-3.0, 1.0, 0.5])
    frac = rng.random((n, 3))
    x = frac @ cell + boxlo
    centre = rng.random(n) < 0.4
    nc = int(centre.sum())
    S = np.sin(x[centre, 0] / 2.5) * np.cos(x[centre, 1] / 3.0) + 0.3 * rng.normal(size=nc)
    S[:25] = S[0]                                   # ties, also at the threshold's neighbourhood
    B = np.stack([rng.integers(3, 8, nc), rng.integers(3, 8, nc), rng.integers(0, 4, nc)], axis=1).astype(float)
    X0 = frac[:, 0] + rng.integers(-1, 2, n)
    return Frame(step=4, strain=0.04, stress_GPa={"xx": 1.0, "yy": 0.1, "zz": 0.2, "xy": 0.0, "xz": 0.0, "yz": 0.0},
                 ids=rng.permutation(n).astype(np.int64) + 1, x=x, centre=centre, boxlo=boxlo, cell=cell, S=S,
                 D=rng.exponential(0.5, nc), B=B, S0=rng.normal(size=nc), hyd=rng.normal(40, 10, nc),
                 vol=rng.normal(9.0, 1.0, nc), frac=X0 + 0.01 * rng.normal(size=n), X0=X0)


def part(f, mask):
    """The frame of the atoms in `mask` (one rank's share)."""
    from dataclasses import replace

    cm = mask[f.centre]
    per_atom = {k: getattr(f, k)[mask] for k in ("ids", "x", "centre", "frac", "X0")}
    per_centre = {k: getattr(f, k)[cm] for k in ("S", "D", "B", "S0", "hyd", "vol")}
    return replace(f, **per_atom, **per_centre)


def serial_row(f, **kw):
    from pysoft.tally import SerialComm, first_bins, tally_row

    comm = SerialComm()
    return tally_row(comm, f, first_bins(comm, f.S, f.hyd), **kw)


def test_profile_means_are_brute_force():
    """The per-slab means of the centre atoms (softness, local stress, Voronoi volume, initial
    CN: the crack-ranking baselines of pysoft.claims) equal a loop over the slabs."""
    f = synthetic_frame()
    prof = serial_row(f)["profile"]
    slab = np.minimum((np.mod(f.X0, 1.0) * 20).astype(int), 19)[f.centre]
    for key, v in (("S_mean", f.S), ("hyd_mean", f.hyd), ("V_mean", f.vol), ("CN0_mean", f.B[:, 0])):
        for b in range(20):
            assert prof[key][b] == pytest.approx(v[slab == b].mean(), rel=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_quantile_is_numpys(seed):
    from pysoft.tally import SerialComm, order_statistic, quantile

    rng = np.random.default_rng(seed)
    for n in (1, 2, 3, 9, 10, 11, 101, 6480, 16201):
        v = rng.normal(size=n) * 10.0 ** rng.integers(-5, 5)
        if n > 10:
            v[rng.integers(0, n, n // 4)] = v[0]        # ties
        for q in (0.9, 1 - 0.1, 0.5, 0.0, 1.0, 0.123456789):
            assert quantile(SerialComm(), v, q) == np.quantile(v, q), (n, q)
    v = np.array([-0.0, 0.0, -1.5, 3e-310, -3e-310, np.inf, -np.inf, 7.0])
    assert [order_statistic(SerialComm(), v, k) for k in range(len(v))] == np.sort(v).tolist()


@pytest.mark.parametrize("seed,n,cutoff", [(0, 150, 3.7), (1, 400, 2.5), (2, 60, 3.7), (3, 0, 3.7)])
def test_cluster_stats_against_bfs(seed, n, cutoff):
    from pysoft.tally import SerialComm, cluster_sizes, cluster_stats

    rng = np.random.default_rng(seed)
    cell = np.array([[12.0, 0, 0], [1.5, 11.0, 0], [-0.8, 0.6, 12.5]])
    pts = rng.random((n, 3)) @ cell + 5.0
    want = reference_cluster_sizes(pts, cell, cutoff)
    assert sorted(cluster_sizes(pts, cell, cutoff).tolist()) == want
    got = cluster_stats(SerialComm(), np.arange(n) + 1, pts, np.full(3, 5.0), cell, cutoff)
    assert got == {"number": len(want), "largest": max(want, default=0), "soft_atoms": n}


def test_cutoff_beyond_half_the_cell_is_refused():
    from pysoft.tally import cluster_sizes

    with pytest.raises(ValueError, match="half the shortest cell height"):
        cluster_sizes(np.zeros((2, 3)), np.diag([7.0, 20.0, 20.0]), 3.7)


def test_row_threshold_and_clusters_as_gathered():
    """What the old hook did on the gathered arrays: np.quantile, then S >= threshold, then the
    clusters of those atoms."""
    f = synthetic_frame()
    row = serial_row(f)
    S, xc = f.S, f.x[f.centre]
    thr = np.quantile(S, 0.9)
    sizes = reference_cluster_sizes(xc[S >= thr], f.cell, 3.7)
    assert row["clusters"] == {"number": len(sizes), "largest": max(sizes), "soft_atoms": int((S >= thr).sum()),
                               "threshold": thr}
    assert len(sizes) > 3 and max(sizes) > 3            # the test has real clusters
    assert row["softness"]["mean"] == pytest.approx(S.mean(), rel=1e-14)
    assert row["softness"]["std"] == pytest.approx(S.std(), rel=1e-12)
    assert sum(row["softness"]["hist"]) == row["n_centre"] == len(S)


MPI_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    from mpi4py import MPI
    sys.path.insert(0, {tests!r})
    from test_tally import synthetic_frame, part
    from pysoft.tally import first_bins, tally_row
    from pysoft.hooks import _jsonable

    comm = MPI.COMM_WORLD
    out = {{}}
    for name, cell in {cells!r}.items():
        f = synthetic_frame(cell=np.array(cell))
        owner = np.random.default_rng(11).integers(0, comm.Get_size(), len(f.ids))
        mine = part(f, owner == comm.Get_rank())
        row = tally_row(comm, mine, first_bins(comm, mine.S, mine.hyd))
        out[name] = row
    if comm.Get_rank() == 0:
        with open({path!r}, "w") as fh:
            json.dump(out, fh, default=_jsonable)
""")

CELLS = {"cube": CELL.tolist(), "thin": [[8.0, 0, 0], [0.5, 40.0, 0], [0, 0, 9.0]],
         "small": [[9.0, 0, 0], [0, 8.5, 0], [0, 0, 8.0]]}    # two slabs, whatever the ranks


@pytest.mark.mpi
@pytest.mark.parametrize("nprocs", [2, 3, 4])
def test_row_rank_invariant_under_mpirun(tmp_path, nprocs):
    """Atoms dealt to the ranks at random (not by space): every field of the row equals the
    one-process row; the threshold and the cluster counts exactly."""
    from pysoft.hooks import _jsonable

    path = tmp_path / "rows.json"
    script = tmp_path / "job.py"
    script.write_text(MPI_SCRIPT.format(tests=HERE, cells=CELLS, path=str(path)))
    proc = subprocess.run(mpi_prefix(nprocs) + [sys.executable, str(script)], cwd=str(tmp_path),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads(path.read_text())
    for name, cell in CELLS.items():
        want = json.loads(json.dumps(serial_row(synthetic_frame(cell=np.array(cell))), default=_jsonable))
        assert rows[name]["clusters"] == want["clusters"], name
        assert_series_equal([rows[name]], [want], rtol=1e-12)


def test_p_dc_bins_fit_the_first_step():
    # S0 of a model with a small scale (+-0.3): the P(DC | S0) bins come from the first step's
    # softness, span its range in S0_BINS / 2 to S0_BINS bins, and count every Al5 and DC Al5
    from dataclasses import replace

    from pysoft import series
    from pysoft.tally import SerialComm, first_bins, tally_row

    f = synthetic_frame(n=1500, seed=3)
    S0 = 0.1 * f.S0
    f = replace(f, S=S0.copy(), S0=S0)
    comm = SerialComm()
    bins = first_bins(comm, f.S, f.hyd)
    edges = bins["s0"]
    assert edges[0] <= S0.min() and edges[-1] >= S0.max()
    # a round width (1, 2, 2.5 or 5 times a power of ten) of at most twice range / S0_BINS
    assert series.S0_BINS // 2 <= len(edges) - 1 <= series.S0_BINS + 1
    row = tally_row(comm, f, bins)
    cn0, state = f.B[:, 0].astype(int), f.B[:, 2].astype(int)
    al5 = cn0 == 5
    want_tot = [int(np.sum(al5 & (S0 >= a) & (S0 < b))) for a, b in zip(edges[:-1], edges[1:])]
    want_tot[-1] += int(np.sum(al5 & (S0 >= edges[-1])))
    want_dc = [int(np.sum(al5 & (state == 1) & (S0 >= a) & (S0 < b))) for a, b in zip(edges[:-1], edges[1:])]
    want_dc[-1] += int(np.sum(al5 & (state == 1) & (S0 >= edges[-1])))
    assert row["p_dc_al5_by_s0"]["total"] == want_tot
    assert row["p_dc_al5_by_s0"]["dc"] == want_dc
    # the fixed fallback would have put them all into the two middle bins
    assert np.count_nonzero(np.histogram(S0, series.S0_EDGES)[0]) <= 2
