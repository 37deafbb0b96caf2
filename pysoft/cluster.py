"""``pysoft run --submit`` and ``--status``: the tasks of a run as batch jobs of the site's scheduler.

Each unfinished task becomes one batch job, ``pysoft run CONFIG --out RUN_DIR --task STAGE/PxGPa``,
on its stage's ranks (the config's ``ranks:``), held until the jobs of the tasks it reads have
ended well (the scheduler's dependencies); the report is one more job after all of them.  The
jobs are submitted through psij-python (https://exaworks.org/psij-python), which writes the batch
script and speaks sbatch/squeue (Slurm), qsub/qstat (PBS Pro) and bsub/bjobs (LSF); doc/cluster.md
has the measured comparison with submitit that chose it.  pysoft writes no batch script itself.

psij-python's batch script records the exit status of ``pysoft`` in a file and ends well itself,
so the scheduler's "ended well" (``afterok``) means "not cancelled, not killed": a job whose
upstream task failed inside pysoft starts, finds that task unfinished (no ``done.json``) and stops
with one line; a job whose upstream job was cancelled or killed is cancelled by Slurm
(``kill-on-invalid-dep``).  ``--status`` reads the recorded exit status.

A job is a task run as ``pysoft run`` runs it (:class:`pysoft.pipeline.Pipeline`): it checks its
inputs, keeps ``done.json`` and resumes an interrupted plane-strain run from its restart pair.  A
job that fails, is cancelled or hits its time limit leaves its task unfinished; ``pysoft run
--submit`` run again keeps the jobs still queued or running and submits the unfinished tasks
that have none.  RUN_DIR/jobs.json records the jobs; RUN_DIR/jobs/ holds the batch scripts and
each job's output (``<executor>/<job id>.out``).
"""

import json
import os
import sys
import time

from pysoft.progress import hms
from pysoft.stages import RunError

EXECUTORS = ("slurm", "pbs", "lsf")
JOBS = "jobs.json"
REPORT = "report"         # the --task name of the report job


def _psij():
    try:
        import psij
    except ImportError:
        raise RunError("pysoft run --submit and --status need psij-python: pip install 'pysoft[cluster]'")
    return psij


def _executor(run_dir, name):
    import logging
    from pathlib import Path

    _psij()
    import psij

    # psij warns on stderr about the exit-code file a cancelled job never wrote: --status says it
    logging.getLogger("psij").setLevel(logging.ERROR)

    if name == "slurm":
        from psij.executors.batch.slurm import SlurmExecutorConfig as Config
    elif name == "pbs":
        from psij.executors.batch.pbs_base import PBSExecutorConfig as Config
    else:
        from psij.executors.batch.lsf import LsfExecutorConfig as Config
    # the scripts and the jobs' output stay in the run folder; the queue is read at once
    config = Config(work_directory=Path(run_dir) / "jobs", keep_files=True, initial_queue_polling_delay=0,
                    queue_polling_interval=5)
    return psij.JobExecutor.get_instance(name, config=config)


def _after(executor, ids):
    """The job attributes that hold a job until the jobs `ids` have ended well."""
    if not ids:
        return {}
    if executor == "slurm":
        # a job whose upstream job failed is cancelled, not left pending for ever
        return {"slurm.dependency": "afterok:" + ":".join(ids), "slurm.kill-on-invalid-dep": "yes"}
    if executor == "pbs":
        return {"pbs.W": "depend=afterok:" + ":".join(ids)}
    return {"lsf.w": " && ".join(f"done({i})" for i in ids)}


def read_jobs(run_dir):
    try:
        with open(os.path.join(run_dir, JOBS)) as fh:
            jobs = json.load(fh)
        return jobs if isinstance(jobs, dict) else {}
    except (OSError, ValueError):
        return {}


def job_states(run_dir, executor, ids, timeout=30.0):
    """{job id: psij state name ('QUEUED', 'ACTIVE', 'COMPLETED', 'FAILED', 'CANCELED')}."""
    if not ids:
        return {}
    psij = _psij()
    ex = _executor(run_dir, executor)
    jobs = {}
    for i in ids:
        job = psij.Job()
        ex.attach(job, i)
        jobs[i] = job
    final = [psij.JobState.QUEUED, psij.JobState.ACTIVE, psij.JobState.COMPLETED, psij.JobState.FAILED,
             psij.JobState.CANCELED]
    from datetime import timedelta

    deadline = time.time() + timeout
    for i, job in jobs.items():
        job.wait(timeout=timedelta(seconds=max(deadline - time.time(), 0.1)), target_states=final)
    return {i: str(job.status.state).upper() for i, job in jobs.items()}


