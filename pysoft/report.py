"""``pysoft report``: the paper's figures rebuilt from a run folder of ``pysoft run``.

Reads only what the pipeline wrote, through :class:`pysoft.runfolder.RunData`:

* every ``done.json``: the recorded results (the quench's density and Al4/Al5/Al6 fractions,
  how each plane-strain loop ended) and the wall times;
* ``planestrain/PxGPa/planestrain.txt``: step, strain, sxx, syy, szz (GPa), T, PE;
* ``planestrain/PxGPa/series.jsonl``: the per-step tally of :class:`pysoft.hooks.PlaneStrainTally`;
* ``planestress/PxGPa/planestress.txt``; ``train/model.json`` (metrics) and ``model_phop.png``.

and writes ``RUN_DIR/report/``: one PNG per figure and ``index.html``, which embeds the PNGs as
base64 data URIs and loads nothing from the network.  A figure whose data is missing is listed
with the reason instead of being drawn.  The validation section renders the claims of
:mod:`pysoft.claims` (each with the paper's words, its numbers and its chance or baseline
figure); the figures are drawn by :mod:`pysoft.figures`; this module only lays them out.
"""

import base64
import html
import json
import os
import re
import time

from pysoft import claims
from pysoft.figures import FIGURES, Figure, _colors
from pysoft.progress import hms
from pysoft.runfolder import RunData
from pysoft.training_report import evaluation_rows, format_accuracy

__all__ = ["FIGURES", "ReportError", "RunData", "build_report", "render_html", "validate"]


class ReportError(ValueError):
    """The run folder holds nothing to report; one line for the user."""


def validate(data):
    """The paper's claims, tested on the run (pysoft.claims.evaluate): a list of dicts with
    check, paper, status, detail, chance and numbers."""
    return claims.evaluate(data)


# -- the report -------------------------------------------------------------------------------------


