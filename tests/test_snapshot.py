"""pysoft.snapshot and ``pysoft snapshot``: pictures of key frames and of a user's own dumps,
one-line errors on bad input; and the report page in a real browser (headless Chromium).

:func:`write_synthetic_keyframes` writes key frames of a made-up bar (through pysoft.keyframes
itself) with a soft band where a crack opens at the last step; test_report's synthetic run uses
it too."""

import gzip
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from pysoft.cli import main
from pysoft.keyframes import KeyFrames, read_manifest
from pysoft.tally import SerialComm


def synthetic_frame(step, stress, crack_at=None, n=900, seed=3):
    """A bar 40 x 16 x 16 Å stretched 2 % a step; Al (type 1) soft in a band at x ~ 25 Å; from
    `crack_at` on, the atoms beyond x = 25 Å move 6 Å along x (an open crack)."""
    rng = np.random.default_rng(seed)
    frac = rng.random((n, 3))
    types = np.where(np.arange(n) % 5 < 2, 1, 2)
    stretch = 1.0 + 0.02 * step
    gap = 6.0 if crack_at is not None and step >= crack_at else 0.0
    cell = np.diag([40.0 * stretch + gap, 16.0, 16.0])
    x = frac * [40.0 * stretch, 16.0, 16.0]
    x[:, 0] += np.where(frac[:, 0] > 25.0 / 40.0, gap, 0.0)
    al = types == 1
    S = np.where(al, rng.normal(size=n) + 2.5 * np.exp(-((frac[:, 0] * 40 - 25.0) / 3.0) ** 2), 0.0)
    return {"step": step, "strain": 0.02 * step, "stress": stress, "timestep": 1000 * step, "boxlo": np.zeros(3),
            "cell": cell, "id": np.arange(1, n + 1), "type": types, "x": x[:, 0], "y": x[:, 1], "z": x[:, 2],
            "S": S, "S0": S, "D": 0.1 * step * rng.random(n), "cn0": np.where(al, 5, -1), "cn": np.where(al, 5, -1),
            "switch": np.where(al, 0, -1), "slab": (frac[:, 0] * 20).astype(int)}


def write_synthetic_keyframes(directory, nsteps=8, crack_at=6):
    """Key frames of a synthetic loop whose stress peaks at step 4 and falls most from 5 to 6."""
    stress = [0.0, 2.0, 4.0, 5.5, 6.0, 5.0, 1.0, 0.6, 0.5][:nsteps + 1]
    kf = KeyFrames(SerialComm(), directory)
    for k, s in enumerate(stress):
        kf.record(synthetic_frame(k, s, crack_at))
    kf.finish()
    return directory


@pytest.fixture(scope="module")
def keyframes(tmp_path_factory):
    return write_synthetic_keyframes(str(tmp_path_factory.mktemp("snap") / "keyframes"))


