/* -*- c++ -*- ----------------------------------------------------------
   pysoft: argument and file handling shared by the plugin's styles
------------------------------------------------------------------------- */

#ifndef PYSOFT_PLUGIN_IO_H
#define PYSOFT_PLUGIN_IO_H

#include "pointers.h"
#include "structure_spec.h"

#include <string>
#include <vector>

namespace LAMMPS_NS {
class Compute;
class NeighList;
namespace pysoft_io {

  // Read a whole text file on rank 0 and broadcast it.  A bare name that is not a file, such
  // as "default", is looked up among the specs shipped with pysoft (pysoft/data/spec_NAME.json
  // beside the plugin).  Errors name the style and what the file is for.
  std::string read_file(LAMMPS *lmp, const std::string &style, const std::string &what,
                        const std::string &path);

  // Map the element names arg[0..ntypes) (one per atom type, or NULL) to species indices of
  // the spec, -1 for NULL.  Index 0 of the result is unused (types count from 1).
  std::vector<int> map_elements(LAMMPS *lmp, const std::string &style,
                                const pysoft::StructureSpec &spec, int narg, char **arg);

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

  // The directory of pysoft's shipped data files (pysoft/data), found from the plugin's path.
  std::string data_dir();

}    // namespace pysoft_io
}    // namespace LAMMPS_NS

#endif
