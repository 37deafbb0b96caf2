/* -*- c++ -*- ----------------------------------------------------------
   pysoft: the neighbour lists of the plugin's computes, and the ghost-range check
------------------------------------------------------------------------- */

#ifndef PYSOFT_NEIGHBOR_LISTS_H
#define PYSOFT_NEIGHBOR_LISTS_H

#include "pointers.h"

#include <string>

namespace LAMMPS_NS {
class Compute;
class NeighList;
namespace pysoft_neigh {

  // Ask for an occasional full neighbour list with a cutoff of its own (as compute rdf does).
  void request_full_occasional(LAMMPS *lmp, Compute *compute, double cutoff);

  // Build an occasional neighbour list so that it indexes the current atoms.
  // Neighbor::build_one() alone skips a list built on the same timestep as the latest
  // re-neighbouring, which misses a new run's set-up at an unchanged timestep (run 0 after
  // displace_atoms or change_box, a minimization): the list would index atoms that have
  // moved or migrated.  after_init is set by the compute's init() (each run's set-up) and
  // forces the first build after it; it is cleared here.
  void build_current(LAMMPS *lmp, NeighList *list, bool &after_init);

  // Ask for a full neighbour list with a cutoff of its own, rebuilt at every re-neighboring:
  // always current, and cheap for short cutoffs (bond switching at 2.25 Å); long-cutoff
  // computes use an occasional list with build_current() instead.
  void request_full_perpetual(LAMMPS *lmp, Compute *compute, double cutoff);

  // Stop with an error naming comm_modify cutoff when the ghost atoms cannot reach
  // cutoff + neighbor skin, the extent of such a list.  Call it from init().
  void check_ghost_range(LAMMPS *lmp, const std::string &style, double cutoff);

}    // namespace pysoft_neigh
}    // namespace LAMMPS_NS

#endif
