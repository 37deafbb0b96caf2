"""phop, the rearrangement indicator of Candelier et al. (2010), and the training labels built on it.

For atom i at frame t, with windows A = [t - h, t] and B = [t, t + h] of h + 1 frames each
(h = tR/2 in frames, doc/method.md section 6)::

    phop(t) = sqrt( <|r - <r>_B|^2>_A * <|r - <r>_A|^2>_B )

where <.>_A is the mean over the frames of A and r the unwrapped position (Å), so phop is in Å^2.
An atom that vibrates about one site has phop of the order of its mean square vibration; one that
moves to a new site at distance d between the two windows has phop close to d^2.

How it is computed: each window mean follows from running sums of r and |r|^2 over the
frames, so one frame costs O(1) per atom whatever tR is.  With the sums ``P_k`` and ``Q_k`` of
``r - r_0`` and ``|r - r_0|^2`` over frames 0..k (r_0 the atom's first position),
``sum_A r = P_t - P_(t-h-1)``, and each factor is written as a variance plus a squared distance,
``<|r - <r>_B|^2>_A = var_A + |<r>_A - <r>_B|^2`` (``var_A = <|r|^2>_A - |<r>_A|^2``).
Subtracting r_0 keeps the summands as small as the atom's displacement, so that the
differences of sums lose few digits: for an atom that has stayed within D of its first position
over k frames, the absolute error of var_A is about 1e-16 k D^2 (2e-12 Å^2 for 2000 frames and
D = 3 Å), far below the ~1e-2 Å^2 of a vibrating atom.  Rounding can still make the variance
of a motionless atom come out slightly negative; it is clamped at zero, so phop is never NaN.

One implementation serves both ways of feeding it: :class:`PhopStream` takes one frame at a
time and keeps only the running sums of the last 2h + 2 frames; :func:`phop` takes a whole
``(nframes, natoms, 3)`` array in one parallel kernel.  Both accumulate and combine the sums
with the same scalar functions in the same order, so they agree to the last bit.
"""

import math
from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from pysoft.dump import timestep_spacing
from pysoft.jit import njit_cached

__all__ = ["half_window_frames", "phop", "PhopStream", "Events", "label_events", "calm_candidates",
           "keep_calm", "BalancedDraw", "draw_balanced"]


def half_window_frames(t_r, dt, timesteps):
    """The half window h = tR/2 of phop, in frames.

    Parameters
    ----------
    t_r : float
        The full window tR, in ps (6 ps in the paper).
    dt : float
        The MD timestep, in ps (0.001 for the paper's 1 fs).
    timesteps : sequence of int
        The timesteps of the trajectory's frames (e.g. :func:`pysoft.dump.read_timesteps`).
        They must be evenly spaced; phop assumes that frames are equally far apart in time.

    Returns
    -------
    int
        ``h = floor(tR / (2 dt s) + 1/2)``, tR/2 rounded to the nearest whole number of frames
        (halves rounded up), where s is the spacing of `timesteps` in MD steps.  The window
        actually used is 2 h dt s ps.

    Raises
    ------
    ValueError
        Frames not evenly spaced (a :class:`pysoft.dump.DumpError`), non-positive `t_r` or `dt`,
        or tR/2 shorter than half a frame spacing.
    """
    if not (t_r > 0 and dt > 0):
        raise ValueError(f"tR and dt must be positive, got tR = {t_r} ps, dt = {dt} ps")
    spacing = timestep_spacing(timesteps)
    frame_time = dt * spacing
    # 1e-9: decimal times are inexact in binary (6.1 / 0.2 = 30.499999999999996), so that
    # a half that the user typed rounds up as documented
    h = math.floor(t_r / (2.0 * frame_time) + 0.5 + 1e-9)
    if h < 1:
        raise ValueError(f"tR = {t_r} ps is too short for frames {frame_time:g} ps apart "
                         f"({spacing} steps of {dt:g} ps): tR/2 must be at least one frame")
    return h


