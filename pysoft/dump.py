"""Streaming reader of LAMMPS text dump files (``dump atom`` and ``dump custom``).

The training data of the softness model (doc/method.md section 6) is a trajectory per sample:
200 ps of NVT at 300 K, 8100 atoms, thousands of frames.  :func:`read_dump` yields it one frame
at a time, so a whole trajectory is never held in memory, and every frame comes out the same way
whatever the dump looked like:

* rows sorted by atom id (LAMMPS writes atoms in whatever order the ranks own them);
* positions unwrapped (phop needs the true displacement of an atom across periodic boundaries);
* the cell as three row vectors ``a = (lx, 0, 0)``, ``b = (xy, ly, 0)``, ``c = (xz, yz, lz)``
  (or the general vectors of ``dump_modify triclinic/general yes``) and the origin
  ``(xlo, ylo, zlo)``.

Lengths are in the units of the run that wrote the dump (Å for ``units metal`` or ``real``).

Plain text and gzip files are both read (gzip is recognised by a ``.gz`` name or by its magic
bytes).  The atom lines are parsed by a numba kernel over the raw bytes of the block:
general-purpose text parsers (``np.loadtxt``) read about 0.4 million lines of 8 columns a
second here, which would make reading the training trajectories far slower than computing phop
on them.  Every number comes out as the correctly rounded double of its text, the
value Python's ``float`` gives (see ``_parse_number`` for how).

Every problem with a file is raised as :class:`DumpError`, a one-line message naming the file,
the frame (counted from 0) and, once it is known, its timestep.
"""

import gzip
import math
import os
import zlib
from dataclasses import dataclass

import numpy as np
from numba import njit, types

from pysoft.jit import njit_cached

__all__ = ["DumpError", "Frame", "read_columns", "read_dump", "read_dumps", "read_timesteps", "timestep_spacing"]


class DumpError(ValueError):
    """A dump file that cannot be read; the message names the file, the frame and the problem."""


@dataclass(frozen=True, eq=False)
class Frame:
    """One frame of a dump, rows sorted by atom id.

    Attributes
    ----------
    timestep : int
        The MD step at which the frame was written.
    ids : ndarray of int64, shape (N,)
        Atom ids, strictly ascending.
    types : ndarray of int64, shape (N,)
        Atom types, in the order of `ids`.
    positions : ndarray of float64, shape (N, 3)
        Unwrapped positions (length units of the run, Å for ``units metal``).
    cell : ndarray of float64, shape (3, 3)
        Cell vectors as rows ``a, b, c``.
    origin : ndarray of float64, shape (3,)
        Lower corner of the cell, ``(xlo, ylo, zlo)``.
    """

    timestep: int
    ids: np.ndarray
    types: np.ndarray
    positions: np.ndarray
    cell: np.ndarray
    origin: np.ndarray

    @property
    def natoms(self):
        """Number of atoms in the frame."""
        return len(self.ids)


# Position columns in order of preference.  The flag says whether image flags are needed to
# unwrap them, the name says whether they are fractional (``s``) or Cartesian.
_POSITION_SETS = (
    (("xu", "yu", "zu"), False, False),
    (("xsu", "ysu", "zsu"), False, True),
    (("x", "y", "z"), True, False),
    (("xs", "ys", "zs"), True, True),
)
_IMAGE_COLUMNS = ("ix", "iy", "iz")
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 22        # bytes read at a time: several frames of 8100 atoms
_NO_ROWS = np.empty((0, 0))     # out and status of _scan_lines when only counting lines
_NO_STATUS = np.empty(0, np.int8)


def read_dump(path):
    """Iterate over the frames of one LAMMPS text dump, one :class:`Frame` at a time.

    Parameters
    ----------
    path : str or os.PathLike
        A ``dump atom`` or ``dump custom`` text file, optionally gzip-compressed.  The ATOMS
        columns must include ``id``, ``type`` and positions, one of (in order of preference)
        ``xu yu zu``; ``xsu ysu zsu``; ``x y z`` with ``ix iy iz``; ``xs ys zs`` with ``ix iy iz``.

    Returns
    -------
    iterator of Frame
        A generator: the file is read lazily, one frame in memory at a time.

    Raises
    ------
    DumpError
        At once if the file does not exist or cannot be opened; during iteration for a
        truncated or corrupt frame, missing columns, wrapped coordinates without image flags,
        or a frame whose atom ids differ from those of the first frame.
    """
    path = os.fspath(path)
    _check_readable(path)
    return _frames(path, parse_atoms=True)


