/* ----------------------------------------------------------------------
   pysoft: the computes with a stored reference, see compute_with_reference.h
------------------------------------------------------------------------- */

#include "compute_with_reference.h"

#include "atom.h"
#include "comm.h"
#include "domain.h"
#include "error.h"
#include "modify.h"
#include "neighbor.h"
#include "update.h"

#include <algorithm>
#include <cstring>

using namespace LAMMPS_NS;

ComputeWithReference::ComputeWithReference(LAMMPS *lmp, int narg, char **arg,
                                           const ReferenceKind &kind_in) :
    Compute(lmp, narg, arg), list(nullptr), kind(kind_in)
{
  id_store = kind.store_id(id);
}

ComputeWithReference::~ComputeWithReference()
{
  // while LAMMPS shuts down, Modify deletes all fixes before the computes: nothing to do then
  if (modify->nfix && modify->get_fix_by_id(id_store)) modify->delete_fix(id_store);
}

void ComputeWithReference::init_list(int /*id*/, NeighList *ptr)
{
  list = ptr;
}

bool ComputeWithReference::attach_store()
{
  auto *fix = dynamic_cast<FixReferenceStore *>(
      modify->add_fix(fmt::format("{} all {}", id_store, kind.store_style)));
  if (!fix) error->all(FLERR, "Compute {} could not create its fix {}", style, id_store);
  return fix->captured();
}

FixReferenceStore *ComputeWithReference::store()
{
  auto *fix = dynamic_cast<FixReferenceStore *>(modify->get_fix_by_id(id_store));
  if (!fix)
    error->all(FLERR, "Compute {} {} lost its reference: fix {} was deleted", style, id, id_store);
  return fix;
}

void ComputeWithReference::setup()
{
  // Modify::setup() runs after the run's first neighbour build: positions and ghosts are current
  if (kind.capture == ReferenceKind::AT_RUN_SETUP && !store()->captured()) capture();
}

FixReferenceStore *ComputeWithReference::reference()
{
  FixReferenceStore *fix = store();
  if (fix->captured()) return fix;
  if (kind.capture == ReferenceKind::AT_RUN_SETUP)
    error->all(FLERR,
               "Compute {} {} has no reference configuration yet: use fix_modify {} "
               "reference current, or a run",
               style, id, id_store);
  capture();
  return fix;
}

void ComputeWithReference::renew_reference(int narg, char **arg, const char *how)
{
  if (narg < 2) utils::missing_cmd_args(FLERR, fmt::format("{} reference", how), error);
  if (strcmp(arg[1], "current") != 0) refuse_reference_word(arg[1], how);

  if (kind.capture == ReferenceKind::AT_FIRST_INVOCATION) {
    // captured at the next invocation, when the neighbour list is current
    store()->forget();
  } else {
    if (update->whichflag != 0)
      error->all(FLERR, "Compute {}: {} reference current is only allowed between runs", style,
                 how);
    refresh_between_runs();
    capture();
    // atoms may have changed owners or order: per-atom values computed before are no longer
    // indexed like the atoms, so make LAMMPS refuse them until the compute runs again
    invoked_peratom = -1;
  }
}

#if PYSOFT_COMPUTE_MODIFY_PARAM
int ComputeWithReference::modify_param(int narg, char **arg)
{
  if (strcmp(arg[0], "reference") != 0) return 0;
  renew_reference(narg, arg, "compute_modify");

  // Compute::modify_params() of LAMMPS 22 Jul 2025 does not step past the words that
  // modify_param() consumed: it would call us again on the same two words, forever.  Turning
  // them into a built-in keyword that restates its current value lets that loop move on; a
  // LAMMPS that steps past them never reads them again.
  rearm[0] = "dynamic/dof";
  rearm[1] = dynamic_user ? "yes" : "no";
  arg[0] = &rearm[0][0];
  arg[1] = &rearm[1][0];
  return 2;
}
#endif

void ComputeWithReference::refresh_between_runs()
{
  // Between runs the ghost atoms may be stale (change_box, displace_atoms and set move only
  // owned atoms), so ghosts and neighbour bins are rebuilt the way delete_atoms overlap does
  lmp->init();
  if (domain->triclinic) domain->x2lamda(atom->nlocal);
  domain->pbc();
  domain->reset_box();
  comm->setup();
  if (neighbor->style) neighbor->setup_bins();
  comm->exchange();
  comm->borders();
  if (domain->triclinic) domain->lamda2x(atom->nlocal + atom->nghost);
  neighbor->build(1);
}
