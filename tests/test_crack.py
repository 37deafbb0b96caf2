"""pysoft.crack: the crack plane from the slab profile, and the softness ranking that predicts it."""

import numpy as np
import pytest

from pysoft.crack import boundary_softness, crack_boundary, openings, prediction_score, rank_of

NB = 20


def cracked_profile(boundary, gap, strain=0.3, rng=None):
    """Slab means of a stretched bar whose material split at `boundary`: every slab but the
    crack's is at the strain-free spacing, the crack takes up the rest (fractions of the box)."""
    spacing = (1.0 - gap) / NB
    u = 0.5 * spacing + spacing * np.arange(NB)
    u[boundary + 1:] += gap
    if rng is not None:
        u += rng.normal(0.0, 0.1 * spacing, NB)
    return u.tolist()


@pytest.mark.parametrize("boundary", [0, 7, NB - 2, NB - 1])
def test_crack_boundary_found_even_across_the_periodic_edge(boundary):
    rng = np.random.default_rng(boundary)
    u = cracked_profile(boundary, 0.2, rng=rng)
    if boundary == NB - 1:
        # the crack at the periodic edge: nothing shifted, the gap is between the last slab and slab 0
        u = cracked_profile(NB - 1, 0.0, rng=rng)
        u = (np.asarray(u) * 0.8 + 0.01).tolist()
    b, gap = crack_boundary(u)
    assert b == boundary
    assert gap > 0.15
    assert openings(u).sum() == pytest.approx(1.0)        # the openings go once round the box


def test_affine_stretch_opens_every_boundary_equally():
    u = ((np.arange(NB) + 0.5) / NB).tolist()
    np.testing.assert_allclose(openings(u), 1.0 / NB)


def test_boundary_softness_is_the_mean_of_the_slabs_on_each_side():
    s = np.arange(NB, dtype=float)
    got = boundary_softness(s.tolist(), width=1)
    want = [(s[b] + s[(b + 1) % NB]) / 2 for b in range(NB)]
    np.testing.assert_allclose(got, want)
    got2 = boundary_softness(s.tolist(), width=2)
    want2 = [np.mean([s[(b + k) % NB] for k in (-1, 0, 1, 2)]) for b in range(NB)]
    np.testing.assert_allclose(got2, want2)
    s_gap = [None if i == 3 else float(i) for i in range(NB)]
    assert boundary_softness(s_gap)[3] == pytest.approx(4.0)   # an empty slab is left out


def test_rank_against_brute_force():
    rng = np.random.default_rng(5)
    for _ in range(50):
        scores = rng.normal(size=NB)
        b = int(rng.integers(NB))
        order = sorted(range(NB), key=lambda i: -scores[i])
        assert rank_of(b, scores) == order.index(b)


def test_prediction_score_hits_and_misses():
    u = cracked_profile(7, 0.25)
    soft_at_crack = [1.0 if i in (7, 8) else 0.0 for i in range(NB)]
    r = prediction_score(u, soft_at_crack)
    assert (r["boundary"], r["predicted"], r["rank"], r["hit_within_1"]) == (7, 7, 0, True)
    assert r["rank_fraction"] == 0.0 and r["chance_rank_fraction"] == 0.5
    assert r["chance_hit_within_1"] == pytest.approx(3 / NB)
    hard_at_crack = [-1.0 if i in (7, 8) else 0.0 for i in range(NB)]
    r = prediction_score(u, hard_at_crack)
    assert r["rank"] == NB - 1 and r["rank_fraction"] == 1.0 and not r["hit_within_1"]