def read_columns(path):
    """The first frame of a LAMMPS text dump with every ATOMS column, as written.

    For pictures of a frame (:mod:`pysoft.snapshot`): unlike :func:`read_dump`, positions stay
    as the file has them (wrapped or not) and the per-atom columns beyond id, type and position
    come along.

    Returns
    -------
    (timestep, cell, origin, columns) : int, (3, 3) cell rows, (3,) origin, dict name -> float
        array in file order
    """
    path = os.fspath(path)
    _check_readable(path)
    where = _Where(path)
    try:
        with _open(path) as fh:
            stream = _ByteStream(fh)
            if stream.at_end():
                raise DumpError(f"{path}: no frames (empty file, or not a LAMMPS text dump)")
            natoms, cell, origin, names = _read_header(stream, where)
            data = np.empty((natoms, len(names)))
            status = np.zeros(natoms, np.int8)
            try:
                block = stream.read_lines(natoms, data, status)
            except _Truncated as e:
                raise DumpError(f"{where}: truncated frame: the file ends after {e.args[0]} "
                                f"of {natoms} atom lines") from None
            if status.any():
                data = _parse_slowly(block, names, set(range(len(names))), where)
    except (OSError, EOFError, zlib.error) as e:
        raise DumpError(f"{where}: cannot read the file ({e})") from None
    return where.timestep, cell, origin, {c: data[:, j] for j, c in enumerate(names)}


def read_dumps(paths):
    """Frame iterators for several dump files, one per sample.

    Every file is checked to exist before any is read, so that a mistyped name fails at once
    rather than after hours spent on the files before it.

    Parameters
    ----------
    paths : iterable of str or os.PathLike

    Returns
    -------
    list of (str, iterator of Frame)
        ``(path, read_dump(path))`` for each file, in the given order.  The samples are
        independent: each has its own atoms and its own first frame.
    """
    paths = [os.fspath(p) for p in paths]
    if not paths:
        raise DumpError("no dump files given")
    for p in paths:
        _check_readable(p)
    return [(p, read_dump(p)) for p in paths]


def read_timesteps(path):
    """The timesteps of all frames of a dump, read from the frame headers only.

    Skipping the atom lines costs a pass over the file but no number parsing, so the time
    spacing can be checked (:func:`timestep_spacing`) before the frames are read.

    Returns
    -------
    ndarray of int64
    """
    path = os.fspath(path)
    _check_readable(path)
    return np.array([ts for ts in _frames(path, parse_atoms=False)], dtype=np.int64)


def timestep_spacing(timesteps, source="trajectory"):
    """The common spacing of evenly spaced timesteps.

    Parameters
    ----------
    timesteps : sequence of int
        Timesteps of consecutive frames, at least two.
    source : str
        What the timesteps come from (a file name), for the error message.

    Returns
    -------
    int
        The number of MD steps between consecutive frames.

    Raises
    ------
    DumpError
        Fewer than two frames, or timesteps not strictly increasing with a constant spacing.
    """
    ts = np.asarray(timesteps, dtype=np.int64)
    if ts.ndim != 1 or len(ts) < 2:
        raise DumpError(f"{source}: need at least 2 frames to know the time between frames, got {ts.size}")
    steps = np.diff(ts)
    spacing = int(steps[0])
    if spacing <= 0:
        raise DumpError(f"{source}: timesteps do not increase: {ts[0]} then {ts[1]}")
    bad = np.flatnonzero(steps != spacing)
    if len(bad):
        k = int(bad[0]) + 1
        raise DumpError(f"{source}: frames are not evenly spaced in time: frame {k} (timestep {ts[k]}) "
                        f"follows timestep {ts[k - 1]}, expected {ts[k - 1] + spacing} (spacing {spacing})")
    return spacing


def _check_readable(path):
    if not os.path.exists(path):
        raise DumpError(f"{path}: no such dump file")
    if os.path.isdir(path):
        raise DumpError(f"{path}: is a directory, not a dump file")
    if not os.access(path, os.R_OK):
        raise DumpError(f"{path}: dump file is not readable")


