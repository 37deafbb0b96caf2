"""Run a list of LAMMPS commands (under mpirun or not) and save per-atom results by atom id.

Usage: python lammps_job.py JOB.json
JOB: {"commands": [...], "gather": {"name": ncols, ...}, "out": "result.npz"}
Rank 0 writes the .npz with ids, x (gathered in id order), the cell and each gathered
per-atom quantity.  Used by the tests to compare rank counts, restarts and references.
"""

import json
import sys

import numpy as np
from mpi4py import MPI

import pysoft.plugin


def main(path):
    with open(path) as fh:
        job = json.load(fh)
    lmp = pysoft.plugin.lammps(comm=MPI.COMM_WORLD)
    for block in job["commands"]:
        lmp.commands_string(block) if "\n" in block else lmp.command(block)
    out = {"nprocs": MPI.COMM_WORLD.Get_size()}
    n = lmp.get_natoms()
    out["id"] = np.ctypeslib.as_array(lmp.gather_atoms("id", 0, 1)).copy()
    out["x"] = np.ctypeslib.as_array(lmp.gather_atoms("x", 1, 3)).reshape(n, 3).copy()
    out["type"] = np.ctypeslib.as_array(lmp.gather_atoms("type", 0, 1)).copy()
    boxlo, boxhi, xy, yz, xz, _, _ = lmp.extract_box()
    out["boxlo"], out["boxhi"], out["tilt"] = boxlo, boxhi, [xy, yz, xz]
    for name, ncol in job.get("gather", {}).items():
        arr = lmp.gather(name, 1, ncol)
        out[name] = np.ctypeslib.as_array(arr).reshape(n, ncol).copy()
    for name in job.get("scalars", []):
        out[name] = lmp.get_thermo(name)
    if MPI.COMM_WORLD.Get_rank() == 0:
        np.savez(job["out"], **out)
    lmp.close()


if __name__ == "__main__":
    main(sys.argv[1])
