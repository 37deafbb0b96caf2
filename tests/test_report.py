"""pysoft report on a synthetic run folder: every figure drawn and listed, a self-contained HTML
page, and a validation section that flags a trend the run does not show.

The run folder is made here in the formats the pipeline writes: quench logs with the
"quench result:" line (after the echoed print command, as LAMMPS writes it), plane-strain
stress-strain tables, series.jsonl files in the format of pysoft.hooks.PlaneStrainTally (its own
bin constants), and a model.json with the metrics of pysoft train.  The synthetic data follow the
paper's trends unless a test breaks one.
"""

import json
import os
import re
from html import escape

import numpy as np
import pytest

from test_snapshot import write_synthetic_keyframes

from pysoft import series, tally
from pysoft.report import FIGURES, RunData, build_report, render_html, validate

PRESSURES = (0.0, 2.0, 4.0)
NSTEPS = 30                 # strain steps of 0.01
DROP_STEP = {0.0: 14, 2.0: 16, 4.0: 18}   # step at which sxx has dropped (fracture)
CRACK = {0.0: 5, 2.0: 11, 4.0: 15}        # slab boundary where the crack opens (pysoft.crack)


def quench_log(p):
    density = 3.28 + 0.037 * p
    al5, al6 = 0.28 + 0.025 * p, 0.04 + 0.011 * p
    al4 = 1.0 - al5 - al6 - 0.005
    return (
        "LAMMPS (22 Jul 2025 - Update 4)\n"
        'print       "quench result: P ${P} GPa  density $(density:%.4f) g/cm3  Al4 $(v_f4:%.4f)  '
        'Al5 $(v_f5:%.4f)  Al6 $(v_f6:%.4f)  other $(1-v_f4-v_f5-v_f6:%.4f)"\n'
        f"quench result: P {p:g} GPa  density {density:.4f} g/cm3  Al4 {al4:.4f}  Al5 {al5:.4f}  "
        f"Al6 {al6:.4f}  other 0.0050\n"
        "Total wall time: 0:00:05\n")


def stress_curve(p):
    """sxx rising linearly to step 8, then a yield plateau (slowly rising) up to the step before
    the fracture step, then a drop to near zero: the plateau lengthens with pressure."""
    k = np.arange(NSTEPS + 1)
    d = DROP_STEP[p]
    rise = 0.9 * np.minimum(k, 8) + 0.01 * k
    top = 0.9 * 8 + 0.01 * (d - 1)
    s = np.where(k < d, rise, top * np.exp(-(k - d + 1) / 1.5))
    return k, 0.01 * k, s


def profile(p, i, rng, soft_at=None):
    """Slab profile of step i: affine until the drop, then the crack at CRACK[p] takes the stretch;
    the Al of the two slabs beside the crack boundary (or beside soft_at) are the softest."""
    nb = series.X_BINS
    strain = 0.01 * i
    u = (np.arange(nb) + 0.5) / nb
    if i >= DROP_STEP[p]:
        gap = strain / (1 + strain)
        u = u * (1 - gap)
        u[CRACK[p] + 1:] += gap
    b = CRACK[p] if soft_at is None else soft_at
    S = rng.normal(0.0, 0.05, nb) + 0.02 * i
    S[[b, (b + 1) % nb]] += 0.5
    return {"n": [150] * nb, "u_mean": u.tolist(), "n_centre": [60] * nb, "S_mean": S.tolist()}