def _open(path):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if path.endswith(".gz") or magic == _GZIP_MAGIC:
        return gzip.open(path, "rb")
    return open(path, "rb")


class _Truncated(Exception):
    """The file ended inside a frame."""


class _ByteStream:
    """Lines and blocks of lines from a binary file, read in large chunks.

    A block of atom lines is found and parsed by one kernel call over the buffer (two if it
    straddles a refill), with no Python call per line.
    """

    def __init__(self, fh):
        self._fh = fh
        self._chunk = _CHUNK
        self._buf = b""
        self._pos = 0
        self._eof = False
        self._error = None          # a read error held back until the data before it is used
        self._line_bytes = 64.0     # mean atom-line length seen so far, to size reads

    def _fill(self, nbytes=0):
        """Append up to max(nbytes, chunk) more bytes; False at end of file.

        The bytes come in read1 pieces so that a cut or damaged gzip stream, which raises in
        the read that reaches the damage, does not take the good data decompressed before it
        along: that data is parsed first, and the error is raised when the reader needs more,
        so that its message names the frame the damage is in, not the frame of the read.
        """
        if self._error is not None:
            raise self._error
        if self._eof:
            return False
        want = max(nbytes, self._chunk)
        parts, got = [], 0
        try:
            while got < want:
                data = self._fh.read1(want - got)
                if not data:
                    self._eof = True
                    break
                parts.append(data)
                got += len(data)
        except (OSError, EOFError, zlib.error) as e:
            if not parts:
                raise
            self._error = e
        if not parts:
            return False
        self._buf = self._buf[self._pos:] + b"".join(parts)
        self._pos = 0
        return True

    def readline(self):
        """The next line without its newline, or None at end of file."""
        while True:
            j = self._buf.find(b"\n", self._pos)
            if j >= 0:
                line = self._buf[self._pos:j]
                self._pos = j + 1
                return line
            if not self._fill():
                if self._pos < len(self._buf):
                    line = self._buf[self._pos:]
                    self._pos = len(self._buf)
                    return line
                return None

    def at_end(self):
        """True when only whitespace is left (skipping it)."""
        while True:
            head = self._buf[self._pos:self._pos + 256]
            if head.strip():
                return False
            self._pos += len(head)
            if self._pos >= len(self._buf) and not self._fill():
                return True

    def read_lines(self, n, out, status):
        """Consume the next `n` lines, parsing them into out / status unless out has no rows.

        Returns the lines as a uint8 view, each ending in a newline, for the slow path's error
        messages.  Raises _Truncated with the number of lines found if the file ends first.
        """
        row = rel = 0       # lines done, and where the next starts, from the block's first byte
        while True:
            view = np.frombuffer(self._buf, np.uint8, offset=self._pos)
            row, rel = _scan_lines(view, rel, row, n, out, status, _POW10)
            if row == n:
                self._pos += rel
                if n:
                    self._line_bytes = rel / n
                return view[:rel]
            if not self._fill(int((n - row) * self._line_bytes * 1.1)):
                partial = 1 if view[rel:].tobytes().strip() else 0
                if partial and row == n - 1:
                    # the file's last line lacks its newline: add it, for the kernel
                    self._buf += b"\n"
                    continue
                raise _Truncated(row + partial)


class _Where:
    """Where the reader is, for error messages: 'path: frame k (timestep t)'."""

    def __init__(self, path):
        self.path = path
        self.frame = 0
        self.timestep = None

    def __str__(self):
        ts = "" if self.timestep is None else f" (timestep {self.timestep})"
        return f"{self.path}: frame {self.frame}{ts}"


