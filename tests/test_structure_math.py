"""The plugin's structure-function math on hand-made neighbour sets, without LAMMPS.

Analytic values are written out from the formulas of doc/method.md section 5; the C++ code is
reached through libpysoft_math.so (pysoft.spec).
"""

import math
import os

import numpy as np
import pytest

from pysoft.spec import SpecError, column_labels, load_spec, ncols, structure_functions

SPEC = {"species": ["Al", "O"], "radial": {"mu": [0.6, 10.0, 0.2], "L": 0.2, "cutoff": 11.0},
        "angular": {"cutoff": 6.0, "params": [[2.0, -1, 1], [2.0, 1, 2], [3.0, 1, 4], [3.0, 0.5, 1.5]]}}
MU = 0.6 + 0.2 * np.arange(48)


def test_column_count_and_order():
    assert ncols(SPEC) == 2 * 48 + 3 * 4
    labels = column_labels(SPEC)
    assert labels[0] == "G_Al(0.6)" and labels[47] == "G_Al(10)" and labels[48] == "G_O(0.6)"
    assert labels[96] == "Psi_Al-Al(2,-1,1)"
    assert labels[100] == "Psi_Al-O(2,-1,1)"
    assert labels[107] == "Psi_O-O(3,0.5,1.5)"


def test_default_spec_shipped():
    spec = load_spec("default")
    assert spec["radial"] == {"mu": [0.6, 10.0, 0.2], "L": 0.2, "cutoff": 11.0}
    assert ncols(spec) == 96 + 3 * 18


def test_spec_names_mean_what_the_plugin_reads(tmp_path, monkeypatch):
    # pysoft.spec asks libpysoft_math, so a name means the file compute structure/atom opens
    from pysoft.plugin import DATA_DIR
    from pysoft.spec import shipped_specs, spec_path
    assert shipped_specs() == ["default", "radial"]
    for name in shipped_specs():
        assert os.path.samefile(spec_path(name), os.path.join(DATA_DIR, f"spec_{name}.json"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "radial").write_text("{}")
    assert spec_path("radial") == "radial"    # an existing path comes before a shipped name
    (tmp_path / "sub").mkdir()
    assert spec_path("sub") == "sub"          # anything that exists; the reader refuses it
    for missing in ("nowhere", "default.json", "sub/default", ""):
        with pytest.raises(FileNotFoundError, match="spec file not found"):
            spec_path(missing)


@pytest.mark.parametrize("r", [0.6, 1.83, 2.0, 4.4444, 9.99, 10.7])
def test_single_neighbour_radial(r):
    # one O neighbour at distance r: G_O(mu) = exp(-(r - mu)^2 / L^2), all else zero
    out = structure_functions(SPEC, [1], [[0.0, r * 0.6, r * 0.8]], [1])[0]
    want = np.exp(-((r - MU) ** 2) / 0.04)
    # exp(-x) for x ~ 500 amplifies the rounding of its own argument to ~1e-13 relative, in the
    # reference as in the plugin's recurrence: so 1e-11 here, 1e-13 where x < 25
    np.testing.assert_allclose(out[48:96], want, rtol=1e-11, atol=1e-300)
    near = np.abs(r - MU) < 1.0
    np.testing.assert_allclose(out[48:96][near], want[near], rtol=1e-13)
    assert np.all(out[:48] == 0.0) and np.all(out[96:] == 0.0)


def test_neighbour_beyond_cutoff_ignored():
    out = structure_functions(SPEC, [1], [[11.0, 0.0, 0.0]], [0])[0]
    assert np.all(out == 0.0)


@pytest.mark.parametrize("theta_deg", [60.0, 90.0, 109.47, 180.0])
def test_triplet_angular(theta_deg):
    # Al at 1.8 Å and O at 2.1 Å with angle theta at the centre: one Al-O pair term per param
    t = math.radians(theta_deg)
    a, b = 1.8, 2.1
    d = [[a, 0, 0], [b * math.cos(t), b * math.sin(t), 0]]
    out = structure_functions(SPEC, [2], d, [0, 1])[0]
    rjk2 = a * a + b * b - 2 * a * b * math.cos(t)
    for p, (xi, lam, zeta) in enumerate(SPEC["angular"]["params"]):
        want = math.exp(-(a * a + b * b + rjk2) / xi**2) * (1 + lam * math.cos(t)) ** zeta
        assert out[96 + 4 + p] == pytest.approx(want, rel=1e-12, abs=1e-300)
    assert np.all(out[96:100] == 0) and np.all(out[104:] == 0)


def test_pairs_counted_once_and_cutoffs_apart():
    # three O neighbours: 3 unordered pairs in the O-O block; a 4th at 7 Å counts only radially
    d = np.array([[1.9, 0, 0], [0, 1.9, 0], [0, 0, 1.9], [7.0, 0, 0]])
    out = structure_functions(SPEC, [4], d, [1, 1, 1, 1])[0]
    xi, lam, zeta = SPEC["angular"]["params"][0]
    want = 3 * math.exp(-(1.9**2 * 4) / xi**2) * (1 + lam * 0.0) ** zeta
    assert out[96 + 8] == pytest.approx(want, rel=1e-12)
    assert out[48:96] == pytest.approx(3 * np.exp(-((1.9 - MU) ** 2) / 0.04) + np.exp(-((7.0 - MU) ** 2) / 0.04),
                                       rel=1e-12, abs=1e-300)


def test_several_centres_and_order_independence():
    rng = np.random.default_rng(0)
    d = rng.normal(0, 2.5, (30, 3))
    s = rng.integers(0, 2, 30)
    one = structure_functions(SPEC, [30], d, s)[0]
    perm = rng.permutation(30)
    two = structure_functions(SPEC, [12, 30], np.vstack([d[:12], d[perm]]), np.concatenate([s[:12], s[perm]]))
    np.testing.assert_allclose(two[1], one, rtol=1e-13, atol=1e-300)


def test_spec_errors_are_one_line():
    with pytest.raises(SpecError, match=r"unknown key 'radial.sigma'"):
        ncols({**SPEC, "radial": {**SPEC["radial"], "sigma": 1}})
    with pytest.raises(SpecError, match="not valid JSON"):
        ncols('{"species": [')
