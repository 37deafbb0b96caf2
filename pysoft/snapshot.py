"""Pictures of the glass: the bar at the key moments of a strain loop, Al coloured by softness,
beside its high-softness clusters (after the paper's Fig. 5A-B; doc/keyframes.md).

Input: key frames (:mod:`pysoft.keyframes`) or any LAMMPS text dump with the columns ``id type
x y z S`` (``cluster`` for the cluster panel).  Output: one PNG, one row per frame.

Rendered with matplotlib, headless (Agg): the atoms are projected along y onto the x-z plane,
the nearer ones drawn over the farther (painter's order), each as a disc of its true size in Å,
so the bar, its strain and a crack through its thickness show at the scale of the box.  Why not
OVITO's renderer (doc/keyframes.md, "Pictures"): it costs several times more per frame, its
module is a 116 MB wheel that installs 505 MB with PySide6 and its renderers use Vulkan, and a
projection of the whole bar shows all the figure needs; the key frames open in OVITO for a
closer look.
"""

import os

import numpy as np

from pysoft.dump import DumpError, read_columns

NEEDED = ("id", "type", "x", "y", "z", "S")
AL_DIAMETER_A = 2.0        # drawn size of an Al atom, Å: about its Al-O bond length less the O radius
N_COLOURED = 9             # the largest clusters drawn in colours of their own (tab10 less its grey)


class SnapshotError(ValueError):
    """A frame that cannot be drawn; the message is one line for the user."""


class Snapshot:
    """One frame to draw: its label, box and per-atom columns (wrapped positions, Å)."""

    def __init__(self, label, cell, origin, cols, centre_type=1):
        self.label, self.cell, self.origin, self.cols = label, np.asarray(cell, float), np.asarray(origin, float), cols
        self.centre_type = centre_type


def load(path, label=None, centre_type=1):
    """A :class:`Snapshot` of the first frame of a dump file; SnapshotError on bad input."""
    try:
        step, cell, origin, cols = read_columns(path)
    except DumpError as e:
        raise SnapshotError(str(e)) from None
    missing = [c for c in NEEDED if c not in cols]
    if missing:
        raise SnapshotError(f"{path}: no column {', '.join(missing)} (need {' '.join(NEEDED)}; "
                            f"the key frames of pysoft.keyframes have them); the ATOMS columns are: "
                            f"{' '.join(cols)}")
    if not (cols["type"] == centre_type).any():
        raise SnapshotError(f"{path}: no atom of type {centre_type} (the atoms that carry softness)")
    if not np.isfinite(cols["S"]).all():
        raise SnapshotError(f"{path}: column S holds a non-finite value")
    return Snapshot(label or f"{os.path.basename(path)}: step {step}", cell, origin, cols, centre_type)


def keyframe_snapshots(directory, moments=("unstrained", "peak", "drop_onset", "last")):
    """The snapshots of a key-frame folder's moments (each step once, labelled with its moments,
    strain and stress), in step order."""
    from pysoft.keyframes import read_manifest

    m = read_manifest(directory)
    if m is None:
        raise SnapshotError(f"{directory}: no keyframes.json (not a key-frame folder of pysoft.keyframes)")
    out = []
    for f in m["frames"]:
        names = [n for n in f["moments"] if n in moments]
        if not names:
            continue
        label = (f"{' / '.join(n.replace('_', ' ') for n in names)}: step {f['step']}, strain "
                 f"{100 * f['strain']:.1f} %, σ {f['stress_GPa']:.2f} GPa")
        out.append(load(os.path.join(directory, f["file"]), label, m.get("centre_type", 1)))
    if not out:
        raise SnapshotError(f"{directory}: the manifest lists no frame of the moments {', '.join(moments)}")
    return out


