"""``pysoft report RUN_DIR --gallery DIR``: a run's report as files to commit and read on a forge.

The HTML report embeds its figures and is rebuilt at will; a gallery is the record of one run
kept in a repository (doc/validation/ is the validation run's): the figures as PNG files, the
trend checks as ``validation.json``, and ``README.md``, a page that puts every number the run
measured beside the paper's.  Text that interprets the run is written by hand below the marker
line of README.md and kept when the gallery is rebuilt.
"""

import json
import os
import shutil
import tempfile

from pysoft.snapshot import keyframe_gallery_lines
from pysoft.report import FIGURES, RunData, build_report, crack_scores, ductility, stress_drop

MARKER = "<!-- written by hand below this line; pysoft report --gallery keeps it -->"

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
        d = ductility(t, o)
        peak = float(t[:, 2].max())
        if d:
            text = (f"peak {peak:.2f} GPa at ε = {d['peak_strain']:.3f}; fractured at ε = {d['failure_strain']:.3f}; "
                    f"yield regime {d['yield_regime']:.3f}")
        else:
            text = f"peak {peak:.2f} GPa; not fractured by ε = {t[-1, 1]:.3f} (final {t[-1, 2]:.2f} GPa)"
        rows.append((f"plane strain, {p:g} GPa glass", text, PAPER["fracture"] + "; " + PAPER["ductility"]))
    for p, (h, srows) in sorted(data.series.items()):
        rr = [r for r in srows if "softness" in r]
        if not rr or p not in data.strain:
            continue
        s_peak = max(rr, key=lambda r: r["softness"]["mean"])
        drop = stress_drop(data.strain[p])
        rows.append((f"<S> of Al, {p:g} GPa glass",
                     f"{rr[0]['softness']['mean']:+.3f} unstrained, peak {s_peak['softness']['mean']:+.3f} at ε = "
                     f"{s_peak['strain']:.3f}; largest stress drop at ε = {_fmt(drop[0] if drop else None)}",
                     PAPER["softness_peak"]))
    for p in sorted(data.strain):
        sc = crack_scores(data, p)
        if isinstance(sc, str):
            rows.append((f"crack plane from S0, {p:g} GPa glass", sc, PAPER["crack"]))
            continue
        a = sc["S0"]
        text = (f"crack at x = {a['position']:.2f}; S0 ranks it {a['rank'] + 1} of 20 (rank fraction "
                f"{a['rank_fraction']:.2f}, chance 0.50)")
        if "before" in sc:
            text += f"; S just before failure ranks it {sc['before']['rank'] + 1} of 20"
        rows.append((f"crack plane from S0, {p:g} GPa glass", text, PAPER["crack"]))
    return rows


def _md_cell(s):
    return str(s).replace("|", "\\|").replace("\n", " ")


def write_gallery(run_dir, out_dir):
    """Write (or refresh) the gallery of a run in out_dir; return the path of its README.md."""
    data = RunData(run_dir)
    os.makedirs(out_dir, exist_ok=True)
    readme = os.path.join(out_dir, "README.md")
    kept = ""
    if os.path.isfile(readme):
        text = open(readme, encoding="utf-8").read()
        if MARKER in text:
            kept = text.split(MARKER, 1)[1]
    with tempfile.TemporaryDirectory() as tmp:
        build_report(run_dir, out_dir=tmp)
        summary = json.load(open(os.path.join(tmp, "validation.json")))
        pngs = sorted(f for f in os.listdir(tmp) if f.endswith(".png"))
        for f in pngs:
            shutil.copyfile(os.path.join(tmp, f), os.path.join(out_dir, f))
        shutil.copyfile(os.path.join(tmp, "validation.json"), os.path.join(out_dir, "validation.json"))
    cfg = data.config
    title = cfg.get("name") or os.path.basename(data.run_dir)
    lines = [f"# Gallery: {title}", "",
             f"Written by `pysoft report RUN_DIR --gallery` from a run of `pysoft run` "
             f"({5 * cfg.get('units', 0)} atoms per glass, quench pressures "
             f"{', '.join(f'{p:g}' for p in cfg.get('pressures', []))} GPa, {cfg.get('np', '?')} MPI ranks). "
             "Every number below is this run's; the paper is Du et al., ACS Nano 2021.", "",
             "## The paper's claims, checked", "", "| claim | status | this run's numbers |", "|---|---|---|"]
    for c in summary["checks"]:
        lines.append(f"| {_md_cell(c['check'])} | **{_md_cell(c['status'])}** | {_md_cell(c['detail'])} |")
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
    if "train_phop.png" in pngs:
        lines += ["### Training: phop of Al over the 300 K trajectories", "", "![phop](train_phop.png)", ""]
    lines += ["", MARKER]
    tmp = readme + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + (kept if kept else "\n"))
    os.replace(tmp, readme)
    return readme