def phop(positions, half_window):
    """phop of every atom at every frame that has full windows on both sides.

    Parameters
    ----------
    positions : array_like, shape (nframes, natoms, 3)
        Unwrapped positions in Å, frames evenly spaced in time, atoms in the same order in
        every frame.
    half_window : int
        h, the number of frame intervals in each of the windows A and B
        (:func:`half_window_frames`).

    Returns
    -------
    values : ndarray of float64, shape (nframes - 2h, natoms)
        phop in Å^2; row j is frame ``first + j``.  No NaN.
    first : int
        The first frame with full windows, ``h``.

    Raises
    ------
    ValueError
        Wrong shape, h < 1, or fewer than 2h + 1 frames.
    """
    x = np.ascontiguousarray(positions, dtype=np.float64)
    h = _check_half_window(half_window)
    if x.ndim != 3 or x.shape[2] != 3:
        raise ValueError(f"positions must have shape (nframes, natoms, 3), got {x.shape}")
    if x.shape[0] < 2 * h + 1:
        raise ValueError(f"phop with h = {h} frames needs at least {2 * h + 1} frames, got {x.shape[0]}")
    out = np.empty((x.shape[0] - 2 * h, x.shape[1]))
    _phop_trajectory(x, h, out)
    return out, h


class PhopStream:
    """phop computed frame by frame, holding only the running sums of the last 2h + 2 frames.

    Parameters
    ----------
    half_window : int
        h in frames, as for :func:`phop`.

    Examples
    --------
    >>> stream = PhopStream(h)
    >>> for frame in read_dump(path):
    ...     done = stream.push(frame.positions, frame.timestep)
    ...     if done is not None:
    ...         t, values = done      # phop of every atom at frame t

    Emits exactly the rows of :func:`phop` on the same frames, bit for bit.
    """

    def __init__(self, half_window):
        self.half_window = _check_half_window(half_window)
        self.frames_pushed = 0
        self._ring = None
        self._x0 = None
        self._timestep = None
        self._spacing = None

    @property
    def first(self):
        """The first frame that gets a phop, h."""
        return self.half_window

    def push(self, positions, timestep=None):
        """Add the next frame; return the phop of the frame whose windows it completes.

        Parameters
        ----------
        positions : array_like, shape (natoms, 3)
            Unwrapped positions in Å, atoms in the same order as in the first frame.
        timestep : int, optional
            The frame's timestep.  When given for every frame, the frames are checked to be
            evenly spaced in time.

        Returns
        -------
        None, while fewer than 2h + 1 frames have been pushed; else ``(t, values)``: the frame
        index t = (frames pushed) - 1 - h and phop of each atom at t (float64, Å^2).
        """
        x = np.ascontiguousarray(positions, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != 3:
            raise ValueError(f"positions must have shape (natoms, 3), got {x.shape}")
        if self._x0 is not None and len(x) != len(self._x0):
            raise ValueError(f"frame {self.frames_pushed} has {len(x)} atoms, the first had {len(self._x0)}")
        self._check_timestep(timestep)
        h = self.half_window
        length = 2 * h + 2
        if self._ring is None:
            self._x0 = x.copy()
            # slot (k + 1) % length holds the sums up to frame k; slot 0 starts as the empty sum
            self._ring = (np.zeros((length, len(x), 3)), np.zeros((length, len(x))))
        k = self.frames_pushed
        p, q = self._ring
        out = np.empty(len(x))
        full = k >= 2 * h
        t = k - h
        # the sums needed: up to frames t - h - 1, t - 1, t and t + h = k
        _phop_push(x, self._x0, p, q, k % length, (k + 1) % length, (t - h) % length, t % length,
                   (t + 1) % length, h + 1, full, out)
        self.frames_pushed += 1
        return (t, out) if full else None

    def _check_timestep(self, timestep):
        if timestep is None:
            return
        timestep = int(timestep)
        if self._timestep is not None:
            step = timestep - self._timestep
            if self._spacing is None:
                if step <= 0:
                    raise ValueError(f"timesteps do not increase: {self._timestep} then {timestep}")
                self._spacing = step
            elif step != self._spacing:
                raise ValueError(f"frames are not evenly spaced in time: timestep {timestep} follows "
                                 f"{self._timestep}, expected {self._timestep + self._spacing}")
        self._timestep = timestep


def _check_half_window(h):
    if int(h) != h or h < 1:
        raise ValueError(f"the half window must be a whole number of frames >= 1, got {h}")
    return int(h)


@njit(inline="always")
def _add_frame(x0, x1, x2, r0, r1, r2, p0, p1, p2, q):
    """Running sums after one more frame: (P + d, Q + |d|^2) with d = r - r_0."""
    d0 = x0 - r0
    d1 = x1 - r1
    d2 = x2 - r2
    return p0 + d0, p1 + d1, p2 + d2, q + (d0 * d0 + d1 * d1 + d2 * d2)


@njit(inline="always")
def _phop_value(sa0, sa1, sa2, qa, sb0, sb1, sb2, qb, n):
    """phop from the sums of r and |r|^2 over windows A and B of n frames each."""
    ma0 = sa0 / n
    ma1 = sa1 / n
    ma2 = sa2 / n
    mb0 = sb0 / n
    mb1 = sb1 / n
    mb2 = sb2 / n
    var_a = max(qa / n - (ma0 * ma0 + ma1 * ma1 + ma2 * ma2), 0.0)
    var_b = max(qb / n - (mb0 * mb0 + mb1 * mb1 + mb2 * mb2), 0.0)
    e0 = ma0 - mb0
    e1 = ma1 - mb1
    e2 = ma2 - mb2
    shift = e0 * e0 + e1 * e1 + e2 * e2
    return math.sqrt((var_a + shift) * (var_b + shift))


@njit_cached()
def _phop_push(x, x0, p, q, prev, new, a_lo, b_lo, t_slot, n, full, out):
    """One frame into the ring of running sums; phop of the frame it completes when `full`.

    Slots: prev/new hold the sums up to the previous/this frame (t + h); a_lo up to t - h - 1,
    b_lo up to t - 1, t_slot up to t.  Serial: a frame of 8100 atoms is about 0.1 ms of work,
    less than waking a thread pool costs on a busy machine.
    """
    for i in range(x.shape[0]):
        s0, s1, s2, sq = _add_frame(x[i, 0], x[i, 1], x[i, 2], x0[i, 0], x0[i, 1], x0[i, 2],
                                    p[prev, i, 0], p[prev, i, 1], p[prev, i, 2], q[prev, i])
        p[new, i, 0] = s0
        p[new, i, 1] = s1
        p[new, i, 2] = s2
        q[new, i] = sq
        if full:
            out[i] = _phop_value(p[t_slot, i, 0] - p[a_lo, i, 0], p[t_slot, i, 1] - p[a_lo, i, 1],
                                 p[t_slot, i, 2] - p[a_lo, i, 2], q[t_slot, i] - q[a_lo, i],
                                 s0 - p[b_lo, i, 0], s1 - p[b_lo, i, 1], s2 - p[b_lo, i, 2],
                                 sq - q[b_lo, i], n)


_BLOCK = 64     # atoms per task: a block's ring of sums (64 x 2h+2 x 4 doubles) stays in cache


@njit_cached(parallel=True)
def _phop_trajectory(x, h, out):
    """phop of a whole trajectory: the ring of PhopStream, per block of atoms, over all frames."""
    nframes, natoms, _ = x.shape
    length = 2 * h + 2
    n = h + 1
    nblocks = (natoms + _BLOCK - 1) // _BLOCK
    for blk in prange(nblocks):
        lo = blk * _BLOCK
        hi = min(lo + _BLOCK, natoms)
        p = np.zeros((length, hi - lo, 3))
        q = np.zeros((length, hi - lo))
        for k in range(nframes):
            prev = k % length
            new = (k + 1) % length
            t = k - h
            full = k >= 2 * h
            a_lo = (t - h) % length
            b_lo = t % length
            t_slot = (t + 1) % length
            for j in range(hi - lo):
                i = lo + j
                s0, s1, s2, sq = _add_frame(x[k, i, 0], x[k, i, 1], x[k, i, 2],
                                            x[0, i, 0], x[0, i, 1], x[0, i, 2],
                                            p[prev, j, 0], p[prev, j, 1], p[prev, j, 2], q[prev, j])
                p[new, j, 0] = s0
                p[new, j, 1] = s1
                p[new, j, 2] = s2
                q[new, j] = sq
                if full:
                    out[t - h, i] = _phop_value(
                        p[t_slot, j, 0] - p[a_lo, j, 0], p[t_slot, j, 1] - p[a_lo, j, 1],
                        p[t_slot, j, 2] - p[a_lo, j, 2], q[t_slot, j] - q[a_lo, j],
                        s0 - p[b_lo, j, 0], s1 - p[b_lo, j, 1], s2 - p[b_lo, j, 2],
                        sq - q[b_lo, j], n)


@dataclass(frozen=True, eq=False)
class Events:
    """Rearranging and non-rearranging (atom, frame) pairs of one trajectory (:func:`label_events`).

    Attributes
    ----------
    rearranging_frame, rearranging_atom : ndarray of int32
        One entry per phop peak: the frame of its maximum and the atom (row index of the
        trajectory's id-sorted atoms).  Sorted by frame, then atom.
    calm_frame, calm_atom : ndarray of int32
        Non-rearranging pairs, sorted the same way.
    hop_threshold, calm_threshold : float
        The thresholds used, Å^2.
    half_window : int
        h, in frames.
    """

    rearranging_frame: np.ndarray
    rearranging_atom: np.ndarray
    calm_frame: np.ndarray
    calm_atom: np.ndarray
    hop_threshold: float
    calm_threshold: float
    half_window: int

    @property
    def n_rearranging(self):
        return len(self.rearranging_frame)

    @property
    def n_calm(self):
        return len(self.calm_frame)


def label_events(phop_values, half_window, first=None, hop_threshold=0.2, calm_threshold=0.05):
    """Rearranging and non-rearranging (atom, frame) pairs from phop.

    Definitions (frames t of the phop array; h the half window):

    * **Rearranging**: a peak of phop(t), one event per peak.  A peak is a maximal run of
      consecutive frames with phop > `hop_threshold`; the event is at the frame of the run's
      largest phop (the earliest if tied).  The maximum of each run is a local maximum above the
      threshold, as doc/method.md section 6 asks, and counting runs rather than every local
      maximum keeps the thermal wiggles on one hop's bump from counting as several hops.  A run whose maximum is
      the first or last frame of the array is dropped: its peak may lie outside the frames that
      have a phop.  Two hops less than about tR apart merge into one run, hence one event.
    * **Non-rearranging** (calm): phop < `calm_threshold` at every frame of [t - h, t + h], a
      window of tR centred on t, which must lie inside the array.  phop(t') itself looks at the
      positions in [t' - h, t' + h], so the atom has not hopped anywhere in [t - 2h, t + 2h]: it
      is neither just out of a rearrangement nor about to enter one.  Requiring only
      phop(t) < calm_threshold would label as calm an atom that hops a few frames after the
      window of phop(t) ends, whose structure at t is that of an atom about to rearrange, the very
      thing the softness model must tell apart.

    Parameters
    ----------
    phop_values : ndarray, shape (nvalid, natoms)
        phop in Å^2 as returned by :func:`phop` (or rows collected from :class:`PhopStream`).
    half_window : int
        h in frames.
    first : int, optional
        Trajectory frame of row 0 of `phop_values`; the default h is what :func:`phop` returns.
        Frames in the result are trajectory frames, ``first + row``.
    hop_threshold, calm_threshold : float
        In Å^2; the paper's 0.2 and 0.05.

    Returns
    -------
    Events
    """
    values = np.ascontiguousarray(phop_values, dtype=np.float64)
    h = _check_half_window(half_window)
    first = h if first is None else int(first)
    if values.ndim != 2:
        raise ValueError(f"phop values must have shape (nframes, natoms), got {values.shape}")
    if not (0 < calm_threshold <= hop_threshold):
        raise ValueError(f"need 0 < calm_threshold <= hop_threshold, got {calm_threshold} and {hop_threshold}")
    nvalid, natoms = values.shape
    if natoms and np.isnan(values).any():
        raise ValueError("phop values contain NaN")

    peaks = np.zeros(values.shape, np.bool_)
    _mark_peaks(values, hop_threshold, peaks)
    calm = np.zeros(values.shape, np.bool_)
    _mark_calm(values, calm_threshold, h, calm)
    r_frame, r_atom = _where(peaks)
    c_frame, c_atom = _where(calm)
    return Events(r_frame + np.int32(first), r_atom, c_frame + np.int32(first), c_atom,
                  float(hop_threshold), float(calm_threshold), h)


@njit_cached()
def _mark_peaks(values, threshold, peaks):
    """peaks[t, i] = True at the maximum of each run of values[:, i] > threshold (see label_events)."""
    nframes, natoms = values.shape
    in_run = np.zeros(natoms, np.bool_)
    best = np.zeros(natoms)
    best_t = np.zeros(natoms, np.int64)
    # frames outer, atoms inner: the array is read row by row, in memory order
    for t in range(nframes + 1):
        for i in range(natoms):
            above = t < nframes and values[t, i] > threshold
            if above:
                if not in_run[i]:
                    in_run[i] = True
                    best[i] = values[t, i]
                    best_t[i] = t
                elif values[t, i] > best[i]:
                    best[i] = values[t, i]
                    best_t[i] = t
            elif in_run[i]:
                in_run[i] = False
                if 0 < best_t[i] < nframes - 1:
                    peaks[best_t[i], i] = True


@njit_cached()
def _mark_calm(values, threshold, h, calm):
    """calm[t, i] = True if values[t', i] < threshold for all t' in [t - h, t + h] (see label_events)."""
    nframes, natoms = values.shape
    # the last frame so far with phop >= threshold; -h - 1 is "none", older than any window
    last_loud = np.full(natoms, -h - 1, np.int64)
    for k in range(nframes):
        t = k - h       # the window of frame t ends at frame k
        for i in range(natoms):
            if not values[k, i] < threshold:
                last_loud[i] = k
            if t >= h and last_loud[i] < t - h:
                calm[t, i] = True


@njit_cached()
def _where(mask):
    """np.nonzero of a 2-d mask as int32 arrays, without the int64 intermediates."""
    n = 0
    for v in mask.ravel():
        n += v
    rows = np.empty(n, np.int32)
    cols = np.empty(n, np.int32)
    j = 0
    for r in range(mask.shape[0]):
        for c in range(mask.shape[1]):
            if mask[r, c]:
                rows[j] = r
                cols[j] = c
                j += 1
    return rows, cols


_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _splitmix(z):
    """The splitmix64 finaliser: a bijection of uint64 whose output bits all depend on every input bit."""
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def keep_calm(ids, timesteps, fraction):
    """Which calm (atom, frame) pairs are candidates for the balanced draw: the thinning rule.

    A pair is kept when ``splitmix64(splitmix64(id) ^ timestep) < fraction * 2^64``: a fixed
    pseudo-random subset of about `fraction` of the pairs that depends only on the atom id and
    the frame's timestep.  So it can be decided at the frame itself, inside a run (the in-run
    sampler, :mod:`pysoft.sampler`, computes features of the kept pairs only), and a dump of the
    same run keeps the same pairs.  A uniform draw from a uniform subset is a uniform draw, so the
    thinning changes which calm pairs are drawn, not how they are distributed.

    Parameters
    ----------
    ids, timesteps : array_like of int
        Atom ids and the timesteps of the pairs' frames (broadcast together).
    fraction : float
        In (0, 1]; 1 keeps every pair (the rule is then off).

    Returns
    -------
    ndarray of bool
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"the calm fraction must be in (0, 1], got {fraction}")
    ids, timesteps = np.broadcast_arrays(np.asarray(ids, np.int64), np.asarray(timesteps, np.int64))
    if fraction >= 1:
        return np.ones(ids.shape, bool)
    key = _splitmix(_splitmix(ids.astype(np.uint64)) ^ timesteps.astype(np.uint64))
    return key < np.uint64(int(fraction * 2.0**64))


def calm_candidates(events, ids, timesteps, fraction):
    """`events` with the calm pairs thinned by :func:`keep_calm`; rearranging pairs unchanged.

    Parameters
    ----------
    events : Events
    ids : ndarray of int
        Atom id of each atom row of the events.
    timesteps : ndarray of int
        Timestep of each trajectory frame.
    fraction : float
        As for :func:`keep_calm`.
    """
    if fraction >= 1:
        return events
    keep = keep_calm(np.asarray(ids)[events.calm_atom], np.asarray(timesteps)[events.calm_frame], fraction)
    return Events(events.rearranging_frame, events.rearranging_atom, events.calm_frame[keep],
                  events.calm_atom[keep], events.hop_threshold, events.calm_threshold, events.half_window)


@dataclass(frozen=True, eq=False)
class BalancedDraw:
    """Equal numbers of rearranging and calm (sample, frame, atom) triples (:func:`draw_balanced`).

    Attributes
    ----------
    sample, frame, atom : ndarray of int64
        Index of the Events in the list passed, trajectory frame and atom row; sorted by sample,
        frame and atom, so that features can be computed in one more pass over each trajectory.
    label : ndarray of int8
        1 for rearranging, 0 for calm.
    """

    sample: np.ndarray
    frame: np.ndarray
    atom: np.ndarray
    label: np.ndarray


def draw_balanced(events, n=None, min_events=1, seed=None):
    """Draw the same number of rearranging and calm events, at random, over one or more samples.

    Parameters
    ----------
    events : Events or sequence of Events
        One per sample (trajectory), all labelled with the same thresholds and window.
    n : int, optional
        Events to draw from each class; default: as many as the smaller class has (in the paper
        every rearranging event is kept and as many calm ones drawn).
    min_events : int
        Fewest events of each class to accept.
    seed : int, numpy.random.Generator or None
        Seed of the draw (``numpy.random.default_rng(seed)``); a fixed seed gives the same draw.

    Returns
    -------
    BalancedDraw

    Raises
    ------
    ValueError
        A class has fewer than `min_events` (or `n`) events; the message gives both counts and
        the thresholds, to be lowered or the trajectory lengthened.
    """
    samples = [events] if isinstance(events, Events) else list(events)
    if not samples:
        raise ValueError("no samples to draw events from")
    ref = samples[0]
    for e in samples[1:]:
        if (e.hop_threshold, e.calm_threshold, e.half_window) != (ref.hop_threshold, ref.calm_threshold,
                                                                   ref.half_window):
            raise ValueError("samples were labelled with different thresholds or windows")
    n_rearr = np.array([e.n_rearranging for e in samples])
    n_calm = np.array([e.n_calm for e in samples])
    total_r, total_c = int(n_rearr.sum()), int(n_calm.sum())
    need = max(int(min_events), 0 if n is None else int(n))
    if min(total_r, total_c) < need or min(total_r, total_c) == 0:
        raise ValueError(
            f"too few events for a balanced draw of {need} per class: {total_r} rearranging "
            f"(phop peak > {ref.hop_threshold:g} Å^2), {total_c} non-rearranging (phop < "
            f"{ref.calm_threshold:g} Å^2 over {2 * ref.half_window + 1} frames) in {len(samples)} "
            f"sample(s); lower the thresholds or use longer trajectories")
    n = min(total_r, total_c) if n is None else int(n)
    rng = np.random.default_rng(seed)
    parts = []
    for label, counts, frame_of, atom_of in ((1, n_rearr, "rearranging_frame", "rearranging_atom"),
                                             (0, n_calm, "calm_frame", "calm_atom")):
        chosen = np.sort(rng.choice(int(counts.sum()), size=n, replace=False))
        # the chosen indices run over the samples' events back to back
        offsets = np.concatenate([[0], np.cumsum(counts)])
        sample = np.searchsorted(offsets, chosen, side="right") - 1
        frame = np.empty(n, np.int64)
        atom = np.empty(n, np.int64)
        for s, e in enumerate(samples):
            here = sample == s
            local = chosen[here] - offsets[s]
            frame[here] = getattr(e, frame_of)[local]
            atom[here] = getattr(e, atom_of)[local]
        parts.append((sample, frame, atom, np.full(n, label, np.int8)))
    sample, frame, atom, label = (np.concatenate(c) for c in zip(*parts))
    order = np.lexsort((atom, frame, sample))
    return BalancedDraw(sample[order].astype(np.int64), frame[order], atom[order], label[order])
