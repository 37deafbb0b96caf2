#!/usr/bin/env bash
# CI, before `make test`, as root: the Debian packages that tests need beyond Python.
#   chromium                       tests/test_snapshot.py opens the report page in headless Chromium
#   libvulkan1 mesa-vulkan-drivers OVITO's Python module (pip: ovito, in pysoft's test extra) loads
#                                  its renderers against them (tests/test_keyframes.py opens the
#                                  key frames with it)
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
  echo ".ci/setup-system.sh: needs root (apt-get); run it as root or install: chromium libvulkan1 mesa-vulkan-drivers" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends chromium libvulkan1 mesa-vulkan-drivers
