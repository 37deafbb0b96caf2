"""``pysoft report RUN_DIR --gallery DIR``: a run's report as files to commit and read on a forge.

The HTML report embeds its figures and is rebuilt at will; a gallery is the record of one run
kept in a repository (doc/validation/ is the validation run's): the figures as PNG files, the
trend checks as ``validation.json``, and ``README.md``, a page that puts every number the run
measured beside the paper's.  Text that interprets the run is written by hand below the marker
line of README.md and kept when the gallery is rebuilt.

The gallery folder may hold other files of the user's: pysoft writes only the files it lists in
``.pysoft-gallery.json`` (its manifest), refuses in one line, before writing anything, to
replace a file of a gallery file's name that it did not write (a README.md without the marker
line included), and on a rebuild removes the files of its earlier manifest that this run does
not draw, so no figure of an earlier run stays beside "Not drawn".
"""

import json
import os
import shutil
import tempfile

from pysoft import claims
from pysoft.report import FIGURES, ReportError, RunData, build_report
from pysoft.snapshot import PNG_PREFIX, keyframe_gallery_lines

MARKER = "<!-- written by hand below this line; pysoft report --gallery keeps it -->"
MANIFEST = ".pysoft-gallery.json"
PHOP_PNG = "train_phop.png"
# every file name a gallery may hold
GALLERY_FILES = ("README.md", "validation.json", PHOP_PNG) + tuple(f[1] for f in FIGURES)


def _is_gallery_file(name):
    """Whether a gallery may hold a file of this name: the fixed names, or the key-frame picture
    of one pressure (pysoft.snapshot, PNG_PREFIX + 'PxGPa.png')."""
    return name in GALLERY_FILES or (name.startswith(PNG_PREFIX) and name.endswith("GPa.png"))


class GalleryError(ReportError):
    """The gallery folder holds files pysoft did not write; one line for the user."""


def _owned(out_dir):
    """The files of out_dir that an earlier gallery of pysoft wrote: those of its manifest, or,
    for a gallery written before the manifest existed (its README.md has the marker), every file
    of a gallery file's name."""
    readme = os.path.join(out_dir, "README.md")
    marked = os.path.isfile(readme) and MARKER in open(readme, encoding="utf-8", errors="replace").read()
    path = os.path.join(out_dir, MANIFEST)
    if os.path.exists(path):
        try:
            with open(path, encoding="utf-8") as fh:
                files = json.load(fh)["files"]
            owned = {f for f in files if isinstance(f, str) and _is_gallery_file(f)}
        except (OSError, ValueError, KeyError, TypeError):
            raise GalleryError(f"{path} is not a gallery manifest of pysoft; move it or choose another folder")
    else:
        owned = {f for f in os.listdir(out_dir) if _is_gallery_file(f)} if marked else set()
    if not marked:
        owned.discard("README.md")
    return owned


def check_target(out_dir):
    """Refuse (GalleryError) a gallery folder holding a file of a gallery file's name that
    pysoft did not write; write nothing."""
    if not os.path.isdir(out_dir):
        if os.path.exists(out_dir):
            raise GalleryError(f"the gallery folder {out_dir} is not a folder")
        return
    owned = _owned(out_dir)
    foreign = [f for f in sorted(os.listdir(out_dir)) if _is_gallery_file(f) and f not in owned]
    if foreign:
        what = ", ".join(f + (" (no pysoft marker line)" if f == "README.md" else "") for f in foreign)
        raise GalleryError(f"{out_dir} holds files pysoft did not write: {what}; move them or choose another "
                           "folder (nothing was written)")

# The paper's numbers (Du et al., ACS Nano 2021; doc/method.md sections 6-8)
PAPER = {
    "accuracy": "0.83 test, 0.84 train (radial + angular); radial only 0.79",
    "events": "about 8,000 rearranging events (5 glasses x 3,240 Al x 200 ps)",
    "density": "rises linearly with quench pressure",
    "cn": "Al5 and Al6 rise, Al4 falls with quench pressure",
    "fracture": "all samples fracture under plane strain (a sudden stress drop); 0 GPa has a crack by ε = 0.2",
    "ductility": "the yield regime lengthens with quench pressure (more nanoductile)",
    "softness_peak": "<S> peaks at the onset of crack propagation (where the stress starts to fall fast)",
    "p_dc": "approximately exponential in S0; Al5 with lower S0 more often lose an O",
    "crack": "(not in the paper: Fig. 5 shows soft regions where the crack forms, qualitatively)",
}