def _frames(path, parse_atoms):
    """Generator behind read_dump (Frames) and read_timesteps (timesteps only)."""
    where = _Where(path)
    first_ids = None
    try:
        with _open(path) as fh:
            stream = _ByteStream(fh)
            while not stream.at_end():
                where.timestep = None
                natoms, cell, origin, columns = _read_header(stream, where)
                if parse_atoms:
                    layout = _Layout(columns, where)
                    try:
                        data = np.empty((natoms, len(columns)))
                        status = np.zeros(natoms, np.int8)
                    except (MemoryError, ValueError):
                        raise DumpError(f"{where}: corrupt frame: {natoms} atoms of {len(columns)} columns "
                                        f"do not fit in memory") from None
                else:
                    data, status = _NO_ROWS, _NO_STATUS
                try:
                    block = stream.read_lines(natoms, data, status)
                except _Truncated as e:
                    raise DumpError(f"{where}: truncated frame: the file ends after {e.args[0]} "
                                    f"of {natoms} atom lines") from None
                if parse_atoms:
                    if status.any():
                        data = _parse_slowly(block, columns, layout.used, where)
                    frame = layout.frame(data, where.timestep, cell, origin, where)
                    if first_ids is None:
                        first_ids = frame.ids
                    else:
                        _check_same_atoms(frame.ids, first_ids, where)
                    yield frame
                else:
                    yield where.timestep
                where.frame += 1
                where.timestep = None       # an error before the next header is not in this frame
    except (OSError, EOFError, zlib.error) as e:
        # gzip reports a cut or damaged stream as EOFError / BadGzipFile / zlib.error
        raise DumpError(f"{where}: cannot read the file ({e})") from None
    if where.frame == 0:
        raise DumpError(f"{path}: no frames (empty file, or not a LAMMPS text dump)")


def _read_header(stream, where):
    """Parse the header of one frame into (natoms, cell, origin, columns); sets where.timestep."""

    def line(what):
        text = stream.readline()
        if text is None:
            raise DumpError(f"{where}: truncated frame: the file ends before {what}")
        return text.decode("ascii", "replace").strip()

    def item(name):
        text = line(f"'ITEM: {name}'")
        if not text.startswith("ITEM: " + name):
            raise DumpError(f"{where}: corrupt frame: expected 'ITEM: {name}', found '{text[:60]}'")
        return text[len("ITEM: " + name):].split()

    text = line("'ITEM: TIMESTEP'")
    # dump_modify units yes / time yes write these sections before the timestep
    while text in ("ITEM: UNITS", "ITEM: TIME"):
        line(f"the value of '{text}'")
        text = line("'ITEM: TIMESTEP'")
    if text != "ITEM: TIMESTEP":
        raise DumpError(f"{where}: corrupt frame: expected 'ITEM: TIMESTEP', found '{text[:60]}'")
    where.timestep = _integer(line("the timestep"), "timestep", where)
    item("NUMBER OF ATOMS")
    natoms = _integer(line("the number of atoms"), "number of atoms", where)
    if natoms < 0:
        raise DumpError(f"{where}: corrupt frame: negative number of atoms {natoms}")
    flags = item("BOX BOUNDS")
    rows = []
    for axis in "xyz":
        values = line(f"the {axis} box bounds").split()
        try:
            rows.append([float(v) for v in values])
        except ValueError:
            raise DumpError(f"{where}: corrupt frame: cannot read the {axis} box bounds "
                            f"'{' '.join(values)[:60]}'") from None
    cell, origin = _cell(rows, flags, where)
    if not (np.isfinite(cell).all() and np.isfinite(origin).all()):
        raise DumpError(f"{where}: corrupt frame: non-finite box bounds")
    if "abc" not in flags and not (np.diag(cell) > 0).all():
        raise DumpError(f"{where}: corrupt frame: box lengths {np.diag(cell).tolist()} are not all positive")
    columns = item("ATOMS")
    if not columns:
        raise DumpError(f"{where}: corrupt frame: 'ITEM: ATOMS' names no columns")
    return natoms, cell, origin, columns


def _integer(text, what, where):
    try:
        value = int(text)
    except ValueError:
        raise DumpError(f"{where}: corrupt frame: cannot read the {what} '{text[:60]}'") from None
    if not -2**63 <= value < 2**63:        # LAMMPS writes both as 64-bit integers
        raise DumpError(f"{where}: corrupt frame: the {what} {text[:60]} is out of range")
    return value