def build_report(run_dir, out_dir=None):
    """Write RUN_DIR/report/index.html and its PNGs; return the path of index.html."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = RunData(run_dir)
    if data.empty:
        raise ReportError(f"{run_dir} holds no results of pysoft run (no quench, planestrain or train output)")
    out_dir = out_dir or os.path.join(data.run_dir, "report")
    os.makedirs(out_dir, exist_ok=True)
    colors = _colors(data.pressures) if data.pressures else {}
    figures = []
    for key, filename, title, caption, draw in FIGURES:
        f = Figure(key, filename, title, caption, draw)
        try:
            fig = draw(data, plt, colors)
        except (KeyError, IndexError, ValueError, TypeError) as e:
            fig = f"its data could not be read ({type(e).__name__}: {e})"
        if isinstance(fig, str):
            f.missing = fig
        else:
            f.path = os.path.join(out_dir, filename)
            fig.tight_layout()
            fig.savefig(f.path, dpi=100, metadata={"Software": None})
            plt.close(fig)
        figures.append(f)
    figures += _keyframe_figures(data.run_dir, out_dir)
    if data.phop_png:
        f = Figure("phop", "train_phop.png", "Training: phop of Al over the 300 K trajectories",
                   "Distribution of phop with the thresholds of rearranging (dashed) and non-rearranging (dotted) "
                   "events, per pressure.", None)
        import shutil

        f.path = os.path.join(out_dir, f.filename)
        shutil.copyfile(data.phop_png, f.path)
        figures.append(f)
    checks = validate(data)
    index = os.path.join(out_dir, "index.html")
    tmp = index + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(render_html(data, figures, checks))
    os.replace(tmp, index)
    with open(os.path.join(out_dir, "validation.json"), "w") as fh:
        json.dump({"checks": checks, "figures": {f.key: (f.filename if f.path else None) for f in figures},
                   "missing": {f.key: f.missing for f in figures if f.missing}}, fh, indent=1)
    return index


def _keyframe_figures(run_dir, out_dir):
    """The bar at the key moments, coloured by softness (pysoft.snapshot, Fig. 5A-B)."""
    from pysoft.snapshot import report_figures

    figures = []
    for e in report_figures(run_dir, out_dir):
        f = Figure(e["key"], e["filename"], e["title"], e["caption"], None)
        f.path, f.missing = e.get("path"), e.get("missing")
        figures.append(f)
    return figures


def _e(s):
    return html.escape(str(s))


def _img(path):
    with open(path, "rb") as fh:
        return "data:image/png;base64," + base64.b64encode(fh.read()).decode("ascii")


CSS = """
body { font-family: sans-serif; max-width: 1150px; margin: 1em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.2em; font-size: 0.9em; }
td, th { border: 1px solid #bbb; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #eee; }
.seen { color: #176117; font-weight: bold; }
.not { color: #b00000; font-weight: bold; }
.untested { color: #8a6d00; font-weight: bold; }
figure { margin: 1.2em 0; border-top: 1px solid #ddd; padding-top: 0.6em; }
figure img { max-width: 100%; }
figcaption { font-size: 0.9em; color: #444; }
.missing { color: #8a6d00; }
"""


def render_html(data, figures, checks):
    cfg = data.config
    title = cfg.get("name") or os.path.basename(data.run_dir)
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>pysoft report: {_e(title)}</title><style>{CSS}</style></head><body>",
           f"<h1>pysoft report: {_e(title)}</h1>",
           f"<p>Run folder <code>{_e(data.run_dir)}</code>; report written {_e(time.strftime('%Y-%m-%d %H:%M'))}. "
           "Figures rebuilt from this run's own data after Du et al., ACS Nano 2021 "
           "(doi 10.1021/acsnano.1c05619); panel names are the paper's.</p>"]
    if cfg:
        out.append(f"<p>{_e(5 * cfg.get('units', 0))} atoms per glass, quench pressures "
                   f"{_e(', '.join(f'{p:g}' for p in cfg.get('pressures', [])))} GPa, {_e(cfg.get('np', '?'))} MPI "
                   f"rank(s), stages {_e(', '.join(cfg.get('stages', [])))}.</p>")

    out.append("<h2>Validation against the paper's claims</h2><table><tr><th>claim tested</th>"
               "<th>the paper's words</th><th>status</th><th>numbers</th><th>chance or baseline</th></tr>")
    for c in checks:
        cls = {"seen": "seen", "NOT seen": "not", "reported": "reported"}.get(c["status"], "untested")
        out.append(f"<tr><td>{_e(c['check'])}</td><td><i>{_e(c.get('paper', ''))}</i></td>"
                   f"<td class=\"{cls}\">{_e(c['status'])}</td><td>{_e(c['detail'])}</td>"
                   f"<td>{_e(c.get('chance', ''))}</td></tr>")
    out.append("</table>")
    flagged = [c["check"] for c in checks if c["status"] not in ("seen", "reported")]
    if flagged:
        out.append(f"<p class=\"not\">Not shown by this run: {_e('; '.join(flagged))}.</p>")

    out.append("<h2>Figures</h2><ul>")
    for f in figures:
        if f.path:
            out.append(f'<li><a href="#fig-{_e(f.key)}">{_e(f.title)}</a> ({_e(f.filename)})</li>')
        else:
            out.append(f'<li class="missing">{_e(f.title)}: not drawn, {_e(f.missing)}</li>')
    out.append("</ul>")
    for f in figures:
        if f.path:
            out.append(f'<figure id="fig-{_e(f.key)}"><h3>{_e(f.title)}</h3><img alt="{_e(f.title)}" '
                       f'src="{_img(f.path)}"><figcaption>{_e(f.caption)}</figcaption></figure>')

    out.append("<h2>Softness model: training metrics</h2>")
    out.extend(_training_tables(data))
    out.append("<h2>Quenched glasses</h2>")
    out.extend(_quench_table(data))
    out.append("<h2>Stages: wall time</h2>")
    out.extend(_stage_table(data))
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _training_tables(data):
    if not data.model:
        return ['<p class="missing">No train/model.json in this run.</p>']
    m, prov = data.model.get("metrics") or {}, data.model.get("provenance") or {}
    ev = prov.get("events") or {}
    rows = [("rearranging events (phop peak > {} Å²)".format(prov.get("hop_threshold_A2", "?")), ev.get("rearranging")),
            ("non-rearranging (atom, frame) pairs (phop < {} Å²)".format(prov.get("calm_threshold_A2", "?")),
             ev.get("non_rearranging")),
            ("events used (balanced, both classes)", m.get("n_samples")),
            ("features", m.get("n_features"))] + evaluation_rows(m)
    out = ["<table><tr><th>quantity</th><th>value</th></tr>"]
    out += [f"<tr><td>{_e(k)}</td><td>{_e('-' if v is None else v)}</td></tr>" for k, v in rows]
    out.append("</table>")
    loso = m.get("leave_one_sample_out") or []
    out.append("<p>Leave one pressure out (the paper's Table S1: 0.833 → 0.798 on average, worst 0.693):</p>")
    if loso:
        out.append("<table><tr><th>test sample (pressure)</th><th>accuracy</th><th>test events</th></tr>")
        for r in loso:
            mt = re.search(r"P([-+0-9.eE]+)GPa", r.get("test", ""))
            name = f"{float(mt.group(1)):g} GPa" if mt else r.get("test", "?")
            acc = format_accuracy(r["accuracy"]) if "accuracy" in r else r.get("note", "-")
            out.append(f"<tr><td>{_e(name)}</td><td>{_e(acc)}</td><td>{_e(r.get('n_test', '-'))}</td></tr>")
        out.append("</table>")
    else:
        out.append('<p class="missing">not available (one sample only)</p>')
    cv = m.get("cv") or []
    if cv:
        out.append("<table><tr><th>C</th><th>grouped CV accuracy</th></tr>")
        out += [f"<tr><td>{_e(r['C'])}</td><td>{_e(format_accuracy(r['mean'], r.get('std')))}</td></tr>" for r in cv]
        out.append("</table>")
    return out


def _quench_table(data):
    if not data.quench:
        return ['<p class="missing">No quench results.</p>']
    out = ["<table><tr><th>P (GPa)</th><th>density (g/cm³)</th><th>Al4 (%)</th><th>Al5 (%)</th><th>Al6 (%)</th>"
           "<th>other (%)</th></tr>"]
    for p, r in sorted(data.quench.items()):
        out.append(f"<tr><td>{p:g}</td><td>{r['density_g_cm3']:.4f}</td><td>{100 * r['Al4']:.1f}</td>"
                   f"<td>{100 * r['Al5']:.1f}</td><td>{100 * r['Al6']:.1f}</td><td>{100 * r['other']:.1f}</td></tr>")
    out.append("</table>")
    return out


def _stage_table(data):
    if not data.done:
        return ['<p class="missing">No finished stages recorded (done.json).</p>']
    done = data.done              # in stage order, then by pressure
    out = ["<table><tr><th>stage</th><th>wall time</th><th>CPU time (all ranks)</th><th>MPI ranks</th>"
           "<th>work</th><th>finished</th></tr>"]
    total = cpu = 0.0
    for d in done:
        total += d.get("wall_s", 0.0)
        cpu += d.get("cpu_s") or 0.0
        work = f"{d.get('cost', 0):.3g} {d.get('cost_unit', '')}"
        cpu_s = hms(d["cpu_s"]) if d.get("cpu_s") is not None else "-"
        out.append(f"<tr><td>{_e(d.get('label', d.get('stage')))}</td><td>{_e(hms(d.get('wall_s', 0)))}</td>"
                   f"<td>{_e(cpu_s)}</td><td>{_e(d.get('np', '?'))}</td><td>{_e(work)}</td>"
                   f"<td>{_e(d.get('finished', ''))}</td></tr>")
    out.append(f"<tr><th>all</th><th>{_e(hms(total))}</th><th>{_e(hms(cpu))}</th><th></th><th></th><th></th>"
               "</tr></table>")
    return out

