"""Test helpers that write LAMMPS text dumps: from arrays (write_dump), or from a real LAMMPS run
of a small Lennard-Jones liquid (run_lj_dumps).

write_dump derives every column a test asks for (wrapped x y z with image flags ix iy iz,
scaled xs ys zs, unwrapped xu yu zu, scaled unwrapped xsu ysu zsu) from the unwrapped positions,
the cell rows a, b, c and the origin, exactly as pysoft.dump documents reading them back.
Floats are written with 17 significant digits, so they read back as the same doubles.
"""

import gzip

import numpy as np


def box_bounds(cell, origin):
    """The three BOX BOUNDS lines and the header flags LAMMPS writes for this cell."""
    cell = np.asarray(cell, float)
    xlo, ylo, zlo = (float(v) for v in origin)
    lx, ly, lz = float(cell[0, 0]), float(cell[1, 1]), float(cell[2, 2])
    xy, xz, yz = float(cell[1, 0]), float(cell[2, 0]), float(cell[2, 1])
    xhi, yhi, zhi = xlo + lx, ylo + ly, zlo + lz
    if xy == 0.0 and xz == 0.0 and yz == 0.0:
        return "pp pp pp", [f"{xlo!r} {xhi!r}", f"{ylo!r} {yhi!r}", f"{zlo!r} {zhi!r}"]
    # LAMMPS writes the bounding box of the tilted cell (Howto triclinic)
    xlo_b = xlo + min(0.0, xy, xz, xy + xz)
    xhi_b = xhi + max(0.0, xy, xz, xy + xz)
    ylo_b = ylo + min(0.0, yz)
    yhi_b = yhi + max(0.0, yz)
    return "xy xz yz pp pp pp", [f"{xlo_b!r} {xhi_b!r} {xy!r}", f"{ylo_b!r} {yhi_b!r} {xz!r}",
                                 f"{zlo!r} {zhi!r} {yz!r}"]


def atom_columns(names, ids, types, positions, cell, origin):
    """Each requested dump column, computed from unwrapped positions (others are zeros)."""
    positions = np.asarray(positions, float)
    cell = np.asarray(cell, float)
    frac = np.linalg.solve(cell.T, (positions - origin).T).T      # r = origin + s @ cell
    image = np.floor(frac)
    wrapped = positions - image @ cell
    have = {"id": ids, "type": types, "ix": image[:, 0], "iy": image[:, 1], "iz": image[:, 2]}
    for j, axis in enumerate("xyz"):
        have[axis] = wrapped[:, j]
        have[axis + "u"] = positions[:, j]
        have[axis + "s"] = frac[:, j] - image[:, j]
        have[axis + "su"] = frac[:, j]
    # any other column (vx, c_pe, ...) is written as zeros
    return [np.asarray(have[n]) if n in have else np.zeros(len(ids)) for n in names]


def frame_text(timestep, ids, types, positions, cell, origin=(0.0, 0.0, 0.0),
               columns=("id", "type", "xu", "yu", "zu"), order=None, float_format="%.17g"):
    """The text of one dump frame; `order` permutes the atom lines."""
    origin = np.asarray(origin, float)
    flags, bounds = box_bounds(cell, origin)
    cols = atom_columns(columns, np.asarray(ids), np.asarray(types), positions, cell, origin)
    if order is not None:
        cols = [c[order] for c in cols]
    integer = {"id", "type", "ix", "iy", "iz"}
    table = np.column_stack([c.astype(float) for c in cols]) if cols else np.zeros((0, 0))
    fmt = " ".join("%d" if n in integer else float_format for n in columns)
    lines = [f"{fmt % tuple(row)}" for row in table]
    head = ["ITEM: TIMESTEP", str(int(timestep)), "ITEM: NUMBER OF ATOMS", str(len(ids)),
            f"ITEM: BOX BOUNDS {flags}", *bounds, "ITEM: ATOMS " + " ".join(columns)]
    return "\n".join(head + lines) + "\n"


def write_dump(path, frames, columns=("id", "type", "xu", "yu", "zu"), shuffle_seed=None,
               compress=None, float_format="%.17g"):
    """Write frames to a dump file; gzip (level 1, for speed) when `compress` (default: the name
    ends in .gz).

    frames: iterable of dicts with keys timestep, ids, types, positions (unwrapped, Å), cell
    (rows a, b, c) and optionally origin.  shuffle_seed: write atom lines in a random order.
    float_format: "%.17g" keeps every double; LAMMPS' own default is "%g".
    """
    path = str(path)
    compress = path.endswith(".gz") if compress is None else compress
    rng = None if shuffle_seed is None else np.random.default_rng(shuffle_seed)
    with (gzip.open(path, "wt", compresslevel=1) if compress else open(path, "w")) as fh:
        for f in frames:
            order = None if rng is None else rng.permutation(len(f["ids"]))
            fh.write(frame_text(f["timestep"], f["ids"], f["types"], f["positions"], f["cell"],
                                f.get("origin", (0.0, 0.0, 0.0)), columns, order, float_format))
    return path


def random_walk_frames(nframes, natoms, cell, step=0.1, seed=0, origin=(0.0, 0.0, 0.0),
                       timestep0=0, spacing=100, ntypes=2):
    """Frames (dicts for write_dump) of atoms random-walking from random places in the cell."""
    rng = np.random.default_rng(seed)
    cell = np.asarray(cell, float)
    x = rng.random((natoms, 3)) @ cell + np.asarray(origin)
    types = rng.integers(1, ntypes + 1, natoms)
    ids = np.arange(1, natoms + 1) * 3     # not 1..N: ids need not be contiguous
    frames = []
    for k in range(nframes):
        frames.append({"timestep": timestep0 + k * spacing, "ids": ids, "types": types,
                       "positions": x.copy(), "cell": cell, "origin": np.asarray(origin, float)})
        x = x + rng.normal(0.0, step, x.shape)
    return frames


LJ_COLUMNS = {
    "image": "id type x y z ix iy iz",
    "unwrapped": "id type xu yu zu",
    "scaled_image": "id type xs ys zs ix iy iz",
    "scaled_unwrapped": "id type xsu ysu zsu",
}


def run_lj_dumps(workdir, triclinic=False, steps=400, every=20, seed=4928):
    """Run a small hot LJ liquid in LAMMPS, writing the same frames with each LJ_COLUMNS set.

    The liquid (T* = 2.5, 500 atoms) diffuses across the periodic boundaries within a few
    hundred steps, so the image flags change during the run.  Returns {name: path}.
    """
    from pysoft import plugin

    lmp = plugin.lammps()
    box = "prism 0 5 0 5 0 5 0.7 -0.4 0.3" if triclinic else "block 0 5 0 5 0 5"
    paths = {name: str(workdir / f"lj_{name}.dump") for name in LJ_COLUMNS}
    cmds = ["units lj", "atom_style atomic", "lattice fcc 0.8442", f"region box {box}",
            "create_box 2 box", "create_atoms 1 box", "set type 1 type/fraction 2 0.3 " + str(seed),
            "mass * 1.0", f"velocity all create 2.5 {seed} loop geom",
            "pair_style lj/cut 2.5", "pair_coeff * * 1.0 1.0 2.5", "fix 1 all nve",
            "timestep 0.005"]
    for name, cols in LJ_COLUMNS.items():
        cmds += [f"dump {name} all custom {every} {paths[name]} {cols}",
                 f"dump_modify {name} format float %.17g"]
    cmds.append(f"run {steps}")
    try:
        lmp.commands_list(cmds)
    finally:
        lmp.close()
    return paths
