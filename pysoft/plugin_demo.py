"""A one-minute look at the plugin alone: structure functions of an a-Al2O3-like box, under mpirun.

``pysoft plugin-demo`` (not to be confused with ``pysoft run --example``, the paper's workflow at
demo scale) writes a LAMMPS input that packs Al and O at random, with minimum distances,
into a box at 3.2 g/cm^3 (the density of the paper's glasses), and evaluates
``compute structure/atom`` on it on N MPI ranks.  The rank-0 worker gathers the per-atom rows by
atom id and writes ``features.npz``, a summary, and ``radial_mean.png`` (the mean radial
structure functions of Al and O centres, i.e. smoothed partial pair correlations).
"""

import json
import os
import subprocess
import sys
import time

import numpy as np

AVOGADRO = 6.02214076e23
MASS = {"Al": 26.9815385, "O": 15.999}    # g/mol


def box_length(units, density):
    """Edge (Å) of a cubic box holding `units` Al2O3 at `density` g/cm^3."""
    grams = units * (2 * MASS["Al"] + 3 * MASS["O"]) / AVOGADRO
    return (grams / density * 1e24) ** (1.0 / 3.0)


def lammps_input(units, spec, seed=4711, density=3.2):
    L = box_length(units, density)
    # Al placed first 2.5 Å apart, then O at least 1.6 Å from every atom: a random packing
    # with the short-range order of a glass' hard cores, made in a second, not a quenched glass
    return f"""# pysoft plugin-demo: a-Al2O3-like random packing at {density} g/cm^3
units metal
atom_modify map array
region box block 0 {L:.6f} 0 {L:.6f} 0 {L:.6f}
create_box 2 box
mass 1 {MASS['Al']}
mass 2 {MASS['O']}
create_atoms 1 random {2 * units} {seed} NULL overlap 2.5 maxtry 2000
create_atoms 2 random {3 * units} {seed + 1} NULL overlap 1.6 maxtry 2000
pair_style zero 11.0
pair_coeff * *
comm_modify cutoff 13.5
compute F all structure/atom {spec} Al O
run 0 post no
"""


def worker(jobfile):
    """Runs on every rank under mpirun: build the box, evaluate, gather; rank 0 reports."""
    from mpi4py import MPI

    from pysoft import plugin

    with open(jobfile) as fh:
        job = json.load(fh)
    comm = MPI.COMM_WORLD
    lmp = plugin.lammps(comm=comm)
    lmp.commands_string(job["input"])
    n = lmp.get_natoms()
    ncol = job["ncols"]
    comm.Barrier()
    t0 = MPI.Wtime()
    feats = np.ctypeslib.as_array(lmp.gather("c_F", 1, ncol)).reshape(n, ncol).copy()
    elapsed = comm.allreduce(MPI.Wtime() - t0, op=MPI.MAX)
    types = np.ctypeslib.as_array(lmp.gather_atoms("type", 0, 1)).copy()
    volume = lmp.get_thermo("vol")
    lmp.close()
    if comm.Get_rank() == 0:
        out = job["out"]
        np.savez(os.path.join(out, "features.npz"), features=feats, type=types, labels=job["labels"])
        with open(os.path.join(out, "timing.json"), "w") as fh:
            json.dump({"seconds": elapsed, "atoms": int(n), "ranks": comm.Get_size(), "volume": volume}, fh)


