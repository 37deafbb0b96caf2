/* ----------------------------------------------------------------------
   pysoft: the neighbour lists of the plugin's computes, and the ghost-range check
------------------------------------------------------------------------- */

#include "neighbor_lists.h"

#include "comm.h"
#include "error.h"
#include "force.h"
#include "neighbor.h"
#include "pair.h"
#include "update.h"

#include <algorithm>

// The wheel ships no neigh_request.h; set_cutoff() is the one member we call, a plain
// exported function of liblammps, so declaring just that member is enough.
namespace LAMMPS_NS {
class NeighRequest {
 public:
  void set_cutoff(double);
};
}    // namespace LAMMPS_NS

using namespace LAMMPS_NS;

void pysoft_neigh::request_full_occasional(LAMMPS *lmp, Compute *compute, double cutoff)
{
  lmp->neighbor->add_request(compute, NeighConst::REQ_FULL | NeighConst::REQ_OCCASIONAL)
      ->set_cutoff(cutoff);
}

void pysoft_neigh::build_current(LAMMPS *lmp, NeighList *list, bool &after_init)
{
  Neighbor *neighbor = lmp->neighbor;
  if (!after_init) {
    neighbor->build_one(list);
    return;
  }
  // build_one() rebuilds only a list older than neighbor->lastcall, and remakes the list's
  // stencil only if it is older than neighbor->last_setup_bins; a run's set-up re-neighbours
  // and re-bins at an unchanged timestep, so move both past this step for the call
  const bigint saved_call = neighbor->lastcall, saved_bins = neighbor->last_setup_bins;
  neighbor->lastcall = lmp->update->ntimestep + 1;
  neighbor->last_setup_bins = lmp->update->ntimestep + 1;
  neighbor->build_one(list);
  neighbor->lastcall = saved_call;
  neighbor->last_setup_bins = saved_bins;
  after_init = false;
}

void pysoft_neigh::check_ghost_range(LAMMPS *lmp, const std::string &style, double cutoff)
{
  // like compute rdf and fix nonaffine/displacement: the occasional list reaches out to
  // cutoff + skin, and ghost atoms must exist that far
  // (checked in init(), before Neighbor::init(), so the ghost range is rebuilt from its parts
  // the way Comm will: the pair cutoff plus skin, or the user's comm_modify cutoff)
  double need = cutoff + lmp->neighbor->skin;
  double have = lmp->comm->cutghostuser;
  if (lmp->force->pair) have = std::max(have, lmp->force->pair->cutforce + lmp->neighbor->skin);
  if (need > have)
    lmp->error->all(FLERR,
                    "{} cutoff {} + neighbor skin {} exceeds the ghost-atom range {}; "
                    "use comm_modify cutoff {}",
                    style, cutoff, lmp->neighbor->skin, have, need);
}

void pysoft_neigh::request_full_perpetual(LAMMPS *lmp, Compute *compute, double cutoff)
{
  lmp->neighbor->add_request(compute, NeighConst::REQ_FULL)->set_cutoff(cutoff);
}