def _cell(rows, flags, where):
    """Cell rows and origin from the three BOX BOUNDS lines (LAMMPS Howto triclinic)."""
    if "abc" in flags:
        # dump_modify triclinic/general yes: each line is a cell vector and one origin component
        if any(len(r) != 4 for r in rows):
            raise DumpError(f"{where}: corrupt frame: 'BOX BOUNDS abc origin' needs 4 numbers per line")
        rows = np.array(rows)
        return rows[:, :3].copy(), rows[:, 3].copy()
    triclinic = "xy" in flags
    need = 3 if triclinic else 2
    if any(len(r) != need for r in rows):
        kind = "triclinic" if triclinic else "orthogonal"
        raise DumpError(f"{where}: corrupt frame: {kind} box bounds need {need} numbers per line")
    (xlo_b, xhi_b, *t1), (ylo_b, yhi_b, *t2), (zlo, zhi, *t3) = rows
    xy = t1[0] if triclinic else 0.0
    xz = t2[0] if triclinic else 0.0
    yz = t3[0] if triclinic else 0.0
    # The dump writes the bounding box of the tilted cell; undo that to get the cell itself.
    xlo = xlo_b - min(0.0, xy, xz, xy + xz)
    xhi = xhi_b - max(0.0, xy, xz, xy + xz)
    ylo = ylo_b - min(0.0, yz)
    yhi = yhi_b - max(0.0, yz)
    cell = np.array([[xhi - xlo, 0.0, 0.0], [xy, yhi - ylo, 0.0], [xz, yz, zhi - zlo]])
    return cell, np.array([xlo, ylo, zlo])


def _position_columns(columns, where):
    """(names of the three position columns, needs image flags, fractional)."""
    have = set(columns)
    for names, needs_image, fractional in _POSITION_SETS:
        if have.issuperset(names) and (not needs_image or have.issuperset(_IMAGE_COLUMNS)):
            return names, needs_image, fractional
    for names, needs_image, _ in _POSITION_SETS:
        if needs_image and have.issuperset(names):
            raise DumpError(f"{where}: wrapped coordinates {' '.join(names)} without image flags "
                            f"ix iy iz: cannot unwrap (dump xu yu zu, or add ix iy iz)")
    raise DumpError(f"{where}: missing position columns: need xu yu zu, xsu ysu zsu, or x y z / "
                    f"xs ys zs with ix iy iz; the ATOMS columns are: {' '.join(columns)}")


class _Layout:
    """Which ATOMS columns hold what, checked once per frame header before the atom lines are read."""

    def __init__(self, columns, where):
        for name in ("id", "type"):
            if name not in columns:
                raise DumpError(f"{where}: missing '{name}' column; the ATOMS columns are: {' '.join(columns)}")
        names, self.needs_image, self.fractional = _position_columns(columns, where)
        self.id = columns.index("id")
        self.type = columns.index("type")
        self.position = [columns.index(c) for c in names]
        self.image = [columns.index(c) for c in _IMAGE_COLUMNS] if self.needs_image else []
        self.used = {self.id, self.type, *self.position, *self.image}

    def frame(self, data, timestep, cell, origin, where):
        """The Frame from the parsed atom lines `data` (one row per line, one column per column)."""
        ids = _as_integers(data[:, self.id], "id", where)
        if len(ids) > 1 and not np.all(ids[1:] > ids[:-1]):
            order = _sorting_order(ids)
            ids = ids[order]
            data = data[order]
            dup = np.flatnonzero(ids[1:] == ids[:-1])
            if len(dup):
                raise DumpError(f"{where}: atom id {ids[dup[0]]} appears more than once")
        types_ = _as_integers(data[:, self.type], "type", where)
        r = np.ascontiguousarray(data[:, self.position])
        if self.needs_image:
            image = data[:, self.image]
            if self.fractional:
                r += image
            else:
                # x + ix*a + iy*b + iz*c, summed in the order of LAMMPS' own Domain::unmap
                r += image[:, 0:1] * cell[0]
                r += image[:, 1:2] * cell[1]
                r += image[:, 2:3] * cell[2]
        if self.fractional:
            r = origin + r @ cell
        finite = np.isfinite(r).all(axis=1)
        if not finite.all():
            bad = np.flatnonzero(~finite)[0]
            raise DumpError(f"{where}: atom id {ids[bad]} has a non-finite position {r[bad].tolist()}")
        return Frame(int(timestep), ids, types_, r, cell, origin)


def _sorting_order(ids):
    """The permutation that sorts `ids`: O(N) when they are a shuffled range, as LAMMPS' usually
    are (1..N), else a stable argsort."""
    n = len(ids)
    lo = ids.min()
    if ids.max() - lo == n - 1:
        slot = ids - lo
        seen = np.zeros(n, np.bool_)
        seen[slot] = True
        if seen.all():
            order = np.empty(n, np.intp)
            order[slot] = np.arange(n)
            return order
    return np.argsort(ids, kind="stable")


