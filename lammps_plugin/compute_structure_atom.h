/* -*- c++ -*- ----------------------------------------------------------
   pysoft: compute structure/atom
   Per-atom radial and angular structure functions (Cubuk et al. 2015;
   Du et al. 2021) evaluated from a full neighbour list inside the run.
------------------------------------------------------------------------- */

#ifndef LMP_COMPUTE_STRUCTURE_ATOM_H
#define LMP_COMPUTE_STRUCTURE_ATOM_H

#include "compute.h"

#include <memory>
#include <string>
#include <vector>

namespace pysoft {
class StructureFunctions;
struct StructureSpec;
}

namespace LAMMPS_NS {

// Shared by compute structure/atom and compute softness: the neighbour loop that turns a full
// neighbour list into per-atom feature rows.  It takes the spec already parsed (from the spec
// file, or from the model file of compute softness), so that no spec text is read twice.
class StructureEvaluator {
 public:
  StructureEvaluator(class LAMMPS *, const std::string &style, const pysoft::StructureSpec &spec,
                     int nelem, char **elem);
  ~StructureEvaluator();

  int ncols() const;
  double cutoff() const;
  const pysoft::StructureSpec &spec() const;
  // stop with an error naming comm_modify cutoff when the ghost atoms cannot cover the cutoff
  void check_ghost_range(class LAMMPS *) const;
  // features of local atom i, from the full neighbour list, into row (ncols values)
  void evaluate(class LAMMPS *, class NeighList *, int i, double *row);

 private:
  std::string style_;
  std::unique_ptr<pysoft::StructureFunctions> sf_;
  std::vector<int> type2species_;
  std::vector<double> disp_;
  std::vector<int> nbsp_;
};

class ComputeStructureAtom : public Compute {
 public:
  ComputeStructureAtom(class LAMMPS *, int, char **);
  ~ComputeStructureAtom() override;
  void init() override;
  void init_list(int, class NeighList *) override;
  void compute_peratom() override;
  double memory_usage() override;

 private:
  int nmax;
  double **features;
  class NeighList *list;
  bool list_after_init;    // the list must be rebuilt at the next invocation
  std::unique_ptr<StructureEvaluator> eval;
};

}    // namespace LAMMPS_NS

#endif