def run_demo(out, nprocs=2, units=300, spec="default"):
    from pysoft.spec import column_labels, load_spec, spec_path

    os.makedirs(out, exist_ok=True)
    spec_file = os.path.abspath(spec_path(spec))
    spec_d = load_spec(spec_file)
    labels = column_labels(spec_d)
    job = {"input": lammps_input(units, spec_file), "ncols": len(labels), "labels": labels,
           "out": os.path.abspath(out)}
    jobfile = os.path.abspath(os.path.join(out, "job.json"))
    with open(jobfile, "w") as fh:
        json.dump(job, fh)
    with open(os.path.join(out, "in.plugin_demo"), "w") as fh:
        fh.write(job["input"])
    mpirun = os.path.join(os.path.dirname(sys.executable), "mpirun")
    cmd = ([mpirun, "-np", str(nprocs)] if nprocs > 1 else []) + [sys.executable, "-m", "pysoft.plugin_demo", jobfile]
    print(f"pysoft plugin-demo: {5 * units} atoms, spec {spec} ({len(labels)} features), {nprocs} MPI rank(s)")
    t0 = time.perf_counter()
    # run in the output folder: "python -m" puts the working directory first on sys.path, and
    # from a source checkout that would import the uncompiled pysoft/ instead of the installed one
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=os.path.abspath(out))
    if proc.returncode != 0:
        errs = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "ERROR" in ln or "Error" in ln]
        raise RuntimeError("the LAMMPS run failed: " + (errs[0] if errs else proc.stderr[-500:]))
    wall = time.perf_counter() - t0
    summarize(out, spec_d, wall)


def summarize(out, spec, wall):
    data = np.load(os.path.join(out, "features.npz"))
    with open(os.path.join(out, "timing.json")) as fh:
        timing = json.load(fh)
    f, types = data["features"], data["type"]
    from pysoft.spec import radial_ncols

    # the grid's length as the plugin reads the spec; its values are mu_first + k step there too
    first, _, step = spec["radial"]["mu"]
    nmu = radial_ncols(spec) // len(spec["species"])
    mu = first + step * np.arange(nmu)
    L = spec["radial"]["L"]
    # sum_mu G(mu) step / (sqrt(pi) L) counts the neighbours between the grid's ends
    per_neighbour = np.sqrt(np.pi) * L / step
    print(f"structure/atom: {timing['seconds']:.3f} s for {timing['atoms']} atoms on {timing['ranks']} "
          f"rank(s) = {1e6 * timing['seconds'] / timing['atoms']:.1f} us/atom (wall {wall:.1f} s in all)")
    print(f"{'centre':<7}{'atoms':>7}{'O within 2.3 Å':>16}{'Al within 3.4 Å':>17}")
    for t, name in ((1, "Al"), (2, "O")):
        rows = f[types == t]
        g_al, g_o = rows[:, :nmu].mean(0), rows[:, nmu:2 * nmu].mean(0)
        n_o = g_o[mu <= 2.3].sum() / per_neighbour
        n_al = g_al[mu <= 3.4].sum() / per_neighbour
        print(f"{name:<7}{len(rows):>7}{n_o:>16.2f}{n_al:>17.2f}")
    print(f"features: {f.shape[1]} columns, all finite: {bool(np.isfinite(f).all())}; "
          f"written to {os.path.join(out, 'features.npz')}")
    plot_radial(out, f, types, mu, L)


def timing_volume(out):
    with open(os.path.join(out, "timing.json")) as fh:
        return json.load(fh)["volume"]


def plot_radial(out, f, types, mu, GAUSS_L):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nmu = len(mu)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
    volume = timing_volume(out)
    for ax, (t, name) in zip(axes, ((1, "Al"), (2, "O"))):
        rows = f[types == t]
        for s, (ts, sname) in enumerate(((1, "Al"), (2, "O"))):
            # G_s(mu) / (4 pi mu^2 rho_s sqrt(pi) L_gauss) is a smoothed partial g(r): 1 far away
            rho = (types == ts).sum() / volume
            g = rows[:, s * nmu:(s + 1) * nmu].mean(0) / (4 * np.pi * mu**2 * rho * np.sqrt(np.pi) * GAUSS_L)
            ax.plot(mu, g, label=f"neighbour {sname}")
        ax.axhline(1.0, color="0.7", lw=0.8)
        ax.set_title(f"{name} centres ({len(rows)} atoms)")
        ax.set_xlabel(r"$r = \mu$ (Å)")
    axes[0].set_ylabel(r"$G_s(\mu)\,/\,(4\pi\mu^2\rho_s\sqrt{\pi}L)$")
    axes[0].legend()
    fig.suptitle("Mean radial structure functions as smoothed partial pair distributions g(r)", fontsize=10)
    fig.tight_layout()
    path = os.path.join(out, "radial_mean.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"figure: {path}")


if __name__ == "__main__":
    worker(sys.argv[1])