def test_key_frames_of_a_folder_render_with_their_moments(keyframes, tmp_path, capsys):
    from pysoft.snapshot import keyframe_snapshots

    snaps = keyframe_snapshots(keyframes)
    assert [s.label.split(":")[0] for s in snaps] == ["unstrained", "peak", "drop onset", "last"]
    out = tmp_path / "kf.png"
    assert main(["snapshot", keyframes, "-o", str(out), "--title", "synthetic"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    png = out.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    img = matplotlib.image.imread(str(out))
    assert img.shape[0] > 0.6 * img.shape[1]            # four rows of two panels
    assert not [f for f in os.listdir(tmp_path) if ".tmp" in f]


def test_the_crack_shows_as_a_gap_in_the_last_frame(keyframes):
    """The drawn atoms leave an empty band across the bar where the synthetic crack opened."""
    from pysoft.snapshot import keyframe_snapshots

    last = keyframe_snapshots(keyframes)[-1]
    x = last.cols["x"][last.cols["type"] == 1]
    hist = np.histogram(x, bins=np.arange(0.0, last.cell[0, 0] + 1.0, 1.0))[0]
    empty = np.flatnonzero(hist == 0)
    assert len(empty) >= 4 and np.all(np.diff(empty) == 1)
    assert 25.0 * 1.16 < empty[0] + 1 and empty[-1] < 25.0 * 1.16 + 7


def test_a_users_own_dump_renders(tmp_path, capsys):
    """A dump written by the user's own LAMMPS run (dump custom with a softness column): text,
    atoms in any order, no cluster column (then no cluster panel)."""
    f = synthetic_frame(0, 0.0, n=200)
    order = np.random.default_rng(1).permutation(200)
    lines = ["ITEM: TIMESTEP", "5000", "ITEM: NUMBER OF ATOMS", "200", "ITEM: BOX BOUNDS pp pp pp",
             "0 40", "0 16", "0 16", "ITEM: ATOMS id type x y z S"]
    lines += [f"{f['id'][i]} {f['type'][i]} {f['x'][i]:.4f} {f['y'][i]:.4f} {f['z'][i]:.4f} {f['S'][i]:.5f}"
              for i in order]
    (tmp_path / "mine.dump").write_text("\n".join(lines) + "\n")
    out = tmp_path / "mine.png"
    assert main(["snapshot", str(tmp_path / "mine.dump"), "-o", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("content, message", [
    (None, "no such dump file"),
    ("", "no frames"),
    ("ITEM: TIMESTEP\n0\nITEM: NUMBER OF ATOMS\n2\nITEM: BOX BOUNDS pp pp pp\n0 1\n0 1\n0 1\n"
     "ITEM: ATOMS id type x y z\n1 1 0 0 0\n2 2 0.5 0.5 0.5\n", "no column S"),
    ("ITEM: TIMESTEP\n0\nITEM: NUMBER OF ATOMS\n3\nITEM: BOX BOUNDS pp pp pp\n0 1\n0 1\n0 1\n"
     "ITEM: ATOMS id type x y z S\n1 1 0 0 0 0.1\n", "truncated frame"),
    ("ITEM: TIMESTEP\n0\nITEM: NUMBER OF ATOMS\n1\nITEM: BOX BOUNDS pp pp pp\n0 1\n0 1\n0 1\n"
     "ITEM: ATOMS id type x y z S\n1 2 0 0 0 0.1\n", "no atom of type 1"),
    ("ITEM: TIMESTEP\n0\nITEM: NUMBER OF ATOMS\n1\nITEM: BOX BOUNDS pp pp pp\n0 1\n0 1\n0 1\n"
     "ITEM: ATOMS id type x y z S\n1 1 0 0 0 nan\n", "non-finite"),
])
def test_bad_input_is_one_line(tmp_path, capsys, content, message):
    path = tmp_path / "bad.dump"
    if content is not None:
        path.write_text(content)
    assert main(["snapshot", str(path), "-o", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pysoft: error: ") and message in err and "\n" not in err, err
    assert not (tmp_path / "x.png").exists()


def test_bad_output_and_a_folder_without_key_frames_are_one_line(keyframes, tmp_path, capsys):
    for args, message in ((["-o", str(tmp_path / "x.jpg")], "name it .png"),
                          (["-o", str(tmp_path / "no" / "x.png")], "does not exist")):
        assert main(["snapshot", keyframes, *args]) == 2
        assert message in capsys.readouterr().err
    assert main(["snapshot", str(tmp_path), "-o", str(tmp_path / "x.png")]) == 2
    assert "no keyframes.json" in capsys.readouterr().err


def test_report_shows_the_key_frames_and_says_when_there_are_none(tmp_path):
    from pysoft.snapshot import report_figures

    run = tmp_path / "run"
    write_synthetic_keyframes(str(run / "planestrain" / "P4GPa" / "keyframes"))
    os.makedirs(run / "planestrain" / "P0GPa")
    entries = report_figures(str(run), str(tmp_path))
    assert [e["key"] for e in entries] == ["5AB-P4"] and os.path.isfile(entries[0]["path"])
    entries = report_figures(str(tmp_path / "empty"), str(tmp_path))
    assert entries[0]["missing"].startswith("no key frames")
    # a damaged key frame: the entry says why, the report goes on
    kf = run / "planestrain" / "P4GPa" / "keyframes"
    (kf / read_manifest(str(kf))["frames"][1]["file"]).write_bytes(gzip.compress(b"ITEM: TIMESTEP\n"))
    e = report_figures(str(run), str(tmp_path))[0]
    assert "path" not in e and "could not be drawn" in e["missing"] and "truncated frame" in e["missing"]


# -- the report page in a real browser ---------------------------------------------------------------

CHECK_SCRIPT = """<script>
window.__errors = [];
window.addEventListener('error', function (e) { window.__errors.push(String(e.message || e.type)); }, true);
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var bad = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); }).map(function (i) { return i.alt; });
  var p = document.createElement('pre');
  p.id = 'pysoft-check';
  p.textContent = 'images=' + imgs.length + ' broken=' + JSON.stringify(bad) + ' errors=' + JSON.stringify(window.__errors);
  document.body.appendChild(p);
});
</script>"""


def chromium():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("PYSOFT_REQUIRE_BROWSER"):
            pytest.fail("chromium not found, and PYSOFT_REQUIRE_BROWSER is set (.ci/setup-system.sh installs it)")
        pytest.skip("chromium not installed (Debian: apt-get install chromium; .ci/setup-system.sh)")
    return exe


def run_chromium(exe, *args, timeout=120):
    cmd = [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def test_report_page_loads_in_headless_chromium(tmp_path):
    """The report of a synthetic run (test_report's, key frames included) in a real browser: every
    image decodes, no script error or failed load, and a screenshot is saved beside it."""
    from test_report import write_run

    from pysoft.report import build_report

    exe = chromium()
    index = build_report(write_run(str(tmp_path / "run")))
    html = open(index, encoding="utf-8").read()
    n_img = len(re.findall(r"<img ", html))
    assert n_img >= 15
    # a copy of the page with a check that runs after load (the report itself carries no script)
    probe = os.path.join(os.path.dirname(index), "probe.html")
    with open(probe, "w", encoding="utf-8") as fh:
        fh.write(html.replace("<head>", "<head>" + CHECK_SCRIPT, 1))
    proc = run_chromium(exe, "--dump-dom", "file://" + probe)
    found = re.search(r'<pre id="pysoft-check">images=(\d+) broken=(\[.*?\]) errors=(\[.*?\])</pre>', proc.stdout)
    assert found, proc.stderr[-2000:]
    assert int(found.group(1)) == n_img and found.group(2) == "[]" and found.group(3) == "[]", found.group(0)
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line and "probe.html" in line]
    assert not console, console
    shot = os.path.join(os.path.dirname(index), "screenshot.png")
    proc = run_chromium(exe, f"--screenshot={shot}", "--window-size=1280,4000", "file://" + index)
    assert os.path.isfile(shot), proc.stderr[-2000:]
    import matplotlib.image

    img = matplotlib.image.imread(shot)
    assert img.shape[:2] == (4000, 1280) and img[..., :3].std() > 0.05     # not a blank page
