"""Structure-function specs: loading, validation and column labels.

The spec is found, parsed and validated by the same C++ code that the LAMMPS plugin uses
(``libpysoft_math.so``, through ctypes), so a spec name means the same file here as in
``compute structure/atom``, and a spec that passes here is one the plugin accepts, with the same
one-line messages.
"""

import ctypes
import json
import os

from .plugin import PLUGIN_DIR

import numpy as np

_lib = None


class SpecError(ValueError):
    """A spec file that the plugin would reject; the message names the field."""


def _math():
    global _lib
    if _lib is None:
        _lib = ctypes.CDLL(os.path.join(PLUGIN_DIR, "libpysoft_math.so"))
        _lib.pysoft_find_spec_file.restype = ctypes.c_int
        _lib.pysoft_find_spec_file.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int]
        _lib.pysoft_shipped_specs.restype = ctypes.c_int
        _lib.pysoft_shipped_specs.argtypes = [ctypes.c_char_p, ctypes.c_int]
        _lib.pysoft_spec_ncols.restype = ctypes.c_int
        _lib.pysoft_spec_ncols.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int]
        _lib.pysoft_spec_shape.restype = ctypes.c_int
        _lib.pysoft_spec_shape.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int),
                                           ctypes.POINTER(ctypes.c_double), ctypes.c_char_p, ctypes.c_int]
        _lib.pysoft_spec_label.restype = ctypes.c_int
        _lib.pysoft_spec_label.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        _lib.pysoft_structure_functions.restype = ctypes.c_int
        _lib.pysoft_structure_functions.argtypes = [
            ctypes.c_char_p, ctypes.c_int,
            np.ctypeslib.ndpointer(np.int32, flags="C"),
            np.ctypeslib.ndpointer(np.float64, flags="C"),
            np.ctypeslib.ndpointer(np.int32, flags="C"),
            np.ctypeslib.ndpointer(np.float64, flags="C"),
            ctypes.c_char_p, ctypes.c_int]
    return _lib


def _text_from_library(call, *args):
    """The text a C function of libpysoft_math writes into a buffer, read whole; None when it
    returns -1."""
    size = 4096
    while True:
        buf = ctypes.create_string_buffer(size)
        n = call(*args, buf, size)
        if n < 0:
            return None
        if n < size:
            return os.fsdecode(buf.value)
        size = n + 1


def spec_path(name_or_path):
    """A spec file path; a bare name such as ``default`` means a spec shipped with pysoft.
    The plugin's own rule decides (``pysoft::find_spec_file``), so the name means the same file
    here as in ``compute structure/atom``."""
    path = _text_from_library(_math().pysoft_find_spec_file, os.fsencode(name_or_path))
    if path is None:
        raise FileNotFoundError(f"spec file not found: {name_or_path}")
    return path


def shipped_specs():
    """Names of the specs shipped with pysoft, as the plugin finds them."""
    return _text_from_library(_math().pysoft_shipped_specs).split()


def load_spec(spec):
    """A validated spec as a dict, from a dict, a JSON string, a path or a shipped name."""
    if isinstance(spec, dict):
        text = json.dumps(spec)
    elif isinstance(spec, str) and spec.lstrip().startswith("{"):
        text = spec
    else:
        path = spec_path(spec)
        with open(path, "rb") as fh:
            data = fh.read()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise SpecError(f"spec file {path} is not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start})")
    ncols(text)
    d = json.loads(text)
    return d.get("spec", d) if isinstance(d.get("spec"), dict) else d


def _text(spec):
    if isinstance(spec, bytes):
        return spec
    return (spec if isinstance(spec, str) else json.dumps(spec)).encode()


def ncols(spec):
    """Number of feature columns; raises SpecError with the plugin's message if invalid."""
    err = ctypes.create_string_buffer(512)
    n = _math().pysoft_spec_ncols(_text(spec), err, len(err))
    if n < 0:
        raise SpecError(err.value.decode("utf-8", "replace"))
    return n


def radial_ncols(spec):
    """Number of radial columns (they come first), as the plugin counts them."""
    return _shape(spec)[0]


def max_cutoff(spec):
    """The largest cutoff of the spec's structure functions, Å, as the plugin reads it."""
    return _shape(spec)[1]


def _shape(spec):
    nradial, cutoff = ctypes.c_int(), ctypes.c_double()
    err = ctypes.create_string_buffer(512)
    if _math().pysoft_spec_shape(_text(spec), ctypes.byref(nradial), ctypes.byref(cutoff), err, len(err)) < 0:
        raise SpecError(err.value.decode("utf-8", "replace"))
    return nradial.value, cutoff.value


def column_labels(spec):
    """Labels of the feature columns, in the plugin's column order."""
    text = _text(spec)
    buf = ctypes.create_string_buffer(256)
    out = []
    for c in range(ncols(text)):
        _math().pysoft_spec_label(text, c, buf, len(buf))
        out.append(buf.value.decode("utf-8", "replace"))
    return out


def structure_functions(spec, counts, disp, species):
    """Evaluate the plugin's C++ structure functions on explicit neighbour sets.

    Parameters
    ----------
    spec : dict or str
    counts : (ncentre,) int array, neighbours of each centre
    disp : (sum(counts), 3) float array, displacement x_j - x_i of each neighbour (Angstrom)
    species : (sum(counts),) int array, species index of each neighbour

    Returns
    -------
    (ncentre, ncols) float array
    """
    text = _text(spec)
    counts = np.ascontiguousarray(counts, dtype=np.int32)
    disp = np.ascontiguousarray(disp, dtype=np.float64).reshape(-1, 3)
    species = np.ascontiguousarray(species, dtype=np.int32)
    if disp.shape[0] != counts.sum() or species.shape[0] != counts.sum():
        raise ValueError("disp and species must hold sum(counts) neighbours")
    out = np.zeros((len(counts), ncols(text)))
    err = ctypes.create_string_buffer(512)
    if _math().pysoft_structure_functions(text, len(counts), counts, disp, species, out, err, len(err)):
        raise SpecError(err.value.decode("utf-8", "replace"))
    return out
