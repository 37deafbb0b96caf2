/* -*- c++ -*- ----------------------------------------------------------
   pysoft: every difference between the LAMMPS releases that pysoft builds
   against, in one place, each guard naming the release it concerns.
   LAMMPS_VERSION_NUMBER (YYYYMMDD of the LAMMPS release, as lammps_version()
   returns it) and the LAMMPS_SMALLBIG / LAMMPS_BIGBIG choice come from the
   LAMMPS being built against, set by CMakeLists.txt.
------------------------------------------------------------------------- */

#ifndef PYSOFT_LAMMPS_COMPAT_H
#define PYSOFT_LAMMPS_COMPAT_H

#ifndef LAMMPS_VERSION_NUMBER
#error "LAMMPS_VERSION_NUMBER is not set: build pysoft through its CMakeLists.txt"
#endif

// 2 Aug 2023 is the oldest stable release tested (doc/install.md).  Before it (23 Jun 2022) the
// perpetual neighbour list of an occasional request used another skin rule, which changes which
// bonds compute bondswitch/atom sees; refusing to build is safer than a silently different count.
#if LAMMPS_VERSION_NUMBER < 20230802
#error "pysoft needs LAMMPS 2 Aug 2023 or newer (LAMMPS_VERSION_NUMBER is older)"
#endif

// 22 Jul 2025: Compute::modify_param() became virtual, so compute_modify hands keywords it does
// not know to the compute (`compute_modify ID reference current`).  Older releases stop at
// "Illegal compute_modify command"; there the reference is renewed through the store fix
// (`fix_modify ID_store reference current`, Fix::modify_param() is virtual in every release).
#if LAMMPS_VERSION_NUMBER >= 20250722
#define PYSOFT_COMPUTE_MODIFY_PARAM 1
#else
#define PYSOFT_COMPUTE_MODIFY_PARAM 0
#endif

#endif
