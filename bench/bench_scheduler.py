"""The two submission libraries for ``pysoft run --scheduler``, measured against a local Slurm.

psij-python and submitit, each: the cost of importing it (a fresh Python, median of 7, minus a
bare Python's start), and the wall time of one submission of a job that depends on a held job
(median of 5), the way pysoft submits a task after its upstream tasks.  The local Slurm is the
single-node one of the tests (tests/slurm_local.py): run as root with slurmctld, slurmd and munge
installed (.ci/setup-slurm.sh).  Writes bench/out/scheduler.json and prints a table.

    .venv/bin/python bench/bench_scheduler.py
"""

import json
from pathlib import Path
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

from slurm_local import LocalSlurm, missing  # noqa: E402


def import_seconds(module, repeats=7):
    def once(code):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return time.perf_counter() - t

    bare = statistics.median(once("pass") for _ in range(repeats))
    return statistics.median(once(f"import {module}") for _ in range(repeats)) - bare


def submit_psij(folder, after):
    from datetime import timedelta

    import psij
    from psij.executors.batch.slurm import SlurmExecutorConfig

    ex = psij.JobExecutor.get_instance("slurm", config=SlurmExecutorConfig(work_directory=Path(folder), keep_files=True))
    spec = psij.JobSpec(executable="/bin/true", directory=folder,
                        attributes=psij.JobAttributes(duration=timedelta(minutes=5),
                                                      custom_attributes={"slurm.dependency": f"afterok:{after}"}))
    job = psij.Job(spec)
    t = time.perf_counter()
    ex.submit(job)
    return time.perf_counter() - t, job.native_id


def submit_submitit(folder, after):
    import submitit

    ex = submitit.AutoExecutor(folder=folder, cluster="slurm")
    ex.update_parameters(timeout_min=5, slurm_additional_parameters={"dependency": f"afterok:{after}"})
    t = time.perf_counter()
    job = ex.submit(print, "hello")
    return time.perf_counter() - t, job.job_id


def main():
    why = missing()
    if why:
        sys.exit(f"bench_scheduler: {why}")
    out = {"imports_s": {m: round(import_seconds(m), 3) for m in ("psij", "submitit")}}
    with tempfile.TemporaryDirectory(prefix="pysoft-bench-slurm") as d:
        slurm = LocalSlurm(os.path.join(d, "slurm")).start()
        os.environ["SLURM_CONF"] = slurm.env["SLURM_CONF"]
        try:
            held = subprocess.run(["sbatch", "--parsable", "--hold", "--wrap", "true"], capture_output=True,
                                  text=True, check=True).stdout.strip()
            for name, submit in (("psij", submit_psij), ("submitit", submit_submitit)):
                times = []
                for i in range(5):
                    folder = os.path.join(d, f"{name}{i}")
                    os.makedirs(folder)
                    s, jid = submit(folder, held)
                    dep = subprocess.run(["squeue", "-h", "-j", str(jid), "-o", "%E"], capture_output=True,
                                         text=True).stdout.strip()
                    assert held in dep, (name, dep)
                    times.append(s)
                out.setdefault("submit_s", {})[name] = round(statistics.median(times), 4)
            sb = []
            for _ in range(5):
                t = time.perf_counter()
                subprocess.run(["sbatch", "--parsable", "--hold", "--wrap", "true"], capture_output=True, check=True)
                sb.append(time.perf_counter() - t)
            out["submit_s"]["sbatch alone"] = round(statistics.median(sb), 4)
        finally:
            slurm.stop()
    import importlib.metadata as md

    out["versions"] = {p: md.version(p) for p in ("psij-python", "submitit")}
    out["when"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    os.makedirs(os.path.join(HERE, "out"), exist_ok=True)
    with open(os.path.join(HERE, "out", "scheduler.json"), "w") as fh:
        json.dump(out, fh, indent=1)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
