/* -*- c++ -*- ----------------------------------------------------------
   pysoft: compute structure/atom
   Per-atom radial and angular structure functions (Cubuk et al. 2015;
   Du et al. 2021) evaluated from a full neighbour list inside the run.
------------------------------------------------------------------------- */

#ifndef LMP_COMPUTE_STRUCTURE_ATOM_H
#define LMP_COMPUTE_STRUCTURE_ATOM_H

#include "compute.h"
#include "cell_search.h"

#include <memory>
#include <string>
#include <vector>

namespace pysoft {
class StructureFunctions;
struct StructureSpec;
}

namespace LAMMPS_NS {

// Shared by compute structure/atom and compute softness: finds each centre's neighbours among
// the owned and ghost atoms (pysoft::CellSearch, no LAMMPS neighbour list) and turns them into
// a feature row.  It takes the spec already parsed (from the spec file, or from the model file
// of compute softness), so that no spec text is read twice.
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
  // bin the current owned and ghost atoms; once per invocation, before evaluate().  Stops with
  // an error when the compute runs before the first run (no ghost atoms yet) or an atom has
  // a non-finite coordinate.
  void prepare(class LAMMPS *, bool after_first_run);
  // the owned and ghost atoms in bin order, for visiting centres with the cache warm
  const std::vector<int> &order() const { return cells_.order(); }
  // features of owned atom i into row (ncols values)
  void evaluate(int i, double *row);
  // bytes held by the neighbour search and its buffers
  double memory_usage() const;

 private:
  std::string style_;
  std::unique_ptr<pysoft::StructureFunctions> sf_;
  std::vector<int> type2species_;
  pysoft::CellSearch cells_;
  std::vector<int> atom_species_;    // species of each owned and ghost atom, -1 if not mapped
  std::vector<double> disp_;
  std::vector<int> nbsp_;
};

class ComputeStructureAtom : public Compute {
 public:
  ComputeStructureAtom(class LAMMPS *, int, char **);
  ~ComputeStructureAtom() override;
  void init() override;
  void compute_peratom() override;
  double memory_usage() override;

 private:
  int nmax;
  double **features;
  bool after_first_run;    // init() has run: ghost atoms exist
  std::unique_ptr<StructureEvaluator> eval;
};

}    // namespace LAMMPS_NS

#endif
