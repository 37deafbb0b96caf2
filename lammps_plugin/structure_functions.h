/* -*- c++ -*- ----------------------------------------------------------
   pysoft: per-atom structure functions (radial and angular symmetry
   functions of Behler-Parrinello / Cubuk et al. form, no cutoff function).
   Plain C++, no LAMMPS types: the compute feeds it neighbour vectors.
------------------------------------------------------------------------- */

#ifndef PYSOFT_STRUCTURE_FUNCTIONS_H
#define PYSOFT_STRUCTURE_FUNCTIONS_H

#include "structure_spec.h"

#include <vector>

namespace pysoft {

class StructureFunctions {
 public:
  explicit StructureFunctions(const StructureSpec &spec);

  const StructureSpec &spec() const { return spec_; }
  int ncols() const { return spec_.ncols(); }

  // Features of one centre atom i.  d holds the n displacement vectors x_j - x_i (3 per
  // neighbour, any order, periodic images as separate neighbours), sp their species indices
  // (0 <= sp < nspecies).  Neighbours beyond the spec's cutoffs are ignored.  out receives
  // ncols() values and is overwritten.
  void evaluate(int n, const double *d, const int *sp, double *out);

 private:
  StructureSpec spec_;
  double inv_L2_, ratio_decay_;    // 1/L^2 and exp(-2 step^2 / L^2)
  double radial_cutsq_, angular_cutsq_;
  std::vector<double> inv_xi2_;    // distinct 1/xi^2
  std::vector<int> param_xi_;      // param -> index into inv_xi2_
  std::vector<int> param_izeta_;   // integral zeta (or -1): repeated squaring beats pow()

  // neighbours inside the angular cutoff of the current centre
  std::vector<double> ax_, ay_, az_, ar_, ar2_;
  std::vector<int> asp_;
  std::vector<double> expo_;

  void add_radial(double r, double *block) const;
  void add_angular(double *out);
};

}    // namespace pysoft

#endif
