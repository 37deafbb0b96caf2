"""A single-node Slurm of the test's own, started in a temporary folder.

munged with its own key and socket, slurmctld and slurmd with a slurm.conf that names only
files in that folder and ports of their own, so nothing of the machine's (an /etc/slurm, a
running munged, another test's cluster) is read or touched.  The Debian packages slurmctld,
slurmd, slurm-client and munge provide the programs (.ci/setup-slurm.sh installs them); the
daemons run as the current user, which must be root for slurmd to start jobs as that user.
"""

import os
import shutil
import socket
import subprocess
import time

PROGRAMS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo")


def missing():
    """Why this machine cannot run the local Slurm, or None."""
    lost = [p for p in PROGRAMS if shutil.which(p) is None and not os.path.exists(f"/usr/sbin/{p}")]
    if lost:
        return f"{', '.join(lost)} not installed (.ci/setup-slurm.sh installs slurmctld slurmd slurm-client munge)"
    if os.geteuid() != 0:
        return "slurmd must run as root to start jobs"
    return None


def _which(p):
    return shutil.which(p) or f"/usr/sbin/{p}"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalSlurm:
    """Start with :meth:`start`; ``env`` holds SLURM_CONF for the clients; :meth:`stop` ends it."""

    def __init__(self, root, cpus=2):
        self.root = os.path.abspath(root)
        self.cpus = cpus
        self.procs = []
        self.env = None

    def _path(self, *parts):
        return os.path.join(self.root, *parts)

    def start(self, timeout=60):
        for d in ("munge", "state", "spool", "log"):
            os.makedirs(self._path(d), mode=0o700, exist_ok=True)
        key = self._path("munge", "munge.key")
        with open(key, "wb") as fh:
            fh.write(os.urandom(1024))
        os.chmod(key, 0o400)
        sock = self._path("munge", "munge.socket")
        self._spawn([_which("munged"), "--foreground", "--force", f"--socket={sock}", f"--key-file={key}",
                     f"--log-file={self._path('log', 'munged.log')}", f"--pid-file={self._path('munge', 'pid')}",
                     f"--seed-file={self._path('munge', 'seed')}"], "munged")
        host = socket.gethostname().split(".")[0]
        conf = self._path("slurm.conf")
        ctld_port, d_port = _free_port(), _free_port()
        with open(conf, "w") as fh:
            fh.write(f"""ClusterName=pysofttest
SlurmctldHost={host}
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={sock}
StateSaveLocation={self._path('state')}
SlurmdSpoolDir={self._path('spool')}
SlurmctldPidFile={self._path('slurmctld.pid')}
SlurmdPidFile={self._path('slurmd.pid')}
SlurmctldLogFile={self._path('log', 'slurmctld.log')}
SlurmdLogFile={self._path('log', 'slurmd.log')}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
SchedulerParameters=sched_interval=1
MinJobAge=600
KillWait=5
NodeName={host} CPUs={self.cpus} State=UNKNOWN
PartitionName=test Nodes={host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
""")
        self.env = dict(os.environ, SLURM_CONF=conf)
        self._spawn([_which("slurmctld"), "-D", "-i", "-f", conf], "slurmctld")
        self._spawn([_which("slurmd"), "-D", "-f", conf, "-N", host], "slurmd")
        deadline = time.time() + timeout
        while time.time() < deadline:
            out = subprocess.run(["sinfo", "-h", "-o", "%T"], env=self.env, capture_output=True, text=True)
            if out.returncode == 0 and out.stdout.strip() in ("idle", "mixed", "allocated"):
                return self
            for p, name in self.procs:
                if p.poll() is not None:
                    raise RuntimeError(f"{name} stopped (exit {p.returncode}): {self.log_tail(name)}")
            time.sleep(0.5)
        raise RuntimeError(f"the local Slurm did not come up in {timeout} s: sinfo says {out.stdout.strip()!r} "
                           f"{out.stderr.strip()}; {self.log_tail('slurmctld')} {self.log_tail('slurmd')}")

    def _spawn(self, cmd, name):
        out = open(self._path("log", f"{name}.out"), "w")
        self.procs.append((subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            env=self.env or os.environ), name))

    def log_tail(self, name, n=5):
        for f in (self._path("log", f"{name}.log"), self._path("log", f"{name}.out")):
            if os.path.exists(f):
                return " | ".join(open(f, errors="replace").read().splitlines()[-n:])
        return ""

    def stop(self):
        if self.env is not None:
            subprocess.run(["scancel", "--full", "--user", str(os.geteuid())], env=self.env, capture_output=True)
        from pysoft.pipeline import _stop

        for p, _ in reversed(self.procs):
            _stop(p)
        self.procs = []