def _fmt(v, f="{:.3f}"):
    return "-" if v is None else f.format(v)


def comparison_rows(data):
    """(quantity, this run, the paper) rows from a run folder's data."""
    rows = []
    m = (data.model or {}).get("metrics") or {}
    prov = (data.model or {}).get("provenance") or {}
    ev = (prov.get("events") or {}).get("rearranging")
    rows.append(("rearranging events (phop peak > {} Å²)".format(prov.get("hop_threshold_A2", "?")),
                 _fmt(ev, "{:d}") if isinstance(ev, int) else "-", PAPER["events"]))
    hold = m.get("holdout") or {}
    rows.append(("softness model accuracy: held-out atoms (test)",
                 f"{_fmt(hold.get('test'))} on {hold.get('n_test', '?')} events; grouped CV {_fmt(m.get('cv_accuracy'))}; "
                 f"time split {_fmt((m.get('time_split') or {}).get('test'))}; radial only "
                 f"{_fmt(m.get('radial_only_cv_accuracy'))}", PAPER["accuracy"]))
    if data.quench:
        rows.append(("density at 300 K (g/cm³)",
                     ", ".join(f"{p:g} GPa: {r['density_g_cm3']:.3f}" for p, r in sorted(data.quench.items())),
                     PAPER["density"]))
        rows.append(("Al4 / Al5 / Al6 (%)",
                     "; ".join(f"{p:g} GPa: {100 * r['Al4']:.1f} / {100 * r['Al5']:.1f} / {100 * r['Al6']:.1f}"
                               for p, r in sorted(data.quench.items())), PAPER["cn"]))
    for p, t in sorted(data.strain.items()):
        o = data.outcome.get(p)
        plat = claims.yield_plateau(t)
        peak = float(t[:, 2].max())
        text = f"peak {peak:.2f} GPa"
        if plat:
            text += (f"; yield plateau (σxx ≥ {claims.PLATEAU_FRACTION:.0%} of peak, up to the onset of the drop) "
                     f"ε = {plat['start']:.3f}-{plat['end']:.3f}, length {plat['length']:.3f}")
        if o and o["fractured"]:
            text += f"; fractured at ε = {o['failure_strain']:.3f}"
        else:
            text += f"; not fractured by ε = {t[-1, 1]:.3f} (final {t[-1, 2]:.2f} GPa)"
        rows.append((f"plane strain, {p:g} GPa glass", text, PAPER["fracture"] + "; " + PAPER["ductility"]))
    for p, (h, srows) in sorted(data.series.items()):
        rr = [r for r in srows if "softness" in r]
        if not rr or p not in data.strain:
            continue
        s_peak = max(rr, key=lambda r: r["softness"]["mean"])
        on = claims.drop_onset(data.strain[p])
        rows.append((f"<S> of Al, {p:g} GPa glass",
                     f"{rr[0]['softness']['mean']:+.3f} unstrained, peak {s_peak['softness']['mean']:+.3f} at ε = "
                     f"{s_peak['strain']:.3f}; onset of the steepest stress drop at ε = {_fmt(on[1] if on else None)}",
                     PAPER["softness_peak"]))
    for p in sorted(data.strain):
        sc = claims.crack_scores(data, p)
        if isinstance(sc, str) or sc["S0"] is None:
            rows.append((f"crack plane from S0, {p:g} GPa glass", sc if isinstance(sc, str) else "no crack boundary",
                         PAPER["crack"]))
            continue
        a = sc["S0"]
        text = (f"crack at x = {a['position']:.2f}; S0 ranks it {a['rank'] + 1} of {a['boundaries']} "
                f"(rank fraction {a['rank_fraction']:.2f}, chance 0.50)")
        if "before" in sc:
            text += (f"; S at the onset of the drop ranks it {sc['before']['rank'] + 1} of "
                     f"{sc['before']['boundaries']}")
        rows.append((f"crack plane from S0, {p:g} GPa glass", text, PAPER["crack"]))
    return rows


def _md_cell(s):
    return str(s).replace("|", "\\|").replace("\n", " ")