def submit(pipe, config_path, stream=None):
    """Submit every unfinished task of the prepared Pipeline `pipe` that has no live job."""
    from datetime import timedelta

    psij = _psij()
    stream = stream or sys.stdout
    cfg, run_dir = pipe.config, pipe.run_dir
    cl = cfg["cluster"]
    name = cl["executor"]
    known = read_jobs(run_dir)
    states = job_states(run_dir, name, sorted({r["job"] for r in known.values() if r.get("executor") == name}))
    pipe._load_done()           # after the scheduler: a job that ended meanwhile has written its done.json
    todo = pipe._todo()
    live = {label: r["job"] for label, r in known.items()
            if r.get("executor") == name and states.get(r["job"]) in ("QUEUED", "ACTIVE")}
    ex = _executor(run_dir, name)
    os.makedirs(os.path.join(run_dir, "jobs"), exist_ok=True)
    ids, jobs = {}, {k: v for k, v in known.items() if k in live}

    def send(label, task_arg, ranks, after, hours):
        attrs = psij.JobAttributes(duration=timedelta(hours=hours), queue_name=cl["queue"], account=cl["account"],
                                   custom_attributes=_after(name, after) or None)
        spec = psij.JobSpec(executable=sys.executable, directory=run_dir, launcher="single",
                            name=f"pysoft-{task_arg.replace('/', '-')}",
                            arguments=["-m", "pysoft.cli", "run", os.path.abspath(config_path), "--out", run_dir,
                                       "--np", str(ranks), "--task", task_arg],
                            resources=psij.ResourceSpecV1(process_count=ranks), attributes=attrs,
                            inherit_environment=True, pre_launch=cl["pre_launch"])
        job = psij.Job(spec)
        try:
            ex.submit(job)
        except psij.SubmitException as e:
            raise RunError(f"{name} refused the job of {label}: {str(e).strip().splitlines()[-1] if str(e).strip() else e}")
        jobs[label] = {"job": job.native_id, "executor": name, "task": task_arg, "ranks": ranks,
                       "after": after, "submitted": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        return job.native_id

    print(f"pysoft run --submit: {len(todo)} unfinished task(s) of {len(pipe.tasks)}, to {name}", file=stream)
    for t in todo:
        if t.label in live:
            ids[t] = live[t.label]
            print(f"  {t.label:<28} job {ids[t]} is {states[ids[t]].lower()}: kept", file=stream)
            continue
        after = [ids[u] for u in t.upstream if u.done is None and u in ids]
        ids[t] = send(t.label, t.directory, t.ranks, after, cl["time_limit"])
        print(f"  {t.label:<28} job {ids[t]} on {t.ranks} rank(s), ~{hms(pipe.estimate(t))}"
              + (f", after job(s) {', '.join(after)}" if after else ""), file=stream)
    if "report" in cfg["stages"] and pipe.stop_after in (None, "report"):
        if REPORT in live and not todo:
            print(f"  {'report':<28} job {live[REPORT]} is {states[live[REPORT]].lower()}: kept", file=stream)
        else:
            after = sorted(set(ids.values()), key=str)
            jid = send("report", REPORT, 1, after, 1.0)
            print(f"  {'report':<28} job {jid}" + (f", after job(s) {', '.join(after)}" if after else ""),
                  file=stream)
    from pysoft.pipeline import _atomic_json

    _atomic_json(os.path.join(run_dir, JOBS), jobs)
    print(f"  jobs recorded in {os.path.join(run_dir, JOBS)}; pysoft run {config_path} --out {run_dir} --status "
          f"says where they stand", file=stream)
    return jobs


def status_lines(pipe):
    """Where every task of the prepared Pipeline `pipe` stands: done, its job's state, or not started."""
    run_dir = pipe.run_dir
    jobs = read_jobs(run_dir)
    executors = {r.get("executor") for r in jobs.values()}
    states = {}
    for name in executors:
        if name in EXECUTORS:
            ids = [r["job"] for label, r in jobs.items() if r.get("executor") == name]
            try:
                states.update(job_states(run_dir, name, ids))
            except RunError:
                raise
            except Exception as e:              # the scheduler's client is not here: say so, go on
                states.update({i: f"unknown ({type(e).__name__})" for i in ids})
    # done.json after the scheduler: a job that ended meanwhile has written it
    pipe._load_done()
    lines = [f"status of {run_dir}:"]
    left = 0
    for t in pipe.tasks:
        if t.done is not None:
            lines.append(f"  {t.label:<28} done {t.done.get('finished', '?')} in {hms(t.done['wall_s'])} on "
                         f"{t.done.get('np', '?')} rank(s)")
            continue
        left += 1
        rec = jobs.get(t.label)
        where = _progress(os.path.join(run_dir, t.directory))
        if rec is None:
            lines.append(f"  {t.label:<28} {'not submitted' if jobs else 'to do'}{where}")
            continue
        state = states.get(rec["job"], "unknown").lower()
        what = {"queued": "queued", "active": "running", "completed": "ended without finishing",
                "failed": "failed or timed out", "canceled": "cancelled"}.get(state, state)
        out = os.path.join(run_dir, "jobs", rec["executor"], f"{rec['job']}.out")
        lines.append(f"  {t.label:<28} job {rec['job']} {what}{where}"
                     + (f" (waiting for job(s) {', '.join(rec['after'])})" if state == "queued" and rec.get("after")
                        else "")
                     + (f"; output {out}" if state not in ("queued", "active") else ""))
    if "report" in pipe.config["stages"]:
        index = os.path.join(run_dir, "report", "index.html")
        rec = jobs.get(REPORT)
        state = states.get(rec["job"], "unknown").lower() if rec else None
        if rec and state in ("queued", "active"):
            lines.append(f"  {'report':<28} job {rec['job']} {'running' if state == 'active' else 'queued'}")
        elif os.path.isfile(index):
            lines.append(f"  {'report':<28} {index}")
        else:
            lines.append(f"  {'report':<28} not written" + (f": job {rec['job']} {state}" if rec else ""))
    lines.append(f"  {len(pipe.tasks) - left} of {len(pipe.tasks)} task(s) done"
                 + ("; pysoft run --submit again resubmits the unfinished tasks without a live job" if left else ""))
    return lines


def _progress(task_dir):
    """How far an unfinished task got: the plane-strain step of its restart pair."""
    try:
        with open(os.path.join(task_dir, "planestrain.restart.vars")) as fh:
            for line in fh:
                if line.startswith("variable k_first equal"):
                    return f", restart at strain step {int(line.split()[3])}"
    except (OSError, ValueError, IndexError):
        pass
    return ""
