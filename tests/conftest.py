"""Shared test helpers: run LAMMPS (under mpirun when asked) and write its inputs.

Tests that need MPI start it themselves with the mpirun of the MPICH wheel, oversubscribing
the 2-core machine for 3 and 4 ranks (correctness runs, not timing).
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.dirname(sys.executable)
LMP = os.path.join(BIN, "lmp")
MPIRUN = os.path.join(BIN, "mpirun")
JOB = os.path.join(HERE, "lammps_job.py")
TIMEOUT = 300


def mpi_prefix(nprocs):
    return [] if nprocs == 1 else [MPIRUN, "-np", str(nprocs)]


def run_job(workdir, commands, gather=None, nprocs=1, name="job", scalars=()):
    """Run LAMMPS commands under `nprocs` ranks; return the rank-0 results (id-sorted)."""
    out = os.path.join(str(workdir), f"{name}_np{nprocs}.npz")
    job = os.path.join(str(workdir), f"{name}_np{nprocs}.json")
    with open(job, "w") as fh:
        json.dump({"commands": commands, "gather": gather or {}, "out": out,
                   "scalars": list(scalars)}, fh)
    proc = subprocess.run(mpi_prefix(nprocs) + [sys.executable, JOB, job], cwd=str(workdir),
                          capture_output=True, text=True, timeout=TIMEOUT)
    if proc.returncode != 0:
        raise AssertionError(f"LAMMPS job failed ({nprocs} ranks):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return dict(np.load(out))


def run_lmp(workdir, script, nprocs=1, args=(), timeout=120):
    """Run the wheel's `lmp` executable on an input script; return the CompletedProcess."""
    path = os.path.join(str(workdir), "in.test")
    with open(path, "w") as fh:
        fh.write(script)
    return subprocess.run(mpi_prefix(nprocs) + [LMP, "-in", "in.test", "-log", "none", *args],
                          cwd=str(workdir), capture_output=True, text=True, timeout=timeout)


def write_data(path, x, types, cell, origin=(0.0, 0.0, 0.0), ntypes=None, ids=None):
    """A LAMMPS atomic data file; `cell` rows are a=(lx,0,0), b=(xy,ly,0), c=(xz,yz,lz)."""
    x = np.asarray(x, float)
    ids = np.arange(1, len(x) + 1) if ids is None else ids
    ntypes = int(max(types)) if ntypes is None else ntypes
    cell = np.asarray(cell, float)
    lx, ly, lz = (float(v) for v in np.diag(cell))
    xy, xz, yz = float(cell[1][0]), float(cell[2][0]), float(cell[2][1])
    ox, oy, oz = (float(v) for v in origin)
    lines = ["pysoft test data", "", f"{len(x)} atoms", f"{ntypes} atom types", "",
             f"{ox!r} {ox + lx!r} xlo xhi", f"{oy!r} {oy + ly!r} ylo yhi", f"{oz!r} {oz + lz!r} zlo zhi"]
    if xy or xz or yz:
        lines.append(f"{xy!r} {xz!r} {yz!r} xy xz yz")
    lines += ["", "Masses", ""] + [f"{t} 1.0" for t in range(1, ntypes + 1)]
    lines += ["", "Atoms # atomic", ""]
    lines += [f"{i} {t} {float(p[0])!r} {float(p[1])!r} {float(p[2])!r}" for i, t, p in zip(ids, types, x)]
    with open(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")


def random_system(n, cell, ntypes=2, seed=1, origin=(0.0, 0.0, 0.0)):
    """n atoms uniformly in the cell (fractional coordinates), types drawn at random."""
    rng = np.random.default_rng(seed)
    frac = rng.random((n, 3))
    x = frac @ np.asarray(cell) + np.asarray(origin)
    types = rng.integers(1, ntypes + 1, n)
    types[:ntypes] = np.arange(1, ntypes + 1)     # every type present
    return x, types




@pytest.fixture
def default_spec():
    from pysoft.spec import load_spec
    return load_spec("default")


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """A softness model fitted on structure functions of a random box, labels from a rule:
    Al with fewer O within ~2.4 Å than the median are "soft".  Returns (dir, path, model)."""
    from pysoft.model import SoftnessModel
    from pysoft.spec import load_spec

    d = tmp_path_factory.mktemp("model")
    cell = np.array([[9.0, 0.0, 0.0], [2.5, 10.0, 0.0], [-1.7, 1.2, 11.0]])
    x, types = random_system(120, cell, seed=4)
    write_data(d / "m.data", x, types, cell)
    cmds = ["units metal", "atom_modify map array", f"read_data {d / 'm.data'}", "pair_style zero 12.0",
            "pair_coeff * *", "comm_modify cutoff 14.0", "compute F all structure/atom default Al O", "run 0"]
    X = run_job(d, cmds, {"c_F": 150}, name="train")["c_F"]
    crowd = X[:, 48:57].sum(axis=1)
    y = (crowd < np.median(crowd)).astype(int)
    model = SoftnessModel(C=1.0).fit(X, y)
    path = d / "model.json"
    model.save(str(path), spec=load_spec("default"))
    return d, path, model