def _as_integers(values, name, where):
    with np.errstate(invalid="ignore"):     # NaN from the slow path: reported just below
        out = values.astype(np.int64)
    if not np.array_equal(out, values):
        bad = np.flatnonzero(out != values)[0]
        raise DumpError(f"{where}: corrupt frame: non-integer {name} {values[bad]!r}")
    return out


def _check_same_atoms(ids, first_ids, where):
    if len(ids) != len(first_ids):
        raise DumpError(f"{where}: has {len(ids)} atoms, the first frame has {len(first_ids)}")
    if not np.array_equal(ids, first_ids):
        missing = np.setdiff1d(first_ids, ids)
        raise DumpError(f"{where}: atom ids differ from the first frame (id {missing[0]} is missing, "
                        f"{len(missing)} in all)")


def _parse_slowly(block, columns, used, where):
    """Fallback for lines the kernel refused: text columns (``element``) or a damaged frame.

    The columns in `used` must be numbers; the others are NaN where they are not.  The first
    bad line is reported.
    """
    lines = block.tobytes().decode("ascii", "replace").splitlines()
    out = np.full((len(lines), len(columns)), np.nan)
    for row, text in enumerate(lines):
        tokens = text.split()
        if text.startswith("ITEM:"):
            raise DumpError(f"{where}: truncated frame: only {row} of {len(lines)} atom lines before "
                            f"'{text[:40]}'")
        if len(tokens) != len(columns):
            raise DumpError(f"{where}: corrupt frame: atom line {row + 1} has {len(tokens)} values, "
                            f"the ATOMS header names {len(columns)} columns")
        for c, token in enumerate(tokens):
            try:
                out[row, c] = float(token)
            except ValueError:
                if c in used:
                    raise DumpError(f"{where}: corrupt frame: atom line {row + 1}, column '{columns[c]}': "
                                    f"cannot read '{token[:30]}' as a number") from None
    return out


# Decimal to double, correctly rounded, in three ways by cost:
# * m < 2^53 and |e| <= 22 (up to 15-16 digits, all of LAMMPS' default %g output): Clinger's
#   fast path, float(m) and 10^|e| both exact, so one correctly rounded multiply or divide;
# * up to 18 digits and -22 <= e < 0 (what %.17g writes for coordinates): an exact integer
#   long division m * 2^s / 5^-e with a sticky bit, rounded once by the int-to-double conversion;
# * anything else (more digits, huge or tiny exponents): the C library's strtod.  It is declared
#   by name, not by address, so that the kernels can be cached.
_strtod = types.ExternalFunction("strtod", types.float64(types.voidptr, types.voidptr))
_POW10 = np.array([10.0 ** k for k in range(23)])
_POW5 = np.array([5 ** k for k in range(23)], dtype=np.int64)
_POW5_BITS = np.array([(5 ** k).bit_length() for k in range(23)], dtype=np.int64)
_TWO53 = 1 << 53
_TWO54 = 1 << 54
_MAX_DIGITS = 18        # 10^18 < 2^63: the mantissa cannot overflow an int64
_SPACE, _TAB, _NEWLINE, _CR = 32, 9, 10, 13