def gap_fraction(s, width_A=2.0, window=5):
    """Fractional x of the sparsest stretch of the bar in a frame: the centre of the `window`
    consecutive `width_A` bins (periodic) holding the fewest atoms.  Once a crack opens, that
    is the crack, also before it cuts the whole cross-section."""
    lx = s.cell[0, 0]
    nb = max(window, int(lx // width_A))
    f = ((s.cols["x"] - s.origin[0]) / lx) % 1.0
    counts = np.bincount(np.minimum((f * nb).astype(int), nb - 1), minlength=nb)
    summed = sum(np.roll(counts, -k) for k in range(window))      # bins i .. i + window - 1
    return ((int(np.argmin(summed)) + window / 2.0) / nb) % 1.0


def _depth_sorted(s, mask, shift):
    """Projected x (rolled by the fraction `shift` of the periodic box), z and the order that
    draws far atoms (small y) first."""
    lx = s.cell[0, 0]
    x = s.origin[0] + ((s.cols["x"][mask] - s.origin[0]) / lx + shift) % 1.0 * lx
    y, z = s.cols["y"][mask], s.cols["z"][mask]
    order = np.argsort(y, kind="stable")
    return x[order], z[order], order


def _disc_area(ax, fig, xspan):
    """Marker area (points²) of a disc AL_DIAMETER_A wide in data units of this axes."""
    width_in = ax.get_position().width * fig.get_figwidth()
    return (AL_DIAMETER_A * width_in * 72.0 / xspan) ** 2


def render(snapshots, path, title=None, dpi=110):
    """Draw `snapshots` (one row each: softness | high-softness clusters) into the PNG `path`,
    written under a temporary name and renamed.  Returns `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import Normalize

    xspan = max(s.cell[0, 0] + abs(s.cell[1, 0]) + abs(s.cell[2, 0]) for s in snapshots)
    zspan = max(s.cell[2, 2] for s in snapshots)
    # one softness scale for every row: the first frame's (the unstrained glass for key frames)
    S0 = snapshots[0].cols["S"][snapshots[0].cols["type"] == snapshots[0].centre_type]
    lim = float(np.quantile(np.abs(S0 - np.median(S0)), 0.98)) or 1.0
    norm = Normalize(np.median(S0) - lim, np.median(S0) + lim)
    has_clusters = all("cluster" in s.cols for s in snapshots)
    ncol = 2 if has_clusters else 1
    panel_w = 5.6
    panel_h = max(1.2, panel_w * zspan / xspan) + 0.45
    fig, axes = plt.subplots(len(snapshots), ncol, figsize=(panel_w * ncol + 0.9, panel_h * len(snapshots) + 0.7),
                             squeeze=False)
    fig.subplots_adjust(left=0.06, right=0.9 if ncol == 1 else 0.92,
                        top=1 - (0.85 if title else 0.4) / fig.get_figheight(),
                        bottom=0.45 / fig.get_figheight(), wspace=0.12, hspace=0.45)
    # the bar is periodic along x: roll every frame by the same fraction of its box so that the
    # crack (the sparsest stretch of the last frame) is drawn in the middle, not cut at the box edge
    shift = 0.5 - gap_fraction(snapshots[-1])
    cmap = matplotlib.colormaps["coolwarm"]
    tab = [c for i, c in enumerate(matplotlib.colormaps["tab10"].colors) if i != 7]
    for row, s in enumerate(snapshots):
        al = s.cols["type"] == s.centre_type
        x, z, order = _depth_sorted(s, al, shift)
        for col in range(ncol):
            ax = axes[row, col]
            x0, z0 = s.origin[0], s.origin[2]
            ax.set_xlim(x0, x0 + xspan)
            ax.set_ylim(z0, z0 + zspan)
            ax.set_aspect("equal")
            ax.add_patch(matplotlib.patches.Rectangle((x0, z0), s.cell[0, 0], s.cell[2, 2], fill=False,
                                                      lw=0.6, ls="--", color="0.5"))
            area = _disc_area(ax, fig, xspan)
            if col == 0:
                sc = ax.scatter(x, z, s=area, c=s.cols["S"][al][order], cmap=cmap, norm=norm, lw=0.15,
                                edgecolors="0.25")
                ax.set_title(s.label, fontsize=8.5, loc="left")
            else:
                lab = s.cols["cluster"][al][order].astype(np.int64)
                inside = lab > 0
                ids, counts = np.unique(lab[inside], return_counts=True)
                rank = {k: i for i, k in enumerate(ids[np.argsort(-counts, kind="stable")])}
                colour = np.array([(*tab[rank[k]], 1.0) if rank[k] < N_COLOURED else (0.45, 0.45, 0.45, 1.0)
                                   for k in lab[inside]]).reshape(-1, 4)
                ax.scatter(x[~inside], z[~inside], s=area * 0.35, color="0.85", lw=0)
                ax.scatter(x[inside], z[inside], s=area, c=colour, lw=0.15, edgecolors="0.2")
                big = counts.max() if len(counts) else 0
                ax.set_title(f"high-softness clusters: {len(ids)}, largest {big} Al", fontsize=8.5, loc="left")
            ax.tick_params(labelsize=7)
            if row == len(snapshots) - 1:
                ax.set_xlabel("x, loading axis (Å; rolled, see caption)", fontsize=8)
            if col == 0:
                ax.set_ylabel("z (Å)", fontsize=8)
    cax = fig.add_axes([0.94 if ncol == 2 else 0.92, 0.25, 0.012, 0.5])
    cb = fig.colorbar(sc, cax=cax)
    cb.set_label("softness S of Al", fontsize=8)
    cb.ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(title, fontsize=10, y=1 - 0.15 / fig.get_figheight(), va="top")
    tmp = f"{path}.tmp{os.getpid()}.png"
    fig.savefig(tmp, dpi=dpi, metadata={"Software": None})
    plt.close(fig)
    os.replace(tmp, path)
    return path


PNG_PREFIX = "fig5ab_keyframes_P"
CAPTION = ("The bar at the key moments of the strain loop, projected along y (nearer atoms drawn over "
           "farther ones; rolled along the periodic x so that the sparsest stretch of the last step is in "
           "the middle): left, Al coloured by softness on the scale of the unstrained glass; right, "
           "the clusters of the softest 10 % of Al (linked within 3.7 Å; the 9 largest in colours, "
           "the rest dark grey), other Al pale. Dashed: the periodic box. A crack shows as a gap across "
           "the bar. From the key frames in planestrain/PxGPa/keyframes (doc/keyframes.md).")


def _title(p):
    return f"Fig. 5A–B: the {float(p):g} GPa glass coloured by softness at the key moments"


def keyframe_gallery_lines(pngs):
    """Markdown sections of a gallery page for the key-frame pictures among `pngs`."""
    lines = []
    for f in sorted(pngs):
        if f.startswith(PNG_PREFIX) and f.endswith("GPa.png"):
            title = _title(f[len(PNG_PREFIX):-len("GPa.png")])
            lines += [f"### {title}", "", f"![{title}]({f})", "", CAPTION, ""]
    return lines


def report_figures(run_dir, out_dir):
    """The key-frame pictures of a run folder of ``pysoft run``, for the report: one entry per
    quench pressure with key frames, each a dict with key, filename, title, caption and either
    path (the PNG written into out_dir) or missing (why not drawn)."""
    import glob
    import re

    entries = []
    folders = sorted(glob.glob(os.path.join(run_dir, "planestrain", "P*GPa", "keyframes")))
    if not folders:
        return [{"key": "5AB", "filename": None, "title": "Fig. 5A–B: the bar coloured by softness",
                 "caption": CAPTION, "missing": "no key frames (planestrain/PxGPa/keyframes) in this run"}]
    for d in folders:
        p = re.search(r"P([-+0-9.eE]+)GPa", d).group(1)
        name = f"{PNG_PREFIX}{p}GPa.png"
        e = {"key": f"5AB-P{p}", "filename": name, "caption": CAPTION, "title": _title(p)}
        try:
            e["path"] = render(keyframe_snapshots(d), os.path.join(out_dir, name))
        except (SnapshotError, OSError, KeyError, ValueError) as err:
            e["missing"] = f"its key frames could not be drawn ({err})"
        entries.append(e)
    return entries