def write_gallery(run_dir, out_dir):
    """Write (or refresh) the gallery of a run in out_dir; return the path of its README.md."""
    data = RunData(run_dir)
    check_target(out_dir)
    owned = _owned(out_dir) if os.path.isdir(out_dir) else set()
    readme = os.path.join(out_dir, "README.md")
    kept = ""
    if "README.md" in owned:
        kept = open(readme, encoding="utf-8").read().split(MARKER, 1)[1]
    with tempfile.TemporaryDirectory() as tmp:
        build_report(run_dir, out_dir=tmp)
        summary = json.load(open(os.path.join(tmp, "validation.json")))
        pngs = sorted(f for f in os.listdir(tmp) if f.endswith(".png") and _is_gallery_file(f))
        os.makedirs(out_dir, exist_ok=True)
        # the manifest first, naming the old and the new files: a gallery killed half-way is
        # still known as pysoft's
        _write_manifest(out_dir, owned | set(pngs) | {"README.md", "validation.json"})
        for f in pngs:
            shutil.copyfile(os.path.join(tmp, f), os.path.join(out_dir, f))
        shutil.copyfile(os.path.join(tmp, "validation.json"), os.path.join(out_dir, "validation.json"))
    for f in sorted(owned - set(pngs) - {"README.md", "validation.json"}):
        if os.path.isfile(os.path.join(out_dir, f)):
            os.remove(os.path.join(out_dir, f))
    cfg = data.config
    title = cfg.get("name") or os.path.basename(data.run_dir)
    lines = [f"# Gallery: {title}", "",
             f"Written by `pysoft report RUN_DIR --gallery` from a run of `pysoft run` "
             f"({5 * cfg.get('units', 0)} atoms per glass, quench pressures "
             f"{', '.join(f'{p:g}' for p in cfg.get('pressures', []))} GPa, {cfg.get('np', '?')} MPI ranks). "
             "Every number below is this run's; the paper is Du et al., ACS Nano 2021.", "",
             "## The paper's claims, checked", "",
             "Each claim's test, verdict, numbers and chance or baseline figure come from `pysoft.claims` "
             "(rules in doc/method.md section 7).", "",
             "| claim tested | the paper's words | status | this run's numbers | chance or baseline |",
             "|---|---|---|---|---|"]
    for c in summary["checks"]:
        lines.append(f"| {_md_cell(c['check'])} | *{_md_cell(c.get('paper', ''))}* | **{_md_cell(c['status'])}** | "
                     f"{_md_cell(c['detail'])} | {_md_cell(c.get('chance', ''))} |")
    lines += ["", "## This run beside the paper", "", "| quantity | this run | the paper |", "|---|---|---|"]
    for q, ours, paper in comparison_rows(data):
        lines.append(f"| {_md_cell(q)} | {_md_cell(ours)} | {_md_cell(paper)} |")
    done = [d for d in data.done if d.get("wall_s") is not None]
    if done:
        total = sum(d["wall_s"] for d in done)
        lines += ["", f"Wall time of the stages: {total / 3600:.2f} h in all ("
                  + ", ".join(f"{d.get('label', d.get('stage'))} {d['wall_s'] / 60:.1f} min" for d in done) + ")."]
    lines += ["", "## Figures", ""]
    for key, filename, title_, caption, _ in FIGURES:
        if filename in pngs:
            lines += [f"### {title_}", "", f"![{title_}]({filename})", "", caption, ""]
        else:
            lines += [f"### {title_}", "", f"Not drawn: {summary['missing'].get(key, 'no data')}.", ""]
    lines += keyframe_gallery_lines(pngs)
    if PHOP_PNG in pngs:
        lines += ["### Training: phop of Al over the 300 K trajectories", "", "![phop](train_phop.png)", ""]
    lines += ["", MARKER]
    tmp = readme + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + (kept if kept else "\n"))
    os.replace(tmp, readme)
    _write_manifest(out_dir, set(pngs) | {"README.md", "validation.json"})
    return readme


def _write_manifest(out_dir, files):
    path = os.path.join(out_dir, MANIFEST)
    with open(path + ".tmp", "w", encoding="utf-8") as fh:
        json.dump({"written_by": "pysoft report --gallery", "files": sorted(files)}, fh, indent=1)
    os.replace(path + ".tmp", path)
