/* ----------------------------------------------------------------------
   pysoft: registration of the plugin's styles with LAMMPS
------------------------------------------------------------------------- */

#include "pysoft_plugin_abi.h"

#include "compute_bondswitch_atom.h"
#include "compute_nonaffine_atom.h"
#include "compute_softness.h"
#include "compute_structure_atom.h"
#include "fix_reference_store.h"

#include "atom.h"

using namespace LAMMPS_NS;

namespace {

template <class T> void *create_v2(void *lmp, int narg, char **arg)
{
  return new T((LAMMPS *) lmp, narg, arg);
}

// the reference store of compute C, one fix class for every such compute
template <class C> void *create_store(void *lmp, int narg, char **arg)
{
  return new FixReferenceStore((LAMMPS *) lmp, narg, arg, C::REFERENCE);
}

void add_style(lammpsplugin_regfunc reg, void *lmp, void *handle, const char *style,
               const char *name, const char *info, lammpsplugin_factory2 *creator)
{
  // the loader copies what it needs, so one struct is refilled per style
  lammpsplugin_t plugin;
  plugin.version = PYSOFT_LAMMPS_VERSION;
  plugin.style = style;
  plugin.name = name;
  plugin.info = info;
  plugin.author = "pysoft developers";
  plugin.creator.v2 = creator;
  plugin.handle = handle;
  reg(&plugin, lmp);
}

}    // namespace

extern "C" void lammpsplugin_init(void *lmp, void *handle, void *regfunc)
{
  if (!pysoft::lammps_matches(lmp, "pysoft's plugin (pysoftplugin.so)")) return;
  auto reg = (lammpsplugin_regfunc) regfunc;
  add_style(reg, lmp, handle, "compute", "structure/atom",
            "pysoft: radial and angular structure functions per atom",
            &create_v2<ComputeStructureAtom>);
  add_style(reg, lmp, handle, "compute", "softness",
            "pysoft: per-atom softness of a linear model on structure functions",
            &create_v2<ComputeSoftness>);
  add_style(reg, lmp, handle, "compute", "bondswitch/atom",
            "pysoft: coordination and bond switching (UC/DC/IC/SC) against a reference",
            &create_v2<ComputeBondSwitchAtom>);
  // upper case, as LAMMPS's own STORE/ATOM: created by compute bondswitch/atom, not by users
  add_style(reg, lmp, handle, "fix", ComputeBondSwitchAtom::REFERENCE.store_style,
            "pysoft: internal reference store of compute bondswitch/atom",
            &create_store<ComputeBondSwitchAtom>);
  add_style(reg, lmp, handle, "compute", "nonaffine/atom",
            "pysoft: per-atom Falk-Langer D2min relative to a stored reference",
            &create_v2<ComputeNonaffineAtom>);
  // upper case too: created by compute nonaffine/atom to keep its reference with the atoms
  add_style(reg, lmp, handle, "fix", ComputeNonaffineAtom::REFERENCE.store_style,
            "pysoft: reference neighbours of compute nonaffine/atom (internal)",
            &create_store<ComputeNonaffineAtom>);
}

/* ----------------------------------------------------------------------
   For pysoft's Python hooks (through ctypes, with the handle of the running LAMMPS): the number
   of columns of the custom per-atom array of doubles `name` (without its d2_ prefix), 0 for a
   vector, -1 when there is none or it holds integers.  The lammps Python module can tell this
   only in releases after 29Aug2024 (extract_atom_size); before, numpy's extract_atom guesses.
------------------------------------------------------------------------- */

extern "C" __attribute__((visibility("default"))) int pysoft_custom_double_columns(void *lmp, const char *name)
{
  int flag = 0, cols = 0;
  if (((LAMMPS *) lmp)->atom->find_custom(name, flag, cols) < 0 || flag != 1) return -1;
  return cols;
}
