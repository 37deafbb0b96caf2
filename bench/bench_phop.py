"""Micro benchmark of the first half of ``pysoft train``: phop and dump reading.

* phop of a synthetic trajectory the size of one training sample (2000 frames x 8100 atoms,
  tR/2 = 30 frames: 6 ps with a frame every 0.1 ps), array and streaming variants, and the
  labels built on it;
* reading a synthetic ``dump custom`` file of 200 frames x 8100 atoms (id type x y z ix iy iz,
  atom order shuffled), in atom-frames per second: floats written as LAMMPS writes them by
  default (``%g``), plain and gzip (level 1), and with every digit (``%.17g``).

Each figure is the median of 3 repeats, after one untimed run that compiles the numba kernels.
Run from the repository root: ``.venv/bin/python bench/bench_phop.py [--frames N] [--atoms N]``.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np

# the working tree's pysoft (not an installed copy), and the dump writer of the tests
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]

from dumpgen import random_walk_frames, write_dump  # noqa: E402

from pysoft.dump import read_dump  # noqa: E402
from pysoft.phop import PhopStream, label_events, phop  # noqa: E402


def median_time(fn, repeats=3):
    """Median wall time of `repeats` calls, the wall times, and the median CPU time of the process.

    On a shared machine the CPU time is the steadier figure: for single-threaded work it is
    roughly what the wall time would be with a core to ourselves.
    """
    times, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(times), times, statistics.median(cpu)


def show(label, med, times, cpu, extra=""):
    print(f"{label:34s} {med:6.2f} s wall ({', '.join(f'{t:.2f}' for t in times)}), "
          f"{cpu:6.2f} s cpu{extra}")


def vibrating_trajectory(nframes, natoms, seed=0):
    """Atoms vibrating (0.1 Å rms per axis) about random sites in a 45 Å box; 1 % hop 1.5 Å once."""
    rng = np.random.default_rng(seed)
    sites = rng.random((natoms, 3)) * 45.0
    x = rng.normal(0.0, 0.1, (nframes, natoms, 3))
    x += sites
    hoppers = rng.choice(natoms, natoms // 100, replace=False)
    when = rng.integers(nframes // 10, nframes - nframes // 10, len(hoppers))
    for i, k in zip(hoppers, when):
        x[k:, i, 0] += 1.5
    return x


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=2000)
    ap.add_argument("--atoms", type=int, default=8100)
    ap.add_argument("--half-window", type=int, default=30)
    ap.add_argument("--dump-frames", type=int, default=200)
    args = ap.parse_args(argv)

    import numba

    h = args.half_window
    # warm-up: compile (or load from cache) every kernel on a small case
    small = vibrating_trajectory(4 * h + 10, 200)
    label_events(phop(small, h)[0], h)
    stream = PhopStream(h)
    for frame in small:
        stream.push(frame)
    print(f"numba {numba.__version__}, threading layer {numba.threading_layer()}, "
          f"{numba.get_num_threads()} threads, {os.cpu_count()} cpus, load average {os.getloadavg()[0]:.1f}")

    x = vibrating_trajectory(args.frames, args.atoms)
    print(f"trajectory {args.frames} frames x {args.atoms} atoms ({x.nbytes / 2**20:.0f} MiB), h = {h} frames")

    show("phop, array variant:", *median_time(lambda: phop(x, h)))

    def streamed():
        s = PhopStream(h)
        for frame in x:
            s.push(frame)

    show("phop, streaming variant:", *median_time(streamed))

    values, first = phop(x, h)
    events = label_events(values, h, first)
    show("label_events:", *median_time(lambda: label_events(values, h, first)),
         f"; {events.n_rearranging} rearranging, {events.n_calm} calm pairs")
    del x, values, events

    cell = np.diag([45.0, 45.0, 45.0])
    frames = random_walk_frames(args.dump_frames, args.atoms, cell, step=0.3, seed=1)
    n_lines = args.dump_frames * args.atoms
    columns = ("id", "type", "x", "y", "z", "ix", "iy", "iz")
    # "%g" is what inputs/in.nvt300 writes (LAMMPS' default float format); "%.17g" keeps every
    # double and exercises the slower exact conversions
    cases = [("traj_g.dump", "%g"), ("traj_g.dump.gz", "%g"), ("traj_17g.dump", "%.17g")]
    with tempfile.TemporaryDirectory() as tmp:
        for name, float_format in cases:
            path = os.path.join(tmp, name)
            t0 = time.perf_counter()
            write_dump(path, frames, columns=columns, shuffle_seed=2, float_format=float_format)
            wrote = time.perf_counter() - t0
            size = os.path.getsize(path) / 2**20

            def read():
                for _ in read_dump(path):
                    pass

            read()
            med, times, cpu = median_time(read)
            show(f"read {name} ({size:.0f} MiB, {float_format}):", med, times, cpu,
                 f"; {n_lines / med / 1e6:.2f} M atom-frames/s wall, {n_lines / cpu / 1e6:.2f} per cpu s"
                 f" (written in {wrote:.1f} s)")


if __name__ == "__main__":
    main()