def series_rows(p, rng):
    k, strain, sxx = stress_curve(p)
    d = DROP_STEP[p]
    n_al = 600
    rows = []
    for i in k:
        frac = min(i / NSTEPS, 1.0)
        mean_s = -0.2 + 0.8 * np.exp(-0.5 * ((i - d) / 2.0) ** 2)      # peaks at the drop
        S = rng.normal(mean_s, 1.0, n_al)
        D = np.abs(rng.normal(0.8 * i, 2.0, n_al))
        # local stress of Al4, Al5, Al6: rising with CN; with pressure for Al4 and Al5, not Al6
        shift = np.array([[-6.0 + 0.8 * p], [-2.0 + 0.8 * p], [6.0]])
        sig = rng.normal(sxx[i] / 3.0 + shift, 3.0, (3, n_al // 3))
        dc, ic, sc = int(60 * frac), int(30 * frac), int(150 * frac)
        counts_by_cn = {str(c): {"UC": 200 - dc // 3 - ic // 3 - sc // 3, "DC": dc // 3, "IC": ic // 3, "SC": sc // 3}
                        for c in (4, 5, 6)}
        along = {s: np.histogram(rng.normal(0.5, 0.15, n), bins=series.X_BINS, range=(0, 1))[0].tolist()
                 for s, n in (("DC", dc), ("IC", ic), ("SC", sc))}
        tot = tally.hist(rng.normal(0, 1, 200), series.S0_EDGES)
        p_dc = np.clip(0.3 * np.exp(-0.8 * 0.5 * (series.S0_EDGES[1:] + series.S0_EDGES[:-1])) * frac, 0, 1)
        rows.append({
            "step": int(i), "strain": float(strain[i]),
            "stress_GPa": {"xx": float(sxx[i]), "yy": 0.3 * float(sxx[i]), "zz": 0.3 * float(sxx[i]),
                           "xy": 0.0, "xz": 0.0, "yz": 0.0},
            "n_centre": n_al,
            "softness": {"mean": float(S.mean()), "std": float(S.std()), "hist": tally.hist(S, series.S_EDGES).tolist()},
            "clusters": {"number": int(20 + i), "largest": int(3 + 2 * i), "threshold": 1.2, "soft_atoms": 60},
            "D_A": {"mean": float(D.mean()), "hist": tally.hist(D, series.D_EDGES).tolist()},
            "bond_fraction": {"UC": (n_al - dc - ic - sc) / n_al, "DC": dc / n_al, "IC": ic / n_al, "SC": sc / n_al},
            "bond_counts_by_cn0": counts_by_cn,
            "switch_along_axis": along,
            "p_dc_al5_by_s0": {"total": tot.tolist(), "dc": np.round(tot * p_dc).astype(int).tolist()},
            "local_stress_GPa": {**{str(c): tally.hist(sig[j], series.SIGMA_EDGES).tolist()
                                    for j, c in enumerate((4, 5, 6))},
                                 "all": tally.hist(sig.ravel(), series.SIGMA_EDGES).tolist()},
            "profile": profile(p, int(i), rng),
        })
    return rows


def outcome_line(p, fractured=True):
    """The last line of in.tension.planestrain's stress-strain file."""
    d = DROP_STEP[p]
    step, strain = (d, f"{0.01 * d:.4f}") if fractured else (-1, "none")
    return (f"# planestrain result: fractured {int(fractured)} failure_step {step} failure_strain {strain} "
            f"peak_sxx_GPa {7.2 + 0.01 * (d - 1):.6f} criterion sxx < 0.1 x peak for 3 steps\n")


def series_header():
    return {"format": series.FORMAT, "version": 1,
            "units": {"length": "Å", "stress": "GPa, positive in tension", "softness": "dimensionless", "D": "Å"},
            "length0_A": 25.6, "axis": "x", "centre_type": 1, "top_fraction": 0.1, "cluster_cutoff_A": 3.7,
            "bins": {"softness": series.S_EDGES.tolist(), "D_A": series.D_EDGES.tolist(),
                     "local_stress_GPa": series.SIGMA_EDGES.tolist(), "s0": series.S0_EDGES.tolist(),
                     "axis": series.X_BINS},
            "states": list(series.STATES), "ranks": 2}


def model_json():
    loso = [{"test": f"traj_P{p:g}GPa.lammpstrj", "accuracy": 0.78 - 0.02 * p, "n_test": 40} for p in PRESSURES]
    return {"format": "pysoft-softness-model", "version": 1, "spec": {}, "coef": [], "intercept": 0.0,
            "metrics": {"C": 1.0, "cv": [{"C": 0.1, "mean": 0.79, "std": 0.03}, {"C": 1.0, "mean": 0.81, "std": 0.02}],
                        "cv_accuracy": 0.81, "cv_std": 0.02, "folds": 5, "n_samples": 120, "n_features": 150,
                        "holdout": {"train": 0.86, "test": 0.80, "n_train": 96, "n_test": 60},
                        "learning_curve": {"n_test": 60, "points": [
                            {"n_train": n, "mean": a, "low": a - 0.03, "high": a + 0.03, "test_standard_error": 0.05}
                            for n, a in ((24, 0.66), (48, 0.72), (96, 0.80))],
                            "end_slope": {"per_doubling": 0.07, "standard_error": 0.03}},
                        "time_split": {"train": 0.85, "test": 0.77, "n_train": 90, "n_test": 30},
                        "leave_one_sample_out": loso, "radial_only_cv_accuracy": 0.76,
                        "all_features_cv_accuracy": 0.81, "train_accuracy_all": 0.86},
            "provenance": {"events": {"rearranging": 60, "non_rearranging": 40000}, "hop_threshold_A2": 0.2,
                           "calm_threshold_A2": 0.05}}


def write_run(root, seed=0):
    rng = np.random.default_rng(seed)
    os.makedirs(root)
    with open(os.path.join(root, "config.json"), "w") as fh:
        json.dump({"name": "synthetic", "units": 300, "pressures": list(PRESSURES), "np": 2,
                   "stages": ["quench", "nvt", "train", "planestrain", "report"]}, fh)
    for p in PRESSURES:
        label = f"P{p:g}GPa"
        q = os.path.join(root, "quench", label)
        os.makedirs(q)
        with open(os.path.join(q, "log.lammps"), "w") as fh:
            fh.write(quench_log(p))
        with open(os.path.join(q, "done.json"), "w") as fh:
            json.dump({"stage": "quench", "pressure_GPa": p, "label": f"quench P={p:g} GPa", "wall_s": 120.0,
                       "np": 2, "cost": 2.4e7, "cost_unit": "atom-steps", "finished": "2026-01-01T00:00:00"}, fh)
        d = os.path.join(root, "planestrain", label)
        os.makedirs(d)
        k, strain, sxx = stress_curve(p)
        with open(os.path.join(d, "planestrain.txt"), "w") as fh:
            fh.write("# in.tension.planestrain: lx0 25.6 A\n# step strain sxx_GPa syy_GPa szz_GPa temp_K pe_eV\n")
            for i in k:
                fh.write(f"{i} {strain[i]:.4f} {sxx[i]:.6f} {0.3 * sxx[i]:.6f} {0.3 * sxx[i]:.6f} 300.1 -9876.5\n")
            fh.write(outcome_line(p))
        with open(os.path.join(d, "series.jsonl"), "w") as fh:
            for obj in [series_header()] + series_rows(p, rng):
                fh.write(json.dumps(obj) + "\n")
        write_synthetic_keyframes(os.path.join(d, "keyframes"))
    os.makedirs(os.path.join(root, "train"))
    with open(os.path.join(root, "train", "model.json"), "w") as fh:
        json.dump(model_json(), fh)
    return root


@pytest.fixture
def run_dir(tmp_path):
    return write_run(str(tmp_path / "run"))


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """One full report of the synthetic run (drawing every figure takes a while)."""
    return build_report(write_run(str(tmp_path_factory.mktemp("report") / "run")))


def test_every_figure_is_drawn_and_listed(report):
    index = report
    out = os.path.dirname(index)
    html = open(index, encoding="utf-8").read()
    for key, filename, title, caption, _ in FIGURES:
        path = os.path.join(out, filename)
        assert os.path.isfile(path), key
        with open(path, "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n", key
        assert f'id="fig-{key}"' in html, key
        assert filename in html and escape(caption) in html, key
    summary = json.load(open(os.path.join(out, "validation.json")))
    assert summary["missing"] == {}
    assert set(summary["figures"]) >= {f[0] for f in FIGURES}
    assert "not drawn" not in html
    # the training table, with leave-one-pressure-out by pressure
    assert "Leave one pressure out" in html and "4 GPa" in html and "0.700" in html


def test_html_is_self_contained(report):
    html = open(report, encoding="utf-8").read()
    srcs = re.findall(r'src="([^"]*)"', html)
    assert len(srcs) == len(FIGURES) + len(PRESSURES)         # + the key-frame pictures (pysoft.snapshot)
    assert all(re.fullmatch(r"data:image/png;base64,[A-Za-z0-9+/]+=*", s) for s in srcs)
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/]+=*", "", html)
    assert not re.search(r"(?i)\b(https?|ftp|file)://|\bwww\.|//[a-z0-9-]+\.[a-z]", text)
    assert "<script" not in text.lower() and "<link" not in text.lower() and "url(" not in text
    assert all(h.startswith("#") for h in re.findall(r'href="([^"]*)"', text))


def test_figures_have_axis_labels_with_units(run_dir):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pysoft.report import _colors

    data = RunData(run_dir)
    colors = _colors(data.pressures)
    for key, _, _, caption, draw in FIGURES:
        fig = draw(data, plt, colors)
        assert not isinstance(fig, str), (key, fig)
        for ax in fig.axes:
            assert ax.get_xlabel() and ax.get_ylabel(), key
        # a unit or an explicit "fraction/number/probability" on the y axis of each figure
        ylabels = " ".join(ax.get_ylabel() for ax in fig.axes)
        assert re.search(r"\(|%|number|probability|P\(|softness|cluster", ylabels), (key, ylabels)
        assert caption.endswith(".") and len(caption) < 250
        plt.close(fig)


def test_validation_sees_the_planted_trends(run_dir):
    checks = {c["check"]: c for c in validate(RunData(run_dir))}
    assert all(c["status"] in ("seen", "reported") for c in checks.values()), checks
    assert all(c["paper"] and c["chance"] for c in checks.values() if c["status"] == "seen")
    assert "3.280 g/cm³" in checks["density rises with quench pressure"]["detail"]
    assert "0.800 on 60 events" in checks["softness model held-out accuracy well above chance"]["detail"]
    frac = next(c for n, c in checks.items() if n.startswith("the samples fracture"))
    assert "0 GPa: peak 7.33 GPa, fractured at strain 0.140" in frac["detail"]
    duct = next(c for n, c in checks.items() if n.startswith("the yield regime"))
    assert "4 GPa: plateau ε = 0.080-0.170 (length 0.090" in duct["detail"]
    crack = next(c for n, c in checks.items() if n.startswith("beyond the paper"))
    assert "0 GPa: crack at x = 0.30 of the box" in crack["detail"] and "ranks it 1 of 20" in crack["detail"]
    pdc = next(c for n, c in checks.items() if n.startswith("P(DC | S0)"))
    assert "at ε = 0.300, the last strain all glasses reached" in pdc["detail"]
    assert re.search(r"4 GPa at ε = 0.300: slope of ln P -0\.[5-9]", pdc["detail"]), pdc["detail"]


def test_validation_flags_no_fracture_and_a_crack_softness_missed(run_dir):
    ss = os.path.join(run_dir, "planestrain", "P4GPa", "planestrain.txt")
    text = open(ss).read().replace(outcome_line(4.0), outcome_line(4.0, fractured=False))
    open(ss, "w").write(text)
    # the 0 GPa glass is softest far from where it cracks
    spath = os.path.join(run_dir, "planestrain", "P0GPa", "series.jsonl")
    lines = [json.loads(x) for x in open(spath)]
    lines[1]["profile"] = profile(0.0, 0, np.random.default_rng(1), soft_at=15)
    with open(spath, "w") as fh:
        fh.writelines(json.dumps(x) + "\n" for x in lines)
    checks = validate(RunData(run_dir))
    frac = next(c for c in checks if c["check"].startswith("the samples fracture"))
    assert frac["status"] == "NOT seen" and "4 GPa: peak 7.37 GPa, NOT fractured by strain 0.300" in frac["detail"]
    duct = next(c for c in checks if c["check"].startswith("the yield regime"))
    assert duct["status"] == "seen"         # the plateau ends at the onset of the drop, fractured or not
    crack = next(c for c in checks if c["check"].startswith("beyond the paper"))
    assert crack["status"] == "NOT seen" and "ranks it 13 of 20, miss" in crack["detail"]
    assert "4 GPa: did not fracture" in crack["detail"]


def test_validation_flags_a_missing_trend(run_dir):
    # the 4 GPa glass comes out lighter than the 0 GPa one: the density trend is not there
    log = os.path.join(run_dir, "quench", "P4GPa", "log.lammps")
    text = open(log).read().replace("density 3.4280", "density 3.2000")
    open(log, "w").write(text)
    data = RunData(run_dir)
    checks = validate(data)
    by_name = {c["check"]: c for c in checks}
    bad = by_name["density rises with quench pressure"]
    assert bad["status"] == "NOT seen"
    assert "3.200 g/cm³" in bad["detail"]
    assert by_name["Al5 + Al6 fraction rises with quench pressure"]["status"] == "seen"
    html = render_html(data, [], checks)
    assert '<td class="not">NOT seen</td>' in html
    assert re.search(r"Not shown by this run: [^<]*density rises with quench pressure", html)


def test_validation_flags_weak_model_and_misplaced_softness_peak(run_dir):
    path = os.path.join(run_dir, "train", "model.json")
    model = json.load(open(path))
    model["metrics"]["holdout"].update(test=0.56, n_test=50)
    json.dump(model, open(path, "w"))
    # <S> of the 0 GPa sample peaks at the first step, far from its stress drop
    spath = os.path.join(run_dir, "planestrain", "P0GPa", "series.jsonl")
    lines = [json.loads(x) for x in open(spath)]
    lines[1]["softness"]["mean"] = 5.0
    with open(spath, "w") as fh:
        fh.writelines(json.dumps(x) + "\n" for x in lines)
    checks = {c["check"]: c for c in validate(RunData(run_dir))}
    assert checks["softness model held-out accuracy well above chance"]["status"] == "NOT seen"
    s = next(c for n, c in checks.items() if n.startswith("mean softness"))
    assert s["status"] == "NOT seen" and "0 GPa: ⟨S⟩ peaks at ε = 0.000" in s["detail"]


def test_missing_analysis_is_listed_not_hidden(run_dir):
    for p in PRESSURES:
        os.unlink(os.path.join(run_dir, "planestrain", f"P{p:g}GPa", "series.jsonl"))
    os.unlink(os.path.join(run_dir, "train", "model.json"))
    index = build_report(run_dir)
    html = open(index, encoding="utf-8").read()
    summary = json.load(open(os.path.join(os.path.dirname(index), "validation.json")))
    needs_series = {"1D", "2A-C", "3A", "3B", "3C-E", "4B", "4C", "5C", "5D", "crack"}
    assert set(summary["missing"]) == needs_series | {"LC"}     # LC: the learning curve of the removed model
    for key, _, title, _, _ in FIGURES:
        if key in needs_series:
            assert f"{escape(title)}: not drawn, no plane-strain series.jsonl" in html
    checks = {c["check"]: c for c in validate(RunData(run_dir))}
    assert next(c for n, c in checks.items() if n.startswith("mean softness"))["status"] == "not testable"
    assert "not testable" in html


def test_torn_series_line_is_skipped(run_dir):
    # a run killed mid-write leaves at most an incomplete last line; the rows before it count
    spath = os.path.join(run_dir, "planestrain", "P2GPa", "series.jsonl")
    with open(spath, "a") as fh:
        fh.write('{"step": 31, "strain": 0.31, "stress_G')
    data = RunData(run_dir)
    assert [r["step"] for r in data.series[2.0][1]] == list(range(NSTEPS + 1))


def test_report_command(run_dir, tmp_path, capsys):
    import shutil

    from pysoft.cli import main

    for stage in ("planestrain", "train"):          # quench results alone: quick to draw
        shutil.rmtree(os.path.join(run_dir, stage))
    assert main(["report", run_dir]) == 0
    assert capsys.readouterr().out.strip().endswith(os.path.join("report", "index.html"))
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["report", str(empty)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pysoft: error:") and "holds no results" in err and "\n" not in err
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert "run folder not found" in capsys.readouterr().err


def test_gallery_writes_figures_and_the_comparison_and_keeps_hand_written_text(run_dir, tmp_path, capsys):
    from pysoft.cli import main
    from pysoft.gallery import MARKER

    gal = tmp_path / "gallery"
    assert main(["report", run_dir, "--gallery", str(gal)]) == 0
    readme = (gal / "README.md").read_text(encoding="utf-8")
    for _, filename, title, _, _ in FIGURES:
        assert (gal / filename).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", filename
        assert f"![{title}]({filename})" in readme
    assert readme.startswith("# Gallery: ")
    assert ("| plane strain, 4 GPa glass | peak 7.37 GPa; yield plateau (σxx ≥ 90% of peak, up to the onset of the "
            "drop) ε = 0.080-0.170, length 0.090; fractured at ε = 0.180") in readme
    assert "| softness model accuracy: held-out atoms (test) | 0.800 on 60 events" in readme
    assert readme.rstrip().endswith(MARKER)
    checks = json.loads((gal / "validation.json").read_text())["checks"]
    assert len(checks) >= 8 and "index.html" not in os.listdir(gal)
    # text written below the marker survives a rebuild
    (gal / "README.md").write_text(readme + "\nThe 4 GPa glass broke last.\n", encoding="utf-8")
    assert main(["report", run_dir, "--gallery", str(gal)]) == 0
    assert (gal / "README.md").read_text(encoding="utf-8").endswith(MARKER + "\n\nThe 4 GPa glass broke last.\n")
    capsys.readouterr()
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert main(["report", run_dir, "--gallery", str(blocker / "gallery")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pysoft: error: cannot write the gallery") and "\n" not in err


def _gallery_files(gal):
    return {f: (gal / f).read_bytes() for f in os.listdir(gal)}


@pytest.mark.parametrize("name", ["README.md", "validation.json", "fig1a_stress_strain.png"])
def test_gallery_refuses_a_users_file_before_writing_anything(run_dir, tmp_path, capsys, name):
    """A user's own README.md (no pysoft marker), or any user file of a gallery file's name, is
    never overwritten: one line, and nothing written (not even the run's own report)."""
    from pysoft.cli import main

    gal = tmp_path / "mine"
    gal.mkdir()
    (gal / name).write_bytes(b"my own notes\n")
    (gal / "notes.txt").write_text("kept")
    before = _gallery_files(gal)
    assert main(["report", run_dir, "--gallery", str(gal)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "pysoft did not write" in err and name in err
    assert _gallery_files(gal) == before
    assert not os.path.exists(os.path.join(run_dir, "report"))


def test_gallery_rebuilt_from_a_smaller_run_drops_the_old_figures(run_dir, tmp_path):
    """A gallery rebuilt from a run that draws fewer figures removes the PNGs pysoft wrote
    before (known by its manifest) and keeps the user's own files."""
    from pysoft.gallery import MANIFEST, write_gallery

    gal = tmp_path / "gallery"
    write_gallery(run_dir, str(gal))
    assert (gal / "fig4c_p_dc_vs_s0.png").exists() and (gal / MANIFEST).exists()
    (gal / "notes.txt").write_text("kept")
    for p in PRESSURES:
        os.unlink(os.path.join(run_dir, "planestrain", f"P{p:g}GPa", "series.jsonl"))
    write_gallery(run_dir, str(gal))
    readme = (gal / "README.md").read_text(encoding="utf-8")
    for _, filename, title, _, _ in FIGURES:
        drawn = f"![{title}]({filename})" in readme
        assert (gal / filename).exists() == drawn, filename
    assert not (gal / "fig4c_p_dc_vs_s0.png").exists() and "Not drawn" in readme
    assert (gal / "notes.txt").read_text() == "kept"
    assert json.loads((gal / MANIFEST).read_text())["files"] == sorted(
        f for f in os.listdir(gal) if f not in ("notes.txt", MANIFEST))


def test_gallery_of_an_older_pysoft_is_recognised_by_its_marker(run_dir, tmp_path):
    """A gallery written before the manifest (README.md with the marker line) is pysoft's:
    rebuilt in place, its stale figures removed."""
    from pysoft.gallery import MANIFEST, write_gallery

    gal = tmp_path / "gallery"
    write_gallery(run_dir, str(gal))
    os.unlink(gal / MANIFEST)
    for p in PRESSURES:
        os.unlink(os.path.join(run_dir, "planestrain", f"P{p:g}GPa", "series.jsonl"))
    write_gallery(run_dir, str(gal))
    assert not (gal / "fig4c_p_dc_vs_s0.png").exists() and (gal / MANIFEST).exists()
