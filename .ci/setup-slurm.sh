#!/usr/bin/env bash
# CI, as root: the Debian packages of the single-node Slurm that tests/test_cluster.py starts in
# a temporary folder (slurmctld, slurmd, the munge authentication daemon and the client commands),
# and Environment Modules, for the `module load` of doc/install.md's batch script.
# Nothing is started or configured here: the test writes its own slurm.conf and munge key.
set -euo pipefail
if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null \
        && command -v sbatch >/dev/null && [ -e /etc/profile.d/modules.sh ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "setup-slurm.sh: run as root to install slurmctld slurmd slurm-client munge environment-modules (or skip the Slurm tests)" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -qq
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge environment-modules >/dev/null
# the packages' own services are not wanted: the test runs its own daemons
for s in slurmctld slurmd munge; do
    (command -v systemctl >/dev/null && systemctl disable --now "$s" 2>/dev/null) || true
    (command -v service >/dev/null && service "$s" stop 2>/dev/null) || true
done