@njit(inline="always")
def _over_power_of_ten(m, k):
    """m / 10^k correctly rounded, for 0 < m < 10^18 and 1 <= k <= 22.

    m / 10^k = (m / 5^k) 2^-k.  Long division gives q = floor(m 2^s / 5^k) with at least 55
    bits; OR-ing a nonzero remainder into its last bit keeps the "above half" information, so
    the one rounding of float(q) (round half to even) is the correct one; 2^-(s+k) is exact.
    """
    d = _POW5[k]
    room = 62 - _POW5_BITS[k]       # r < d, so r << room stays below 2^62
    q = m // d
    r = m - q * d
    s = 0
    while q < _TWO54:
        # frexp may round q up to the next power of two: the shift is then one bit smaller, safe
        shift = min(room, 62 - math.frexp(float(q))[1]) if q > 0 else room
        rs = r << shift
        q = (q << shift) | (rs // d)
        r = rs - (rs // d) * d
        s += shift
    if r != 0:
        q |= 1
    return math.ldexp(float(q), -(s + k))


@njit(inline="always")      # inlined: a call per number costs a third of the parse time
def _parse_number(buf, i, end, pow10):
    """Parse the decimal number starting at buf[i]; return (value, next index, ok).

    Accepts [+-]digits[.digits][(e|E)[+-]digits] ending at whitespace; anything else is not ok.
    """
    start = i
    negative = False
    if buf[i] == 45:
        negative = True
        i += 1
    elif buf[i] == 43:
        i += 1
    mantissa = 0
    ndigits = 0         # significant digits kept in the mantissa
    dropped = False     # a nonzero digit beyond _MAX_DIGITS was left out of it
    exponent = 0
    seen_digit = False
    while i < end and 48 <= buf[i] <= 57:
        seen_digit = True
        if ndigits < _MAX_DIGITS:
            mantissa = mantissa * 10 + (buf[i] - 48)
            if mantissa > 0:
                ndigits += 1
        else:
            exponent += 1
            dropped |= buf[i] != 48
        i += 1
    if i < end and buf[i] == 46:
        i += 1
        while i < end and 48 <= buf[i] <= 57:
            seen_digit = True
            if ndigits < _MAX_DIGITS:
                mantissa = mantissa * 10 + (buf[i] - 48)
                exponent -= 1
                if mantissa > 0:
                    ndigits += 1
            else:
                dropped |= buf[i] != 48
            i += 1
    if not seen_digit:
        return 0.0, i, False
    if i < end and (buf[i] == 101 or buf[i] == 69):
        i += 1
        exp_negative = False
        if i < end and buf[i] == 45:
            exp_negative = True
            i += 1
        elif i < end and buf[i] == 43:
            i += 1
        value = 0
        seen_exp = False
        while i < end and 48 <= buf[i] <= 57:
            seen_exp = True
            if value < 100000:
                value = value * 10 + (buf[i] - 48)
            i += 1
        if not seen_exp:
            return 0.0, i, False
        exponent += -value if exp_negative else value
    if i < end and not (buf[i] == _SPACE or buf[i] == _TAB or buf[i] == _NEWLINE or buf[i] == _CR):
        return 0.0, i, False
    if mantissa < _TWO53 and -22 <= exponent <= 22:
        v = float(mantissa)
        if exponent >= 0:
            v = v * pow10[exponent]
        else:
            v = v / pow10[-exponent]
    elif not dropped and exponent == 0:
        v = float(mantissa)
    elif not dropped and -22 <= exponent < 0:
        v = _over_power_of_ten(mantissa, -exponent)
    else:
        # the token was validated above and ends at whitespace, so strtod stops where we did;
        # it reads the sign itself
        return _strtod(buf[start:].ctypes.data, 0), i, True
    return (-v if negative else v), i, True


@njit(inline="always")
def _parse_row(buf, i, end, ncols, out, r, pow10):
    """Parse the line buf[i:end] into out[r]; False unless it is exactly `ncols` numbers."""
    col = 0
    while True:
        while i < end and (buf[i] == _SPACE or buf[i] == _TAB or buf[i] == _CR or buf[i] == _NEWLINE):
            i += 1
        if i >= end:
            return col == ncols
        if col == ncols:
            return False
        v, i, ok = _parse_number(buf, i, end, pow10)
        if not ok:
            return False
        out[r, col] = v
        col += 1


@njit_cached()
def _scan_lines(buf, pos, row, n, out, status, pow10):
    """Lines row, row+1, ... n-1 of a block, the first starting at buf[pos].

    Each line is parsed into out[row] (status[row] = 1 if it is not exactly out.shape[1]
    numbers), unless out has no rows: then the lines are only counted.  Returns (row, pos) after
    the last whole line found: row < n when the buffer ends first.

    One thread: it parses about 5 million lines of LAMMPS' default ``%g`` output a second, and
    a parallel loop over lines was several times slower here whenever other processes kept the
    cores busy (the thread pool's workers spin while they wait).
    """
    parse = out.shape[0] > 0
    size = buf.shape[0]
    while row < n:
        end = pos
        while end < size and buf[end] != _NEWLINE:
            end += 1
        if end == size:
            break
        if parse and not _parse_row(buf, pos, end + 1, out.shape[1], out, row, pow10):
            status[row] = 1
        pos = end + 1
        row += 1
    return row, pos
