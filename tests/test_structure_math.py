"""The plugin's structure-function math on hand-made neighbour sets, without LAMMPS.

Analytic values are written out from the formulas of doc/method.md section 5; the C++ code is
reached through libpysoft_math.so (pysoft.spec).
"""

import math
import os

import numpy as np
import pytest

from pysoft.spec import SpecError, column_labels, load_spec, ncols, structure_functions
from reference import neighbour_features

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


# Grids and params that take every path of the C++ code: radial walks of one chunk and of many
# (L much narrower / wider than the grid step), angular exponentials as powers of one (1/xi^2
# whole multiples of a base: xi 1, 2, 3 -> powers 4, 9, 36) or one exp() per xi (xi 1.7 and
# 2.9 are not), and shapes (1 + lambda cos)^zeta with zeta 1, 2, 3, 4 and 1.5.
PATH_SPECS = {
    "narrow_L": {"species": ["Al", "O"], "radial": {"mu": [0.5, 9.5, 0.3], "L": 0.1, "cutoff": 10.0}},
    "wide_L": {"species": ["Al", "O"], "radial": {"mu": [0.6, 6.0, 0.1], "L": 0.5, "cutoff": 7.0}},
    "xi_powers": {"species": ["Al", "O"], "radial": {"mu": [0.6, 10.0, 0.2], "L": 0.2, "cutoff": 11.0},
                  "angular": {"cutoff": 6.0, "params": [[xi, lam, z] for xi in (1.0, 2.0, 3.0)
                                                        for lam in (-1, 1) for z in (1, 2)]}},
    "xi_exps": {"species": ["Al", "O", "Si"], "radial": {"mu": [1.0, 8.0, 0.25], "L": 0.3, "cutoff": 8.5},
                "angular": {"cutoff": 5.0, "params": [[1.7, 1, 3], [2.9, -1, 4], [2.9, 0.5, 1.5],
                                                      [1.7, -0.25, 1]]}},
}


@pytest.mark.parametrize("name", sorted(PATH_SPECS))
def test_every_code_path_against_brute_force(name):
    # 40 centres, each with a random neighbour cloud (one at 0.05 A, some beyond the cutoffs),
    # against the plain NumPy sums of tests/reference.py, element by element
    spec = PATH_SPECS[name]
    rng = np.random.default_rng(7)
    ns = len(spec["species"])
    counts, disp, species, want = [], [], [], []
    for c in range(40):
        n = int(rng.integers(0, 400))
        r = rng.uniform(0.05, spec["radial"]["cutoff"] + 1.0, n) ** 1.0
        v = rng.normal(size=(n, 3))
        d = v / np.linalg.norm(v, axis=1)[:, None] * r[:, None]
        s = rng.integers(0, ns, n)
        counts.append(n)
        disp.append(d)
        species.append(s)
        want.append(neighbour_features(d, s, spec))
    got = structure_functions(spec, counts, np.vstack(disp), np.concatenate(species))
    want = np.array(want)
    # exp(-x) amplifies the rounding of its argument x (up to ~700) to ~1e-13 relative, here
    # and in the reference: 1e-11 element by element, zeros (underflow) to 1e-300
    np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-300)


def test_spec_errors_are_one_line():
    with pytest.raises(SpecError, match=r"unknown key 'radial.sigma'"):
        ncols({**SPEC, "radial": {**SPEC["radial"], "sigma": 1}})
    with pytest.raises(SpecError, match="not valid JSON"):
        ncols('{"species": [')
