/* ----------------------------------------------------------------------
   pysoft: registration of the styles that embed Python.
   A plugin of its own, linked to libpython: where the Python library is
   missing, LAMMPS skips this plugin with a warning and the rest of pysoft
   (pysoftplugin.so) still loads.
------------------------------------------------------------------------- */

#include "pysoft_plugin_abi.h"

#include "fix_pysoft_invoke.h"

using namespace LAMMPS_NS;

static void *create_invoke(void *lmp, int narg, char **arg)
{
  return new FixPysoftInvoke((LAMMPS *) lmp, narg, arg);
}

extern "C" void lammpsplugin_init(void *lmp, void *handle, void *regfunc)
{
  if (!pysoft::lammps_matches(lmp, "pysoft's Python plugin (pysoftpythonplugin.so)")) return;
  lammpsplugin_t plugin;
  plugin.version = PYSOFT_LAMMPS_VERSION;
  plugin.style = "fix";
  plugin.name = "pysoft/invoke";
  plugin.info = "pysoft: call a Python hook every N steps or runs";
  plugin.author = "pysoft developers";
  plugin.creator.v2 = &create_invoke;
  plugin.handle = handle;
  ((lammpsplugin_regfunc) regfunc)(&plugin, lmp);
}
